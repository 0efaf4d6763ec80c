"""Retro-hunt speed: the whole Sigma snapshot over stored events, in events/s.

    python bench/retrohunt.py                      # the snapshot, the LSASS campaign, SQLite
    python bench/retrohunt.py --store opensearch   # the same on the local OpenSearch
    python bench/retrohunt.py --events 20000 --batch 2000 --cpus 2

Loads every rule of ../shared/sigma as bench/detect.py does (whatever compiles, with
the detector's default pipelines, through a rule cache), stores the recorded events of
the OTRF LSASS campaign (normalized as at ingest) in a fresh store (not timed; SQLite,
or an index prefix of its own on OpenSearch, deleted afterwards),
then times :func:`soc.hunt.retro.retro_hunt` over them as a preview: the store's
``scan_events`` (read and decode) and ``Engine.match`` with ``make_alert`` for each
match, and the alerts' ``get_alerts`` look-up, pinned to one CPU (``--cpus 2``: the
store's reading thread overlaps matching, as in the service). Prints lines for
people, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from detect import SNAPSHOT, load, recorded_lines, to_event  # noqa: E402
from opensearchpy import AsyncOpenSearch  # noqa: E402

from soc.detect.engine import Engine  # noqa: E402
from soc.hunt.retro import HuntScope, retro_hunt  # noqa: E402
from soc.ingest.normalize import known_logsources  # noqa: E402
from soc.settings import (  # noqa: E402
    DetectSettings,
    OpenSearchSettings,
    SqliteSettings,
    StoreSettings,
)
from soc.store import build_store  # noqa: E402


def store_settings(kind: str, db: Path, opensearch: str) -> StoreSettings:
    """A fresh SQLite file, or an index prefix of its own on the OpenSearch at ``opensearch``."""
    if kind == "sqlite":
        return StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=db))
    prefix = f"bench-hunt-{os.getpid()}"
    return StoreSettings(
        kind="opensearch",
        opensearch=OpenSearchSettings(
            hosts=[opensearch], index_prefix=prefix, refresh_on_write=True
        ),
    )


async def hunt(
    settings: StoreSettings, engine: Engine, lines: list[bytes], batch: int
) -> dict[str, float]:
    store = build_store(settings)
    await store.start()
    try:
        events = [to_event(line) for line in lines]
        for i in range(0, len(events), 2000):
            await store.put_events(events[i : i + 2000])
        scope = HuntScope(
            tenants=["bench"],
            since=min(e.time for e in events),
            until=max(e.time for e in events) + timedelta(seconds=1),
        )
        started = time.perf_counter()
        progress = await retro_hunt(
            store, None, engine, scope, hunt_id="bench", raise_alerts=False, batch=batch
        )
        seconds = time.perf_counter() - started
        stored = len({e.id for e in events})  # a record repeated in the recording is one event
        assert progress.scanned == stored, (progress.scanned, stored)
        return {"events": progress.scanned, "matches": progress.matches, "seconds": seconds}
    finally:
        await store.stop()
        if settings.kind == "opensearch":
            client = AsyncOpenSearch(hosts=settings.opensearch.hosts)
            prefix = settings.opensearch.index_prefix
            await client.indices.delete(index=f"{prefix}-*")
            await client.indices.delete_index_template(name=f"{prefix}-*")
            await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, nargs="+", default=SNAPSHOT)
    parser.add_argument(
        "--pipelines", nargs="*", default=[str(p) for p in DetectSettings().pipelines]
    )
    parser.add_argument("--events", type=int, default=None, help="default: all of them")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--store", choices=["sqlite", "opensearch"], default="sqlite")
    parser.add_argument(
        "--opensearch",
        default=f"http://127.0.0.1:{os.environ.get('SOC_LOCAL_OPENSEARCH_PORT', '19200')}",
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=1,
        help="CPUs to pin to (default 1; 2 lets the store's reading thread overlap matching)",
    )
    args = parser.parse_args()
    cpus = set(sorted(os.sched_getaffinity(0))[: args.cpus])
    os.sched_setaffinity(0, cpus)
    with tempfile.TemporaryDirectory() as tmp:
        _, _, ruleset = load(args.rules, Path(tmp) / "cache", args.pipelines)
        engine = Engine.from_ruleset(ruleset)
        engine.prepare(known_logsources())
        lines = recorded_lines(args.events)
        settings = store_settings(args.store, Path(tmp) / "soc.db", args.opensearch)
        result = asyncio.run(hunt(settings, engine, lines, args.batch))
    rate = result["events"] / result["seconds"]
    print(f"rules: {len(ruleset.rules):,} loaded, {len(ruleset.errors):,} refused")
    print(
        f"retro-hunt on {args.store}: {result['events']:,} events, {result['matches']:,} matches "
        f"in {result['seconds']:.2f} s: {rate:,.0f} events/s ({len(cpus)} CPU, batch {args.batch})"
    )
    print(
        json.dumps(
            {
                "rules": len(ruleset.rules),
                "events": result["events"],
                "matches": result["matches"],
                "seconds": round(result["seconds"], 3),
                "store": args.store,
                "events_per_s": round(rate),
                "batch": args.batch,
                "cpus": len(cpus),
            }
        )
    )


if __name__ == "__main__":
    main()
