"""The SQLite store's event path: writes with every event indexed, the size on disk, scans.

    python bench/sqlite_events.py                       # the recording 8 times, 2,000 a batch
    python bench/sqlite_events.py --copies 40 --batch 500

Stores the bundled OTRF recording (soc/sample/otrf_lsass_slice.ndjson.gz, normalized
as at ingest) ``--copies`` times under new ids through ``Store.put_events``, then
reads it back with ``Store.scan_events`` (the retro-hunt's read: SQL, JSON decode
into ``Event``), without a query, with a common field term and with a word every
event holds, and expires half of it. Prints events/s of each and bytes on disk per
event, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from soc.ingest.normalize import normalize
from soc.models import Event, Origin
from soc.settings import RetentionSettings, SqliteSettings, StoreSettings
from soc.store import build_store
from soc.store.eventquery import EventQuery, parse

NOW = datetime(2026, 6, 10, tzinfo=UTC)


def recording() -> list[Event]:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    received = datetime(2023, 8, 15, 10, 5, tzinfo=UTC)
    return [
        normalize(
            json.loads(line),
            tenant="bench",
            source="otrf-lsass",
            received=received,
            origin=Origin(connector="c1", source="otrf", stream="lsass", seq=seq),
        )
        for seq, line in enumerate(gzip.decompress(data).splitlines())
    ]


async def run(copies: int, batch: int) -> dict[str, Any]:
    path = Path(tempfile.mkdtemp(prefix="soc-bench-")) / "soc.db"
    settings = StoreSettings(
        kind="sqlite",
        sqlite=SqliteSettings(path=path),
        retention=RetentionSettings(events_days=1),
    )
    store = build_store(settings)
    await store.start()
    base = recording()
    events = [
        e.model_copy(update={"id": f"{e.id}-{k}", "time": NOW - timedelta(days=2 if k % 2 else 0)})
        for k in range(copies)
        for e in base
    ]
    out: dict[str, Any] = {"events": len(events), "batch": batch}
    try:
        t = time.perf_counter()
        for i in range(0, len(events), batch):
            await store.put_events(events[i : i + batch])
        out["put_events_per_s"] = round(len(events) / (time.perf_counter() - t))
        await store.stop()  # the last connection closed: the WAL is checkpointed into the file
        out["bytes_per_event"] = round(path.stat().st_size / len(events))
        await store.start()
        for name, text in [("all", None), ("field", "EventID:10"), ("word", "lsass")]:
            query = EventQuery(where=parse(text) if text else None)
            t = time.perf_counter()
            read = 0
            async for chunk in store.scan_events(query, batch=2000):
                read += len(chunk)
            out[f"scan_{name}_per_s"] = round(read / (time.perf_counter() - t))
        t = time.perf_counter()
        deleted = (await store.expire(NOW))["events"]
        out["expire_per_s"] = round(deleted / (time.perf_counter() - t))
    finally:
        await store.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    out = asyncio.run(run(args.copies, args.batch))
    for key, value in out.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
