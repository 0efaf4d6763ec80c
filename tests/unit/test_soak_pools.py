"""The soak's replayed lines (bench/soak/pools.py): each recorded log, re-stamped with the
current time, reads back through the connector's own parser as an event of now, on the
recorded machine's host (spread over the fleet), and a probe line raises an alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.soak.pools import access_pool, add_probes, auth_pool, windows_pool
from connectors.parse import Defaults, parse
from soc.detect.load import load_engine
from soc.detections import RULES
from soc.ingest.ndjson import parse_ndjson
from soc.models import Event, utcnow
from soc.settings import DetectSettings

NOW = datetime(2026, 12, 6, 7, 30, 15, tzinfo=UTC)


def _events(lines: list[bytes], fmt: str) -> list[Event]:
    d = Defaults(host="collector", tz=UTC, now=NOW)
    out = []
    for line in lines:
        env = parse(line, format=fmt, defaults=d)
        assert len(env) == 1  # one line, one event: what the ledger counts on
        parsed = parse_ndjson(
            env[0].model_dump_json(exclude_none=True).encode(),
            tenant="soak",
            source="test",
            received=NOW,
            max_line_bytes=1 << 20,
        )
        assert len(parsed.events) == 1, parsed.dead
        out.append(parsed.events[0])
    return out


def test_each_recording_reads_back_as_events_of_now(shared_dir: Path) -> None:
    del shared_dir  # the pools find shared/datasets beside the checkout themselves
    win = windows_pool("LSASS_campaign_06", limit=300, hosts=4)
    for pool, fmt in ((win, "windows-json"), (auth_pool(), "auth"), (access_pool(), "apache")):
        lines = pool.take(50, NOW)
        events = _events(lines, fmt)
        times = {e.time for e in events}
        assert all(abs(t - NOW) < timedelta(seconds=1) for t in times), (pool.name, times)
    hosts = {e.host for e in _events(win.take(40, NOW), "windows-json")}
    assert len(hosts) == 4 and all(h.endswith(".pandalab.com") for h in hosts)


def test_a_probe_raises_an_alert_on_its_own_host(shared_dir: Path) -> None:
    del shared_dir
    pool = windows_pool("LSASS_campaign_01", limit=3000, hosts=1)
    add_probes(pool, want=2)
    (event,) = _events([pool.probe("soakprobe-7", utcnow())], "windows-json")
    assert event.host == "soakprobe-7"
    engine = load_engine(DetectSettings(rules=[RULES], cache_dir=None))
    assert engine.match(event)
