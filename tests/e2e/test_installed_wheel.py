"""The built wheel, installed in a fresh venv, hunts and runs from a folder not the checkout.

What a user does: `pip install 'soc[server]'`, then `soc hunt` or `soc run` from
anywhere. The rules, pipelines, sample, Windows logsource map and web UI must
come from the installed package (docs/adr/0009-detections-ship-in-the-package.md);
only per-run state (`.soc/`) belongs to the working directory.

Slow (25-50 s here, most of it pip fetching the dependencies from the package
index; pip caches nothing here): marked `slow`, and run by `make test` and
`make test-unit` like every other test. Needs no Kafka or OpenSearch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, http_get

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OTRF_ZIP = (
    ROOT.parent
    / "shared/datasets/otrf/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"
)
SOURCES = ("pyproject.toml", "README.md", "soc", "connectors")
"""What the wheel is built from (what the Dockerfile copies)."""
BUNDLED_RULES = sorted((ROOT / "soc/detections/rules").rglob("*.yml"))
DETECTION_RULES = [p for p in BUNDLED_RULES if "\ncorrelation:" not in p.read_text()]
"""The files of detection rules (one each); the others hold correlation rules."""
LSASS_RULE = (
    ROOT / "soc/detections/rules/windows/builtin/security/win_security_susp_lsass_dump_generic.yml"
)
SUMMARY = re.compile(
    r"soc hunt: ([\d,]+) events from ([\d,]+) files \(([\d,]+) unreadable\); ([\d,]+) rules "
    r"loaded, ([\d,]+) failed to compile; ([\d,]+) matches"
)


@dataclass(frozen=True)
class Installed:
    venv: Path
    site_packages: Path
    env: dict[str, str]
    """The children's environment: the venv first on PATH, nothing pointing at the checkout."""

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _clean_env() -> dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SOC_")}


def _step(what: str, args: list[str], env: dict[str, str]) -> None:
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, f"{what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"{what}: {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel from a copy of the sources, install it with [server] into a fresh venv."""
    base = tmp_path_factory.mktemp("wheel")
    src, dist, venv = base / "src", base / "dist", base / "venv"
    # A copy, so no build/ or egg-info of an earlier build in the checkout leaks in or is left.
    src.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".soc")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=junk)
        else:
            shutil.copy2(ROOT / name, src / name)
    env = _clean_env()
    pip = [sys.executable, "-m", "pip"]
    _step("build the wheel", [*pip, "wheel", "--no-deps", "-q", "-w", str(dist), str(src)], env=env)
    [wheel] = dist.glob("soc-*.whl")
    # Bare venv; this pip installs into it (pip --python), which spares ensurepip's ~4 s.
    _step("create the venv", [sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    python = str(venv / "bin" / "python")
    _step(
        "install the wheel with [server]",
        [*pip, "--python", python, "install", "-q", f"{wheel}[server]"],
        env=env,
    )
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    found = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return Installed(venv=venv, site_packages=Path(found.stdout.strip()), env=env)


def _in_venv(installed: Installed, code: str, cwd: Path) -> str:
    done = subprocess.run(
        [installed.bin("python"), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env=installed.env,
    )
    return done.stdout.strip()


def test_the_package_is_imported_from_the_venv_not_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    out = _in_venv(
        installed,
        "import json, sys, soc, connectors, soc.detections as b; print(json.dumps("
        "[soc.__file__, connectors.__file__, str(b.RULES), str(b.PIPELINES), sys.path]))",
        cwd=tmp_path,
    )
    soc_file, connectors_file, rules, pipelines, path = json.loads(out)
    for p in (soc_file, connectors_file, rules, pipelines):
        assert Path(p).is_relative_to(installed.site_packages), p
    assert not [p for p in path if p and Path(p).resolve().is_relative_to(ROOT)], path
    package = installed.site_packages / "soc"
    shipped = sorted((package / "detections/rules").rglob("*.yml"))
    assert len(shipped) == len(BUNDLED_RULES) > 0
    for name in (
        "detections/LICENSE-DRL.md",
        "detections/pipelines/windows.yml",
        "detections/pipelines/placeholders.yml",
        "detections/samples/README.md",
        "ingest/windows_logsources.yml",
        "sample/otrf_lsass_slice.ndjson.gz",
        "api/ui/index.html",
        "py.typed",
    ):
        assert (package / name).is_file(), f"{name} is not in the installed package"


def test_soc_hunt_with_the_bundled_rules_from_a_temporary_folder(
    installed: Installed, tmp_path: Path
) -> None:
    work = tmp_path / "case-42"
    work.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [installed.bin("soc"), "hunt", str(OTRF_ZIP)],
        capture_output=True,
        text=True,
        cwd=work,
        env=installed.env,
        timeout=300,
    )
    print(f"soc hunt: {time.monotonic() - started:.1f} s; {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    found = SUMMARY.search(done.stderr)
    assert found, done.stderr[-3000:]
    events, _, unreadable, rules, failed, count = (int(g.replace(",", "")) for g in found.groups())
    assert (events, unreadable) == (53_698, 0)
    assert (rules, failed) == (len(DETECTION_RULES), 0), "every bundled rule loads"
    matches = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(matches) == count > 0
    titles = {m["rule_title"] for m in matches}
    assert "Potentially Suspicious AccessMask Requested From LSASS" in titles
    assert "Dumping of Sensitive Hives Via Reg.EXE" in titles
    # (The default pipelines, `windows` and `placeholders`, were found by name: a name
    # not found stops the hunt with exit status 2.) Per-run state is all that is written,
    # and it goes under the working directory.
    assert [p.name for p in work.iterdir()] == [".soc"]
    assert any((work / ".soc/rule-cache").rglob("*.json")), "the rule cache is under the cwd"

    # Paths the user gives are read from the working directory, as in the checkout.
    (work / "mine").mkdir()
    shutil.copy(LSASS_RULE, work / "mine")
    (work / "site.yml").write_text("vars:\n  dc_machine_accounts: ['DC1$']\n")
    pipeline_args = ["--pipeline", "windows", "--pipeline", "placeholders"]
    pipeline_args += ["--pipeline", "site.yml"]  # a file in the working directory
    done = subprocess.run(
        [installed.bin("soc"), "hunt", "--rules", "mine", *pipeline_args, str(OTRF_ZIP)],
        capture_output=True,
        text=True,
        cwd=work,
        env=installed.env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = SUMMARY.search(done.stderr)
    assert found and found.group(4) == "1", done.stderr[-3000:]
    mine = {json.loads(line)["rule_title"] for line in done.stdout.splitlines()}
    assert mine == {"Potentially Suspicious AccessMask Requested From LSASS"}


def test_soc_run_from_a_temporary_folder_serves_alerts_and_stops_cleanly(
    installed: Installed, tmp_path: Path
) -> None:
    work = tmp_path / "trial"
    work.mkdir()
    port = free_port()
    env = installed.env | {"SOC_ENV": "development", "SOC_SAMPLE__REPLAY_ON_START": "true"}
    log = tmp_path / "run.log"
    started = time.monotonic()
    proc = subprocess.Popen(
        [installed.bin("soc"), "run", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    token_file = work / ".soc/analyst.token"
    try:
        ready, alerts = False, []
        while time.monotonic() - started < 90 and proc.poll() is None:
            ready = ready or http_get(f"{base}/readyz")[0] == 200
            if ready and token_file.exists():
                status, body = http_get(
                    f"{base}/api/v1/alerts?limit=50", token_file.read_text().strip()
                )
                if status == 200 and (alerts := json.loads(body)["items"]):
                    break
            time.sleep(0.5)
        print(f"soc run: ready with {len(alerts)} alerts in {time.monotonic() - started:.1f} s")
        assert ready and alerts, f"not ready with alerts in 90 s; log:\n{log.read_text()[-3000:]}"
        status, body = http_get(f"{base}/readyz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        bundled_ids = {
            m.group(1)
            for p in BUNDLED_RULES
            if (m := re.search(r"^id: *(\S+)", p.read_text(encoding="utf-8"), re.MULTILINE))
        }
        assert {a["rule_id"] for a in alerts} <= bundled_ids
        status, page = http_get(f"{base}/ui/")
        assert status == 200 and b"<html" in page.lower(), "the web UI is served from the package"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn shuts down gracefully, then re-raises SIGTERM as its exit status.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert '"msg": "service stopped"' in log.read_text()
    assert "Traceback" not in log.read_text()
    assert sorted(p.name for p in work.iterdir()) == [".soc"]
    assert (work / ".soc/soc.db").is_file(), "the store's default path is under the cwd"
