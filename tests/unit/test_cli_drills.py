"""`soc drill`: a lead runs a drill from the command line on the embedded default.

The CLI records the drill; the service (`soc run`'s stages, here in-process on the same
SQLite file) replays it; the CLI follows it, reports the scorecard as text, JSON and the
printable HTML, and ends it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.app import Service
from soc.cli import main
from soc.drills.book import DrillBook
from soc.drills.models import DrillState
from soc.settings import Settings


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_STORE__KIND", "sqlite")
    monkeypatch.setenv("SOC_STORE__SQLITE__PATH", str(tmp_path / "soc.db"))
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SOC_DRILLS__POLL_S", "0.2")
    monkeypatch.chdir(tmp_path)


def soc(*args: str) -> tuple[int, str]:
    """Exit code and standard output (with standard error after it)."""
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, done.stdout + done.stderr


def soc_out(*args: str) -> str:
    """Standard output alone (the logs go to standard error); the command must succeed."""
    done = CliRunner().invoke(main, list(args))
    assert done.exit_code == 0, done.stdout + done.stderr
    return done.stdout


async def serve_until_replayed(drill_id: str) -> None:
    """The service's stages on the same store, until the drill is replayed and grouped."""
    service = Service(Settings(), workers=True)
    await service.start()
    try:
        book = DrillBook(service.store)
        for _ in range(600):
            drill = await book.get(drill_id)
            if drill.state is DrillState.replayed:
                await asyncio.sleep(3)  # detection and grouping of the last events
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the drill was not replayed")
    finally:
        await service.stop()


def test_a_lead_runs_a_drill_from_the_command_line() -> None:
    code, out = soc("drill", "scenarios")
    assert code == 0
    assert {"lsass-credential-dump", "ssh-brute-force", "web-portal-attack"} <= {
        line.split("\t")[0] for line in out.splitlines()
    }
    code, out = soc("drill", "start", "web-portal-attack", "--speed", "1000", "--tenant", "hue-ioc")
    assert code == 0, out
    drill_id = out.strip().splitlines()[0]
    code, out = soc("drill", "list")
    assert code == 0 and f"{drill_id}\tweb-portal-attack\tpending\thue-ioc" in out
    code, out = soc("drill", "pause", drill_id)
    assert code == 2 and "is pending; it cannot be paused" in out

    asyncio.run(serve_until_replayed(drill_id))

    status = json.loads(soc_out("drill", "status", drill_id))
    assert status["state"] == "replayed" and status["steps"][0]["sent"] == 19
    card = json.loads(soc_out("drill", "report", drill_id, "--format", "json"))
    [r] = card["steps"][0]["detections"]
    assert r["outcome"] == "met" and r["rule"] == "3046d2bb-2aaf-4744-a0e0-01b7c0665a29"
    assert card["unit_correct"] is None  # nobody handed it off yet
    code, out = soc("drill", "report", drill_id)
    assert code == 0 and "met      Probe For FCKeditor" in out

    assert soc_out("drill", "end", drill_id).strip() == f"{drill_id}: ended"
    out = soc_out("drill", "report", drill_id, "--format", "html", "--lang", "vi")
    assert out.startswith("<!doctype html>")
    assert "BÁO CÁO KẾT QUẢ DIỄN TẬP" in out and "@page { size: A4" in out
    assert "Không có" in out  # no hand-off, no noise
    code, out = soc("drill", "end", drill_id)
    assert code == 2 and "is ended" in out


def test_check_reports_a_scenarios_mistakes_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yml"
    bad.write_text("id: Bad Id\ntitle: x\nsteps: []\nresponse: {unit: PA05}\n")
    code, out = soc("drill", "check", str(bad))
    assert code == 1
    assert f"{bad}:1: id: String should match pattern" in out
    assert f"{bad}:3: steps: List should have at least 1 item" in out
    code, out = soc("drill", "start", "no-such-scenario")
    assert code == 2 and "no scenario 'no-such-scenario'" in out
