"""sigma-cli's own checks over the project's rules (offline validators only)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# These validators download data, which an air-gapped SOC (and CI) cannot.
OFFLINE = ["-x", "attacktag", "-x", "d3_fendtag", "-x", "namespace_tag"]


def test_sigma_check_finds_no_rule_or_condition_error() -> None:
    sigma = Path(sys.executable).with_name("sigma")
    done = subprocess.run(
        [str(sigma), "check", *OFFLINE, "--fail-on-error", str(ROOT / "soc/detections/rules")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Found 0 errors, 0 condition errors" in done.stdout
