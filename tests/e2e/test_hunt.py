"""`soc hunt` on EVTX, NDJSON and zip input, and its matches against the streaming detector's."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from soc.bus import Topic, build_bus
from soc.bus.codec import encode
from soc.detect.load import load_engine
from soc.ingest.ndjson import parse_ndjson
from soc.models import AlertQuery, utcnow
from soc.settings import BusSettings, DetectSettings, Settings, SqliteSettings
from soc.stages.detect import Detector
from soc.store.sqlite import SqliteStore
from tests.e2e.harness import sample_lines

ROOT = Path(__file__).resolve().parents[2]
SIGMA = ROOT.parent / "shared" / "sigma"
OTRF_ZIP = (
    ROOT.parent
    / "shared/datasets/otrf/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"
)
# A Defender event whose field names have spaces: it fires only through the windows pipeline.
REDSUN = "a7c3e5f2-8b1d-4e9a-b6c2-3d7f5e8a9b4c"
REDSUN_DIR = (
    SIGMA
    / "regression_data/rules-emerging-threats/2026/Exploits/RedSun"
    / "win_defender_exploit_redsun_tiering_engine_detected_as_eicar"
)
REDSUN_RULE = (
    SIGMA
    / "rules-emerging-threats/2026/Exploits/RedSun"
    / "win_defender_exploit_redsun_tiering_engine_detected_as_eicar.yml"
)
CURATED = ROOT / "soc/detections/rules"
SUMMARY = re.compile(
    r"soc hunt: ([\d,]+) events from ([\d,]+) files \(([\d,]+) unreadable\); ([\d,]+) rules "
    r"loaded, ([\d,]+) failed to compile; ([\d,]+) matches; "
    r"(?:[\d,]+ correlation matches of [\d,]+ correlation rules; )?([\d.]+) s"
)


CACHE: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _rule_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The hunts' rule cache, away from the checkout's .soc/."""
    CACHE[:] = [tmp_path_factory.mktemp("rule-cache")]


def soc_hunt(*args: str | Path) -> tuple[int, list[dict[str, Any]], dict[str, float]]:
    """Run `soc hunt` as a user would (not a terminal: no progress bar)."""
    done = subprocess.run(
        [sys.executable, "-m", "soc.cli", "hunt", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "SOC_DETECT__CACHE_DIR": str(CACHE[0])},
    )
    matches = [json.loads(line) for line in done.stdout.splitlines()]
    found = SUMMARY.search(done.stderr)
    assert found, done.stderr
    keys = ("events", "files", "unreadable", "rules", "failed", "matches", "seconds")
    summary = {k: float(v.replace(",", "")) for k, v in zip(keys, found.groups(), strict=True)}
    assert summary["matches"] == len(matches)
    return done.returncode, matches, summary


def test_hunt_reads_an_evtx_file_and_applies_the_pipelines() -> None:
    evtx = next(REDSUN_DIR.glob("*.evtx"))
    rc, matches, summary = soc_hunt("--rules", REDSUN_RULE, evtx)
    assert rc == 0
    assert summary["events"] == 1 and summary["rules"] == 1 and summary["failed"] == 0
    [match] = matches
    assert match["rule_id"] == REDSUN
    assert match["rule_title"].startswith("RedSun")
    assert match["level"] in {"high", "critical"}
    assert "attack.t1036.005" in match["tags"]
    assert match["host"] == "swachchhanda"
    assert match["source"] == str(evtx)
    assert match["time"].startswith("2026-04-17T")
    assert match["logsource"] == {"product": "windows", "category": None, "service": "windefend"}
    # Without the windows pipeline, "Source Name" is not SourceName: nothing fires.
    rc, matches, _ = soc_hunt("--rules", REDSUN_RULE, "--pipeline", "placeholders", evtx)
    assert (rc, matches) == (0, [])


def test_hunt_reads_ndjson_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "slice.ndjson"
    path.write_bytes(b"\n".join([*sample_lines(), b"not json", b"[1]"]) + b"\n")
    rc, matches, summary = soc_hunt(path)
    assert rc == 1, "an unreadable record makes the exit status 1"
    assert summary["events"] == 2430 and summary["unreadable"] == 2
    fired = {m["rule_id"] for m in matches}
    detections = [p for p in CURATED.rglob("*.yml") if "\ncorrelation:" not in p.read_text()]
    # the base of the failed-logon correlation (4625): the slice holds no 4625
    windows = [p for p in detections if "windows" in p.parts and "failed_logon" not in p.name]
    assert summary["rules"] == len(detections)
    assert len(fired) == len(windows) == 11, "every curated Windows rule fires on the slice"
    assert {m["source"] for m in matches} == {str(path)}


def test_hunt_reads_a_zip_of_evtx_and_gzip_members(tmp_path: Path) -> None:
    archive = tmp_path / "case.zip"
    evtx = next(REDSUN_DIR.glob("*.evtx"))
    with zipfile.ZipFile(archive, "w") as z:
        z.write(evtx, "host1/defender.evtx")
        z.writestr("host2/notes.txt", "passed over")
        z.writestr("host2/events.json", json.dumps([json.loads(sample_lines()[0])]))
    rc, matches, summary = soc_hunt("--rules", REDSUN_RULE, archive)
    assert rc == 0 and summary["events"] == 2
    assert [(m["rule_id"], m["source"]) for m in matches] == [
        (REDSUN, f"{archive}!host1/defender.evtx")
    ]


def test_hunt_on_the_whole_recorded_campaign_zip() -> None:
    started = time.monotonic()
    rc, matches, summary = soc_hunt(OTRF_ZIP)
    took = time.monotonic() - started
    assert rc == 0
    assert summary["events"] == 53_698 and summary["unreadable"] == 0
    member = f"{OTRF_ZIP}!metasploit_logonpasswords_lsass_memory_dump.json"
    assert {m["source"] for m in matches} == {member}
    titles = {m["rule_title"] for m in matches}
    assert "Potentially Suspicious AccessMask Requested From LSASS" in titles
    assert "Dumping of Sensitive Hives Via Reg.EXE" in titles
    assert took < 120, f"53,698 events took {took:.0f} s"


async def test_hunt_matches_equal_the_streaming_detectors(tmp_path: Path) -> None:
    """The same records, through `soc hunt` and through ingest -> bus -> Detector -> store."""
    redsun = json.loads(next(REDSUN_DIR.glob("*.json")).read_text(encoding="utf-8"))
    evtx_json = [json.dumps(redsun).encode()]  # the evtx_dump shape, as one NDJSON line
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join([*sample_lines(), *evtx_json]) + b"\n")
    rc, matches, summary = soc_hunt("--rules", CURATED, "--rules", REDSUN_RULE, path)
    assert rc == 0 and summary["events"] == 2431
    hunted = {(m["rule_id"], m["event_id"]) for m in matches}
    assert REDSUN in {rule for rule, _ in hunted}

    settings = Settings(
        env="development",
        detect={"rules": [str(CURATED), str(REDSUN_RULE)], "cache_dir": None},
    )
    engine = load_engine(settings.detect)
    parsed = parse_ndjson(
        path.read_bytes(),
        tenant="hunt",
        source=str(path),
        received=utcnow(),
        max_line_bytes=1 << 22,
    )
    assert parsed.dead == []
    bus = build_bus(BusSettings())
    store = SqliteStore(SqliteSettings(path=tmp_path / "soc.db"))
    await bus.start()
    await store.start()
    detector = Detector(engine=engine, bus=bus, store=store, settings=DetectSettings())
    task = asyncio.create_task(detector.run())
    try:
        await bus.publish(Topic.events, encode(parsed.events))
        deadline = time.monotonic() + 30
        streamed: set[tuple[str, str]] = set()
        while streamed != hunted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            page = await store.search_alerts(AlertQuery(limit=500))
            streamed = {(a.rule_id, a.event_id) for a in page.items}
    finally:
        detector.stop()
        await task
        await store.stop()
        await bus.stop()
    assert streamed == hunted
    assert {m["alert_id"] for m in matches} == {a.id for a in page.items}
