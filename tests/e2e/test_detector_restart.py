"""On Kafka, a detector killed mid-stream and restarted misses no alert and adds none."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from soc.bus import Topic, build_bus
from soc.bus.codec import encode
from soc.detect.engine import Engine
from soc.detect.rules import load_rules
from soc.ingest.ndjson import parse_ndjson
from soc.models import Alert, AlertQuery, Event, utcnow
from soc.settings import BusSettings, KafkaSettings, OpenSearchSettings, StoreSettings
from soc.store import build_store
from tests.e2e.harness import api_keys, free_port, sample_lines

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "detections/rules"
EXTRA_EVENTS = 8_000


def recorded_events(shared_dir: Path) -> list[Event]:
    """The bundled sample plus the campaign's first lines: real events, distinct ids."""
    path = next((shared_dir / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        head = [f.readline().rstrip(b"\n") for _ in range(EXTRA_EVENTS)]
    events = parse_ndjson(
        b"\n".join(head + sample_lines()),
        tenant="hue-ioc",
        source="replay",
        received=utcnow(),
        max_line_bytes=1 << 20,
    ).events
    unique = {e.id: e for e in events}
    return list(unique.values())


def processed(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return -1
    for line in text.splitlines():
        if line.startswith('soc_events_processed_total{stage="detect"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0


def start_detector(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "detect"],
        env={**env, "SOC_DETECT__METRICS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        cwd=ROOT,
    )


async def stored_alert_ids(store: object) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await store.search_alerts(AlertQuery(limit=500, cursor=cursor))  # type: ignore[attr-defined]
        ids += [a.id for a in page.items]
        cursor = page.next_cursor
        if not cursor:
            return ids


async def test_killed_detector_resumes_without_loss_or_duplicates(
    kafka_bootstrap: str, opensearch_url: str, unique_name: str, shared_dir: Path, tmp_path: Path
) -> None:
    events = recorded_events(shared_dir)
    engine = Engine(load_rules([RULES]).rules)
    expected = {Alert.make_id(rule_id=r.id, event_id=e.id) for e in events for r in engine.match(e)}
    assert expected

    bus = build_bus(
        BusSettings(
            kind="kafka",
            kafka=KafkaSettings(
                bootstrap_servers=kafka_bootstrap, topic_prefix=unique_name, partitions=3
            ),
        )
    )
    store = build_store(
        StoreSettings(
            kind="opensearch",
            opensearch=OpenSearchSettings(hosts=[opensearch_url], index_prefix=unique_name),
        )
    )
    await bus.start()
    await store.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
        "SOC_ENV": "production",
        "SOC_AUTH__SECRET_KEY": "test-secret-not-default",
        "SOC_AUTH__API_KEYS": json.dumps(api_keys()),
        "SOC_BUS__KIND": "kafka",
        "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SOC_BUS__KAFKA__TOPIC_PREFIX": unique_name,
        "SOC_BUS__KAFKA__PARTITIONS": "3",
        "SOC_STORE__KIND": "opensearch",
        "SOC_STORE__OPENSEARCH__HOSTS": json.dumps([opensearch_url]),
        "SOC_STORE__OPENSEARCH__INDEX_PREFIX": unique_name,
        "SOC_DETECT__RULES": json.dumps([str(RULES)]),
        "SOC_DETECT__BATCH_SIZE": "20",
        "SOC_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "detect.log"
    try:
        for i in range(0, len(events), 1000):
            await bus.publish(Topic.events, encode(events[i : i + 1000]))

        port = free_port()
        first = start_detector(env, port, log)
        deadline = time.monotonic() + 120
        seen = 0.0
        while time.monotonic() < deadline and first.poll() is None:
            seen = processed(port)
            if seen >= len(events) * 0.15:
                break
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert 0 < seen < len(events), f"kill must land mid-stream (processed {seen})"
        print(f"killed after {seen:.0f} of {len(events)} events; {len(expected)} alerts expected")

        second = start_detector(env, free_port(), log)
        try:
            deadline = time.monotonic() + 120
            ids: list[str] = []
            while time.monotonic() < deadline:
                ids = await stored_alert_ids(store)
                if len(ids) >= len(expected):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # anything late would be a duplicate or an extra
            ids = await stored_alert_ids(store)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        assert len(ids) == len(set(ids)), "an alert was stored twice"
        assert set(ids) == expected, (
            f"missing {len(expected - set(ids))}, extra {len(set(ids) - expected)}; "
            f"detector log:\n{log.read_text()[-3000:]}"
        )
    finally:
        await bus.stop()
        await store.stop()
