"""`soc detect` as real processes on Kafka and OpenSearch, fed recorded events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path

from soc.bus import Bus, Topic, build_bus
from soc.bus.codec import encode
from soc.detect.correlation.model import silent_ids
from soc.detect.load import load_engine
from soc.ingest.ndjson import parse_ndjson
from soc.models import Alert, AlertQuery, Event, utcnow
from soc.settings import BusSettings, KafkaSettings, OpenSearchSettings, StoreSettings
from soc.store import Store, build_store
from tests.e2e.harness import api_keys, free_port, sample_lines, service_settings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "soc/detections/rules"


def recorded_events(shared_dir: Path, extra: int) -> list[Event]:
    """The bundled sample plus the campaign's first ``extra`` lines: real events, distinct ids."""
    path = next((shared_dir / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        head = [f.readline().rstrip(b"\n") for _ in range(extra)]
    events = parse_ndjson(
        b"\n".join(head + sample_lines()),
        tenant="hue-ioc",
        source="replay",
        received=utcnow(),
        max_line_bytes=1 << 20,
    ).events
    return list({e.id: e for e in events}.values())


def metric(port: int, series: str) -> float:
    """A process's value of ``series`` (name and labels as /metrics writes them), 0 while
    it has none, or -1 while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return -1
    for line in text.splitlines():
        if line.startswith(f"{series} "):
            return float(line.rsplit(" ", 1)[1])
    return 0


def processed(port: int) -> float:
    """The detector's soc_events_processed_total, or -1 while it does not answer."""
    return metric(port, 'soc_events_processed_total{stage="detect"}')


@dataclass
class Rig:
    """A topic prefix and index prefix of its own, the recorded events and their alerts."""

    bus: Bus
    store: Store
    env: dict[str, str]
    events: list[Event]
    expected: set[str]
    log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    async def publish_events(self) -> None:
        for i in range(0, len(self.events), 1000):
            await self.bus.publish(Topic.events, encode(self.events[i : i + 1000]))

    def start_detector(self) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "soc.cli", "detect"],
            env={**self.env, "SOC_DETECT__METRICS_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            cwd=self.log.parent,  # its .soc/ (rule cache) in the test's folder, not the checkout
        )
        self.procs.append(proc)
        return proc, port

    def check_running(self, deadline: float) -> None:
        """Fail at once (with the log) if a detector exited or ``deadline`` has passed."""
        exited = [p.returncode for p in self.procs if p.poll() is not None]
        assert not exited, f"a detector exited ({exited}):\n{self.log.read_text()[-6000:]}"
        assert time.monotonic() < deadline, self.log.read_text()[-3000:]

    async def stored_alert_ids(self) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            page = await self.store.search_alerts(AlertQuery(limit=500, cursor=cursor))
            ids += [a.id for a in page.items]
            cursor = page.next_cursor
            if not cursor:
                return ids


async def kafka_rig(
    *,
    kafka: str,
    opensearch: str,
    prefix: str,
    shared_dir: Path,
    tmp: Path,
    extra_events: int,
    partitions: int = 3,
) -> AsyncGenerator[Rig, None]:
    events = recorded_events(shared_dir, extra_events)
    engine = load_engine(service_settings().detect)
    silent = silent_ids(engine.correlations)  # rules that feed correlations only (generate)
    expected = {
        Alert.make_id(rule_id=r.id, event_id=e.id)
        for e in events
        for r in engine.match(e)
        if r.id not in silent
    }
    bus = build_bus(
        BusSettings(
            kind="kafka",
            kafka=KafkaSettings(
                bootstrap_servers=kafka, topic_prefix=prefix, partitions=partitions
            ),
        )
    )
    store = build_store(
        StoreSettings(
            kind="opensearch",
            opensearch=OpenSearchSettings(hosts=[opensearch], index_prefix=prefix),
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
        "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka,
        "SOC_BUS__KAFKA__TOPIC_PREFIX": prefix,
        "SOC_BUS__KAFKA__PARTITIONS": str(partitions),
        "SOC_STORE__KIND": "opensearch",
        "SOC_STORE__OPENSEARCH__HOSTS": json.dumps([opensearch]),
        "SOC_STORE__OPENSEARCH__INDEX_PREFIX": prefix,
        "SOC_DETECT__RULES": json.dumps([str(RULES)]),
        "SOC_DETECT__BATCH_SIZE": "20",
        "SOC_DETECT__CACHE_DIR": str(tmp / "rule-cache"),
    }
    rig = Rig(
        bus=bus, store=store, env=env, events=events, expected=expected, log=tmp / "detect.log"
    )
    try:
        yield rig
    finally:
        for proc in rig.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        await bus.stop()
        await store.stop()
