"""Ingest-to-alert throughput: real recorded events over HTTP, until every one is detected.

    python bench/pipeline.py                                   # memory+sqlite (embedded)
    python bench/pipeline.py --pair kafka+opensearch           # after `make services-up`
    python bench/pipeline.py --events 53698 --batch-lines 2000

Prints events, seconds, events/s for ingest alone and ingest-to-alert, alerts,
and the process's peak memory. Everything runs in this one process (as `soc run`
does), so the figure is the whole pipeline on one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from soc.api.server import serving
from soc.metrics import ALERTS_RAISED, EVENTS_PROCESSED
from soc.settings import ApiKey, Settings

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01"
TOKEN = "bench-ingest-token"


def recorded_lines(n: int) -> list[bytes]:
    path = next(DATASET.glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        lines = []
        for line in f:
            lines.append(line.rstrip(b"\n"))
            if len(lines) >= n:
                break
    return lines


def settings_for(pair: str, args: argparse.Namespace, tmp: Path) -> Settings:
    bus, store = pair.split("+")
    prefix = f"bench{int(time.time())}"
    return Settings(
        env="production",
        log_level="WARNING",
        auth={
            "secret_key": "bench-secret-not-default",
            # measure the pipeline, not the per-key ingest limit
            "ingest_rate": {"enabled": False},
            "api_keys": [
                {
                    "name": "bench",
                    "sha256": ApiKey.hash(TOKEN),
                    "role": "ingest",
                    "tenants": ["bench"],
                }
            ],
        },
        bus={
            "kind": bus,
            "kafka": {"bootstrap_servers": args.kafka, "topic_prefix": prefix, "partitions": 3},
        },
        store={
            "kind": store,
            "sqlite": {"path": str(tmp / "bench.db")},
            "opensearch": {"hosts": [args.opensearch], "index_prefix": prefix},
        },
        detect={"rules": [str(p) for p in args.rules], "batch_size": 500},
        data_dir=str(tmp),
    )


def counter_total(counter: object) -> float:
    return sum(
        s.value
        for m in counter.collect()
        for s in m.samples  # type: ignore[attr-defined]
        if s.name.endswith("_total")
    )


async def run(pair: str, args: argparse.Namespace) -> dict[str, object]:
    lines = recorded_lines(args.events)
    bodies = [
        b"\n".join(lines[i : i + args.batch_lines]) for i in range(0, len(lines), args.batch_lines)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(pair, args, Path(tmp))
        async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=120) as c:
            processed0 = counter_total(EVENTS_PROCESSED)
            alerts0 = counter_total(ALERTS_RAISED)
            started = time.perf_counter()
            sem = asyncio.Semaphore(args.concurrency)

            async def post(body: bytes) -> int:
                async with sem:
                    r = await c.post(
                        "/api/v1/ingest", content=body, headers={"Authorization": f"Bearer {TOKEN}"}
                    )
                    r.raise_for_status()
                    return int(r.json()["accepted"])

            accepted = sum(await asyncio.gather(*(post(b) for b in bodies)))
            ingested = time.perf_counter() - started
            while counter_total(EVENTS_PROCESSED) - processed0 < accepted:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            total = time.perf_counter() - started
    return {
        "pair": pair,
        "events": accepted,
        "ingest_seconds": round(ingested, 2),
        "ingest_events_per_s": round(accepted / ingested),
        "ingest_to_alert_seconds": round(total, 2),
        "ingest_to_alert_events_per_s": round(accepted / total),
        "alerts": int(counter_total(ALERTS_RAISED) - alerts0),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pair", action="append", choices=["memory+sqlite", "kafka+opensearch"])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--batch-lines", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--rules", type=Path, action="append", default=None)
    p.add_argument("--kafka", default="127.0.0.1:19092")
    p.add_argument("--opensearch", default="http://127.0.0.1:19200")
    args = p.parse_args()
    args.rules = args.rules or [ROOT / "soc/detections/rules"]
    for pair in args.pair or ["memory+sqlite"]:
        print(json.dumps(asyncio.run(run(pair, args))), flush=True)


if __name__ == "__main__":
    main()
