"""`soc rules`: import a folder and a zip of SigmaHQ rules, list, show, enable and disable,
on a SQLite store of the test's own, the way an operator of an air-gapped site would."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.cli import main

SIGMA = "sigma/rules/windows/process_creation/"
DISCOVERY = "proc_creation_win_susp_local_system_owner_account_discovery.yml"
DISCOVERY_ID = "502b42de-4306-40b4-9596-6f590c81f073"
WHOAMI_ALL = "proc_creation_win_whoami_all_execution.yml"
WHOAMI_ALL_ID = "c248c896-e412-4279-8c15-1c558067b6fa"


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_STORE__KIND", "sqlite")
    monkeypatch.setenv("SOC_STORE__SQLITE__PATH", str(tmp_path / "soc.db"))
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def soc(*args: str) -> tuple[int, str]:
    """Exit code and standard output (with standard error after it)."""
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, done.stdout + done.stderr


def test_an_operator_imports_lists_shows_and_switches_rules(
    tmp_path: Path, shared_dir: Path
) -> None:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / DISCOVERY).write_bytes((shared_dir / SIGMA / DISCOVERY).read_bytes())
    code, out = soc("rules", "import", str(folder))
    assert code == 0, out
    assert f"accepted {DISCOVERY}: {DISCOVERY_ID} r1" in out

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr(f"rules/{WHOAMI_ALL}", (shared_dir / SIGMA / WHOAMI_ALL).read_text())
        z.writestr("rules/../../escape.yml", (shared_dir / SIGMA / WHOAMI_ALL).read_text())
    (tmp_path / "pack.zip").write_bytes(packed.getvalue())
    code, out = soc("rules", "import", str(tmp_path / "pack.zip"))
    assert code == 1, "a refused file fails the import"
    assert f"{WHOAMI_ALL_ID} r1" in out and "climbs out" in out

    code, out = soc("rules", "list", "--technique", "T1033")
    assert code == 0 and DISCOVERY_ID in out and WHOAMI_ALL_ID in out

    code, out = soc("rules", "disable", DISCOVERY_ID, "--tenant", "hue-ioc")
    assert code == 0 and "'hue-ioc': False" in out
    done = CliRunner().invoke(main, ["rules", "show", DISCOVERY_ID])
    shown = json.loads(done.stdout)
    assert shown["tenants"] == {"hue-ioc": False} and shown["enabled"] is True
    assert shown["versions"] == [1] and shown["origin"] == "uploaded"
    code, out = soc("rules", "disable", "no-such-rule")
    assert code == 1 and "no rule no-such-rule" in out
