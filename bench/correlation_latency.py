"""Event-to-correlation-alert latency on Kafka: detector and correlation stage, live events.

    python bench/correlation_latency.py                          # Kafka + OpenSearch
    python bench/correlation_latency.py --lateness 60 --idle-flush 30   # the defaults
    python bench/correlation_latency.py --store sqlite --rate 500 --tenants 3

The recorded auth.log (../shared/datasets/linux/auth.log) is replayed as a live stream:
``--rate`` events a second, each event's time and receipt the moment it is sent, for
``--tenants`` tenants at once (the same lines, interleaved). The detector
(soc.stages.detect) and the correlation stage (soc.stages.correlate) run in this process
on the Kafka bus, each in its own consumer group over the topics' 3 partitions, as
`soc detect` and `soc correlate` do: events topic -> detector -> matches topic ->
correlation stage -> store and alerts topic. The correlation counts the shipped SSH
failure rule's matches per source address (``gte: 5`` in 30 s, so a burst fires again and
again). The latency of a correlation alert is from the receipt of the event whose match
completed it (the alert's ``event_id``) to the alert's ``created``, set when the stage
makes it, just before it is stored; the stage's own histogram
(soc_correlation_alert_latency_seconds) measures to the store's answer and is printed beside.

By event time a match is final only once the watermark (the newest event time less
``detect.correlation.allowed_lateness_s``) passes it, or once its partition has been idle
for ``idle_flush_s``: those two settings, not the pipeline, set the latency of a live
stream; the bench takes them as options (defaults here: 0 s and 1 s, the lowest). Prints
a JSON line, then a summary on lines starting with ``#``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from connectors.parse import Defaults, parse
from soc.bus import Topic, build_bus
from soc.bus.codec import encode
from soc.detect.correlation.catalog import Correlations
from soc.detect.engine import Engine
from soc.detect.rules import load_rules
from soc.ingest.normalize import known_logsources, normalize
from soc.metrics import CORRELATION_ALERT_LATENCY
from soc.models import AlertQuery, Event, utcnow
from soc.settings import (
    BusSettings,
    CorrelateSettings,
    CorrelationSettings,
    DetectSettings,
    KafkaSettings,
    OpenSearchSettings,
    SqliteSettings,
    StoreSettings,
)
from soc.stages.correlate import Correlator
from soc.stages.detect import Detector
from soc.store import build_store

ROOT = Path(__file__).resolve().parents[1]
SSH_FAILURE = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"
CORRELATION = f"""title: Bench SSH failures per source address
id: 9d7e3f0a-54c1-4f43-a0a8-3c6f1e0b2d11
level: high
correlation:
    type: event_count
    rules:
        - {SSH_FAILURE}
    group-by:
        - src_ip
    timespan: 30s
    condition:
        gte: 5
"""


def records(shared: Path) -> list[Any]:
    data = (shared / "datasets/linux/auth.log").read_bytes()
    return list(parse(data, format="auth", defaults=Defaults(now=utcnow())))


def engine(folder: Path) -> Engine:
    (folder / "bench_correlation.yml").write_text(CORRELATION)
    ruleset = load_rules([ROOT / "soc/detections/rules/linux", folder])
    assert not ruleset.errors, ruleset.errors
    built = Engine.from_ruleset(ruleset)
    built.prepare(known_logsources())
    return built


def histogram_quantile(q: float) -> float | None:
    """The stage's own histogram's ``q`` quantile (the upper bound of its bucket)."""
    samples = [s for m in CORRELATION_ALERT_LATENCY.collect() for s in m.samples]
    buckets = sorted(
        (float(s.labels["le"]), s.value) for s in samples if s.name.endswith("_bucket")
    )
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    return next(bound for bound, count in buckets if count >= q * total)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    bus = build_bus(
        BusSettings(
            kind="kafka",
            kafka=KafkaSettings(bootstrap_servers=args.kafka, topic_prefix=prefix, partitions=3),
        )
    )
    tmp = Path(tempfile.mkdtemp(prefix="soc-corr-latency-"))
    store = build_store(
        StoreSettings(
            kind="opensearch",
            opensearch=OpenSearchSettings(hosts=[args.opensearch], index_prefix=prefix),
        )
        if args.store == "opensearch"
        else StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=tmp / "soc.db"))
    )
    built = engine(tmp)
    lines = records(args.shared)
    await bus.start()
    await store.start()
    detector = Detector(
        engine=built, bus=bus, store=store, settings=DetectSettings(group=f"{prefix}-detect")
    )
    correlation = CorrelationSettings(
        allowed_lateness_s=args.lateness, idle_flush_s=args.idle_flush
    )
    correlator = Correlator(
        catalog=Correlations(built.correlations),
        bus=bus,
        store=store,
        settings=CorrelateSettings(group=f"{prefix}-correlate"),
        correlation=correlation,
    )
    tasks = [asyncio.create_task(s.run()) for s in (detector, correlator)]
    received: dict[str, Any] = {}
    try:
        await asyncio.sleep(args.settle)  # consumer groups joined
        tick = 0.02
        per_tick = max(1, round(args.rate * tick))
        stream = [(t, r) for r in lines[: args.lines] for t in range(args.tenants)]
        started = time.monotonic()
        for i in range(0, len(stream), per_tick):
            now = utcnow()
            events: list[Event] = []
            for tenant, line in stream[i : i + per_tick]:
                event = normalize(
                    line.record,
                    tenant=f"bench-{tenant}",
                    source="auth.log",
                    received=now,
                    host=line.host,
                    time=now,
                    logsource=line.logsource,
                )
                received[event.id] = now
                events.append(event)
            await bus.publish(Topic.events, encode(events))
            behind = started + (i // per_tick + 1) * tick - time.monotonic()
            if behind > 0:
                await asyncio.sleep(behind)
        sent_s = time.monotonic() - started
        await asyncio.sleep(args.idle_flush + 3)  # the last windows flushed
        alerts = []
        cursor = None
        while True:
            page = await store.search_alerts(AlertQuery(limit=500, cursor=cursor))
            alerts += [a for a in page.items if a.correlation]
            cursor = page.next_cursor
            if not cursor:
                break
    finally:
        for stage in (detector, correlator):
            stage.stop()
        await asyncio.gather(*tasks)
        await bus.stop()
        await store.stop()
    latencies = sorted(
        (a.created - received[a.event_id]).total_seconds() for a in alerts if a.event_id in received
    )
    if not latencies:
        raise SystemExit("no correlation alert was raised")

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {
        "bench": "correlation_latency",
        "bus": "kafka",
        "store": args.store,
        "events": len(received),
        "rate": round(len(received) / sent_s),
        "tenants": args.tenants,
        "allowed_lateness_s": args.lateness,
        "idle_flush_s": args.idle_flush,
        "correlation_alerts": len(latencies),
        "p50_s": round(pct(0.50), 3),
        "p90_s": round(pct(0.90), 3),
        "p99_s": round(pct(0.99), 3),
        "max_s": round(latencies[-1], 3),
        "mean_s": round(statistics.fmean(latencies), 3),
        "stage_histogram_p99_le_s": histogram_quantile(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="127.0.0.1:19092")
    parser.add_argument("--opensearch", default="http://127.0.0.1:19200")
    parser.add_argument("--store", choices=["opensearch", "sqlite"], default="opensearch")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--rate", type=float, default=1000, help="events a second")
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--lines", type=int, default=7121, help="auth.log lines replayed")
    parser.add_argument("--lateness", type=float, default=0.0)
    parser.add_argument("--idle-flush", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result))
    print(
        f"# {result['events']} events at {result['rate']}/s, {result['correlation_alerts']}"
        f" correlation alerts; event-to-correlation-alert latency p50 {result['p50_s']} s,"
        f" p99 {result['p99_s']} s (lateness {args.lateness:g} s, idle flush"
        f" {args.idle_flush:g} s, {args.store})"
    )


if __name__ == "__main__":
    main()
