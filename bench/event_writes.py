"""Event writes and scans through the real OpenSearch store: events/s and bytes per event.

    python bench/event_writes.py                          # this tree's store
    PYTHONPATH=/path/to/older/tree python bench/event_writes.py --no-scan   # another's

Reads the recorded Windows events (the same as bench/event_mapping.py: the bundled
OTRF slice and the two OTRF campaigns, normalized as at ingest), writes them with
``Store.put_events`` (one process, ``--batch`` events a call, as the event sink
does), force-merges the indices (summing the live segments: the replaced ones stay counted
in the store size until a refresh) and prints the write rate and bytes per event on
disk; then times ``Store.scan_events`` over all of them (the retro-hunt's read).
The indices are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

from opensearchpy import AsyncOpenSearch

from soc.ingest.ndjson import object_event
from soc.ingest.readers import input_files, read_file
from soc.models import Event, utcnow
from soc.settings import OpenSearchSettings
from soc.store.eventquery import EventQuery
from soc.store.opensearch import OpenSearchStore

ROOT = Path(__file__).resolve().parents[1]
INPUTS = [
    ROOT / "soc/sample/otrf_lsass_slice.ndjson.gz",
    ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01",
    ROOT.parent / "shared/datasets/otrf/LSASS_campaign_06",
]


def events(limit: int | None) -> Iterator[Event]:
    """As bench/event_mapping.py reads them (not imported: this bench also runs against an
    older tree, whose schema module lacks what that one imports)."""
    received = utcnow()
    n = 0
    for path in input_files(INPUTS):
        for item in read_file(path):
            if item.record is None:
                continue
            yield object_event(item.record, tenant="bench", source=item.source, received=received)
            n += 1
            if limit is not None and n >= limit:
                return


async def run(args: argparse.Namespace) -> dict[str, object]:
    data = list(events(args.limit))
    settings = OpenSearchSettings(hosts=[args.url], index_prefix=args.prefix)
    store = OpenSearchStore(settings)
    client = AsyncOpenSearch(hosts=[args.url], timeout=600)
    await store.start()
    try:
        started = time.perf_counter()
        for i in range(0, len(data), args.batch):
            await store.put_events(data[i : i + args.batch])
        write_s = time.perf_counter() - started
        pattern = f"{args.prefix}-events-*"
        await client.indices.refresh(index=pattern)
        await client.indices.forcemerge(index=pattern, max_num_segments=1)
        await client.indices.refresh(index=pattern)
        segments = await client.cat.segments(
            index=pattern, format="json", bytes="b", h="docs.count,size"
        )
        docs = sum(int(s["docs.count"]) for s in segments)
        size = sum(int(s["size"]) for s in segments)
        result: dict[str, object] = {
            "events": len(data),
            "stored": docs,
            "write_events_per_s": round(len(data) / write_s),
            "bytes_per_event": round(size / max(docs, 1)),
        }
        if args.scan:
            started = time.perf_counter()
            seen = 0
            async for batch in store.scan_events(EventQuery(), batch=args.scan_batch):
                seen += len(batch)
            scan_s = time.perf_counter() - started
            result |= {"scanned": seen, "scan_events_per_s": round(seen / scan_s)}
        return result
    finally:
        await store.stop()
        if not args.keep:
            await client.indices.delete(index=f"{args.prefix}-*")
            await client.indices.delete_index_template(name=f"{args.prefix}-*")
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:19200")
    parser.add_argument("--prefix", default="bench-writes")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--scan-batch", type=int, default=5000)
    parser.add_argument("--no-scan", dest="scan", action="store_false")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
