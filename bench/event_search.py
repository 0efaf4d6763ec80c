"""Event search on a loaded store: load speed, bytes on disk per event, query latencies.

    python bench/event_search.py                                  # SQLite, 2,000,000 events
    python bench/event_search.py --store opensearch               # the local OpenSearch
    python bench/event_search.py --events 20000 --runs 10         # a quick look
    python bench/event_search.py --store opensearch --keep        # leave the data loaded...
    python bench/event_search.py --store opensearch --reuse       # ...and query it again
    python bench/event_search.py --store opensearch --drop        # then delete it

Loads at least ``--events`` events into a store through the store seam
(``Store.put_events``, ``--batch`` at a time, as the event sink writes), then
times searches through the seam as the API makes them. No event is invented:
they are the recorded Windows campaigns of ../shared/datasets/otrf
(LSASS_campaign_01 and _06, 111,794 events), replayed as many times as
needed. Each replay ("copy") of a campaign:

- is moved in time so its last event lands ``(copy number) x --days / copies``
  before now, its gaps kept (as ``soc.ingest.retime`` does), so the copies are
  spread over the last ``--days`` days and a one-day range holds a few of them,
  a seven-day range most;
- has its host renamed, ``MKT01.pandalab.com`` -> ``MKT01-c7.pandalab.com``
  (the record's fields that hold the host name, and so ``Event.host``);
- has an origin of its own (connector ``bench``, source ``otrf-01`` or
  ``otrf-06``, stream ``copy-<n>``, seq = line), so its events have ids of their
  own (``Event.make_id``); the event's source is ``bench:otrf-01`` (not the
  folder's name, whose word ``lsass`` would make every event a full-text hit).

Each line is turned into an event as ingest does it: an envelope
``{"record", "time", "origin"}`` through ``soc.ingest.ndjson.object_event``
(the envelope, then ``soc.ingest.normalize``). Building the events runs in a
thread beside the store's writes (``--writers`` calls of ``put_events`` in
flight at once, default 1); the load figure is events over the whole load, and
the store's own rate (over the time when a ``put_events`` was in flight) is
printed beside it.

Bytes on disk per event: SQLite, the database file and its WAL; OpenSearch,
the primaries' store size of ``<prefix>-events-*`` after a refresh and a
flush (no force-merge: as a live cluster holds them), and beside it the sum of
the live segments (``_cat/segments``; the store size still counts files of
segments merged away until they are deleted). Measured on 111,794
events: about 8.6 kB per event on SQLite and 3.1 kB on OpenSearch, so
2,000,000 events need about 18 GB and 7 GB free (the SQLite file goes to
``--sqlite-path``, by default .cache/bench-events/ in the checkout).

Then, after ``--warmup`` runs each, ``--runs`` runs of each query over the
latest day and over the latest seven days (anchored on the newest stored
event): p50 and p99 (nearest rank: with fewer than 100 runs, p99 is the
slowest run). Each run moves the range's end back by a random 0-5 s (to the
microsecond), so a repeated request never hits OpenSearch's request cache
(the recorded campaigns are bursty: what a range finds may still vary a
little from run to run). The queries, chosen
to hit the recorded data:

- field: ``EventID:1`` (Sysmon process creations) and ``host:<newest copy's host>``
  (first page of 50, newest first);
- wildcard: ``CommandLine:*powershell*`` (first page);
- word: ``lsass`` (full text, first page);
- stats: the top 10 values of ``EventID`` over every event of the range
  (``Store.event_stats``), and the histogram the explorer draws beside a
  search (``Store.event_histogram``, hourly buckets) for ``lsass``.

With ``--api`` the same queries are then timed through the HTTP API as the
event explorer calls it (GET /api/v1/events, /events/stats, /events/histogram
with its default of about 60 buckets), on a service started in this process
over the same store, as an analyst of the bench tenant.

Prints one JSON line for the load, one per query and range, then a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from soc import fastjson
from soc.api.server import serving
from soc.ingest.ndjson import object_event
from soc.ingest.normalize import recorded_time
from soc.models import Event, utcnow
from soc.settings import ApiKey, Settings, StoreSettings
from soc.store import Store, build_store
from soc.store.eventquery import EventQuery, parse

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared/datasets/otrf"
CAMPAIGNS = {"LSASS_campaign_01": "otrf-01", "LSASS_campaign_06": "otrf-06"}
"""Recorded campaign -> the name its copies' source and origin carry: not the folder's,
whose word ``lsass`` would make every event hit the full-text query for it."""
HOST_FIELDS = ("Hostname", "Computer")
"""Fields of these records that hold the host name (renamed in each copy)."""
ANALYST_TOKEN = "bench-analyst-token"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
COUNT_BUCKET_S = 1_000_000_000
"""A histogram bucket of ~31 years: the events' count in one or two buckets."""


# ------------------------------------------------------------------ the recorded data


@dataclass
class Campaign:
    name: str
    short: str
    lines: list[bytes]
    times: list[float | None]
    """Each line's recorded time (epoch seconds), None when it states none."""
    end: float
    """The latest recorded time."""


def read_campaign(name: str, short: str) -> Campaign:
    path = next((DATASETS / name).glob("*.zip"))
    lines: list[bytes] = []
    times: list[float | None] = []
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            lines.append(line)
            t = recorded_time(fastjson.loads(line))
            times.append(t.timestamp() if t is not None else None)
    known = [t for t in times if t is not None]
    return Campaign(name, short, lines, times, max(known))


def copy_host(host: str, copy: int) -> str:
    """``MKT01.pandalab.com`` -> ``MKT01-c7.pandalab.com``."""
    name, dot, domain = host.partition(".")
    return f"{name}-c{copy}{dot}{domain}"


def copy_events(
    campaign: Campaign, *, copy: int, end: float, tenant: str, received: datetime, batch: int
) -> Iterator[list[Event]]:
    """One replay of ``campaign`` ending at ``end``, as ingest makes events, in batches."""
    shift = end - campaign.end
    source = f"bench:{campaign.short}"
    out: list[Event] = []
    for seq, (line, t) in enumerate(zip(campaign.lines, campaign.times, strict=True)):
        record = fastjson.loads(line)
        for name in HOST_FIELDS:
            if isinstance(record.get(name), str):
                record[name] = copy_host(record[name], copy)
        envelope = {
            "record": record,
            "time": datetime.fromtimestamp((t if t is not None else campaign.end) + shift, UTC),
            "origin": {
                "connector": "bench",
                "source": campaign.short,
                "stream": f"copy-{copy}",
                "seq": seq,
            },
        }
        out.append(object_event(envelope, tenant=tenant, source=source, received=received))
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out


def plan(campaigns: list[Campaign], events: int, days: float) -> list[tuple[Campaign, int, float]]:
    """(campaign, copy number, end time) for enough copies to reach ``events``; copy 0 ends
    now, the others evenly spread back over ``days``, the two campaigns alternating."""
    copies: list[Campaign] = []
    total = 0
    while total < events:
        c = campaigns[len(copies) % len(campaigns)]
        copies.append(c)
        total += len(c.lines)
    now = utcnow().timestamp()
    step = days * 86400 / len(copies)
    return [(c, i, now - i * step) for i, c in enumerate(copies)]


# ------------------------------------------------------------------ the store


def store_settings(args: argparse.Namespace) -> StoreSettings:
    return StoreSettings(
        kind=args.store,
        sqlite={"path": str(args.sqlite_path)},
        opensearch={"hosts": [args.opensearch_url], "index_prefix": args.prefix},
    )


def sqlite_files(args: argparse.Namespace) -> list[Path]:
    return [Path(f"{args.sqlite_path}{suffix}") for suffix in ("", "-wal", "-shm")]


def drop_sqlite(args: argparse.Namespace) -> None:
    for path in sqlite_files(args):
        path.unlink(missing_ok=True)


def sqlite_sizes(args: argparse.Namespace) -> dict[str, int]:
    """The database file and its WAL (the -shm index is not data)."""
    return {p.name: p.stat().st_size if p.exists() else 0 for p in sqlite_files(args)[:2]}


async def drop(args: argparse.Namespace) -> None:
    """Delete what an earlier run loaded."""
    if args.store == "sqlite":
        drop_sqlite(args)
        return
    async with httpx.AsyncClient(timeout=120) as c:
        r = await c.delete(f"{args.opensearch_url}/{args.prefix}-*")
        if r.status_code not in (200, 404):
            r.raise_for_status()


async def count_events(store: Store, tenant: str) -> int:
    """The tenant's stored events, counted by the store (one histogram bucket)."""
    counts = await store.event_histogram(
        EventQuery(tenants=[tenant], since=EPOCH, until=utcnow() + timedelta(days=1)),
        bucket_s=COUNT_BUCKET_S,
    )
    return sum(counts.values())


async def bytes_on_disk(args: argparse.Namespace) -> dict[str, int]:
    if args.store == "sqlite":
        return sqlite_sizes(args)
    index = f"{args.opensearch_url}/{args.prefix}-events-*"
    async with httpx.AsyncClient(timeout=600) as c:
        for step in ("_refresh", "_flush"):
            (await c.post(f"{index}/{step}")).raise_for_status()
        r = await c.get(f"{index}/_stats/store,docs")
        r.raise_for_status()
        stats = r.json()["_all"]
        r = await c.get(
            f"{args.opensearch_url}/_cat/segments/{args.prefix}-events-*",
            params={"format": "json", "bytes": "b"},
        )
        r.raise_for_status()
        live = sum(int(s["size"]) for s in r.json() if s.get("prirep", "p") == "p")
    return {
        "primaries": stats["primaries"]["store"]["size_in_bytes"],
        "live_segments": live,
        "total": stats["total"]["store"]["size_in_bytes"],
        "docs": stats["primaries"]["docs"]["count"],
    }


async def load(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    """Every planned copy into ``store``; the events are built in a thread meanwhile."""
    print("# reading the recorded campaigns...", file=sys.stderr, flush=True)
    campaigns = [read_campaign(name, short) for name, short in CAMPAIGNS.items()]
    copies = plan(campaigns, args.events, args.days)
    received = utcnow()

    def batches() -> Iterator[list[Event]]:
        for campaign, copy, end in copies:
            yield from copy_events(
                campaign,
                copy=copy,
                end=end,
                tenant=args.tenant,
                received=received,
                batch=args.batch,
            )

    queue: asyncio.Queue[list[Event] | None] = asyncio.Queue(maxsize=2)
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def produce() -> None:
        try:
            for b in batches():
                if stop.is_set():
                    return
                asyncio.run_coroutine_threadsafe(queue.put(b), loop).result()
        finally:
            if not stop.is_set():  # the end, or an error (raised by awaiting the producer)
                asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

    loaded, busy_s, last_report = 0, 0.0, 0
    in_flight, busy_since = 0, 0.0
    started = time.perf_counter()

    async def write() -> None:
        """One writer: batches off the queue into the store until the end mark."""
        nonlocal loaded, busy_s, last_report, in_flight, busy_since
        while (b := await queue.get()) is not None:
            if in_flight == 0:
                busy_since = time.perf_counter()
            in_flight += 1
            try:
                await store.put_events(b)
            finally:
                in_flight -= 1
                if in_flight == 0:
                    busy_s += time.perf_counter() - busy_since
            loaded += len(b)
            if loaded - last_report >= 100_000:
                last_report = loaded
                rate = loaded / (time.perf_counter() - started)
                print(f"# loaded {loaded:,} ({rate:,.0f}/s)", file=sys.stderr, flush=True)
        await queue.put(None)  # for the other writers

    producer = loop.run_in_executor(None, produce)
    try:
        async with asyncio.TaskGroup() as writers:  # one failing cancels the others
            for _ in range(args.writers):
                writers.create_task(write())
    finally:
        stop.set()
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                queue.get_nowait()  # unblock the producer
        await producer
    seconds = time.perf_counter() - started
    return {
        "loaded": loaded,
        "copies": len(copies),
        "load_seconds": round(seconds, 1),
        "load_events_per_s": round(loaded / seconds),
        "writers": args.writers,
        "put_events_seconds": round(busy_s, 1),
        "put_events_per_s": round(loaded / busy_s) if busy_s else None,
    }


# ------------------------------------------------------------------ the queries


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Probe:
    name: str
    kind: str
    text: str
    run: Callable[[EventQuery], Awaitable[int]]
    """Makes the request; returns what it found (items, or events counted)."""
    via: str = "seam"


QUERIES = [
    ("field", "search", "EventID:1"),
    ("field host", "search", "host:{host}"),
    ("wildcard", "search", "CommandLine:*powershell*"),
    ("word", "search", "lsass"),
    ("stats", "stats EventID", ""),
    ("histogram", "histogram", "lsass"),
]
"""(name, kind, query text): the first page of a search, the top values of EventID over the
range, the hits over time the explorer draws beside a search."""


def probes(store: Store, host: str) -> list[Probe]:
    """The queries through the store seam."""

    async def page(q: EventQuery) -> int:
        return len((await store.search_events(q)).items)

    async def stats(q: EventQuery) -> int:
        return (await store.event_stats(q, field="EventID", size=10)).events

    async def histogram(q: EventQuery) -> int:
        return sum((await store.event_histogram(q, bucket_s=3600)).values())

    runs = {"search": page, "stats EventID": stats, "histogram": histogram}
    return [Probe(name, kind, text.format(host=host), runs[kind]) for name, kind, text in QUERIES]


def api_probes(client: httpx.AsyncClient, host: str) -> list[Probe]:
    """The same queries through the HTTP API (GET /api/v1/events, /events/stats,
    /events/histogram with its default of about 60 buckets, as the explorer asks)."""

    def params(q: EventQuery, text: str) -> dict[str, Any]:
        assert q.since is not None and q.until is not None
        out: dict[str, Any] = {"since": q.since.isoformat(), "until": q.until.isoformat()}
        return out | ({"q": text} if text else {})

    async def get(path: str, p: dict[str, Any]) -> Any:
        r = await client.get(path, params=p)
        r.raise_for_status()
        return r.json()

    def make(kind: str, text: str) -> Callable[[EventQuery], Awaitable[int]]:
        async def page(q: EventQuery) -> int:
            return len((await get("/api/v1/events", params(q, text) | {"limit": 50}))["items"])

        async def stats(q: EventQuery) -> int:
            body = await get("/api/v1/events/stats", params(q, text) | {"field": "EventID"})
            return int(body["events"])

        async def histogram(q: EventQuery) -> int:
            return int((await get("/api/v1/events/histogram", params(q, text)))["total"])

        return {"search": page, "stats EventID": stats, "histogram": histogram}[kind]

    out = []
    for name, kind, text in QUERIES:
        text = text.format(host=host)
        out.append(Probe(name, kind, text, make(kind, text), via="api"))
    return out


@contextlib.asynccontextmanager
async def api_client(args: argparse.Namespace) -> AsyncIterator[httpx.AsyncClient]:
    """The service (`soc run`, in this process) on the loaded store, an analyst's client."""
    store = store_settings(args).model_dump(mode="json")
    store["retention"] = {"events_days": None}  # nothing loaded may expire meanwhile
    settings = Settings(
        env="production",
        log_level="WARNING",
        auth={
            "secret_key": "bench-secret-not-default",
            "api_keys": [
                {
                    "name": "analyst",
                    "sha256": ApiKey.hash(ANALYST_TOKEN),
                    "role": "analyst",
                    "tenants": [args.tenant],
                }
            ],
        },
        store=store,
        data_dir=str(ROOT / ".cache/bench-events"),
    )
    headers = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
    async with (
        serving(settings) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client,
    ):
        yield client


async def measure(
    probe: Probe, *, tenant: str, end: datetime, days: int, args: argparse.Namespace
) -> dict[str, Any]:
    where = parse(probe.text) if probe.text else None
    timings: list[float] = []
    found = 0
    for i in range(args.warmup + args.runs):
        until = end - timedelta(seconds=random.uniform(0, 5))
        q = EventQuery(
            tenants=[tenant], since=until - timedelta(days=days), until=until, where=where, limit=50
        )
        t0 = time.perf_counter()
        found = await probe.run(q)
        if i >= args.warmup:
            timings.append(time.perf_counter() - t0)
    return {
        "query": probe.name,
        "via": probe.via,
        "kind": probe.kind,
        "text": probe.text,
        "days": days,
        "runs": len(timings),
        "found": found,
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "p99_ms": round(percentile(timings, 99) * 1000, 1),
        "max_ms": round(max(timings) * 1000, 1),
    }


async def newest(store: Store, tenant: str) -> tuple[datetime, str]:
    """The newest stored event's time and host: where the ranges end."""
    page = await store.search_events(
        EventQuery(tenants=[tenant], since=EPOCH, until=utcnow() + timedelta(days=1), limit=1)
    )
    if not page.items:
        sys.exit(f"no event of tenant {tenant!r} is stored: load first (drop --reuse)")
    event = page.items[0]
    return event.time, event.host or ""


# ------------------------------------------------------------------ main


async def bench(args: argparse.Namespace) -> None:
    store = build_store(store_settings(args))
    loaded: dict[str, Any] = {}
    if not args.reuse:
        await drop(args)
    await store.start()
    try:
        stored = await count_events(store, args.tenant)
        if args.reuse and stored >= args.events:
            loaded = {"reused": stored}
        else:
            if stored:
                sys.exit(
                    f"{stored:,} events of {args.tenant!r} already stored, fewer than --events; "
                    "run without --reuse to load afresh"
                )
            loaded = await load(store, args)
        disk = await bytes_on_disk(args)  # after an OpenSearch refresh: count them all
        stored = await count_events(store, args.tenant)
        size = disk["primaries"] if args.store == "opensearch" else sum(disk.values())
        loaded |= {
            "store": args.store,
            "stored": stored,
            "bytes_on_disk": disk,
            "bytes_per_event": round(size / stored) if stored else None,
        }
        if "live_segments" in disk and stored:
            loaded["live_segment_bytes_per_event"] = round(disk["live_segments"] / stored)
        print(json.dumps(loaded), flush=True)

        end, host = await newest(store, args.tenant)
        end += timedelta(seconds=1)
        results = []
        api_failed = None

        async def measure_all(probes: list[Probe]) -> None:
            for probe in probes:
                for days in (1, 7):
                    r = await measure(probe, tenant=args.tenant, end=end, days=days, args=args)
                    results.append(r)
                    print(json.dumps(r), flush=True)

        await measure_all(probes(store, host))
        if args.api:
            async with api_client(args) as client:
                try:
                    await measure_all(api_probes(client, host))
                except httpx.HTTPStatusError as e:  # e.g. a build without the events API
                    r = e.response
                    api_failed = f"{r.request.url.path} answered {r.status_code}: {r.text[:200]}"
    finally:
        await store.stop()
        if not (args.keep or args.reuse):
            await drop(args)

    print(f"# {args.store}: {stored:,} events stored", end="")
    if "load_events_per_s" in loaded:
        print(
            f", loaded at {loaded['load_events_per_s']:,} events/s "
            f"(put_events alone: {loaded['put_events_per_s']:,} events/s)",
            end="",
        )
    live = loaded.get("live_segment_bytes_per_event")
    in_segments = f" ({live:,} in live segments)" if live else ""
    print(f", {loaded['bytes_per_event']:,} bytes on disk per event{in_segments}")
    print(f"# {args.runs} runs each after {args.warmup} warm-up runs; p99 is nearest rank")
    print("# found: items on the first page (at most 50), or events counted (stats, histogram)")
    print(
        f"#   {'query':<11} {'via':<5} {'text':<28} {'days':>4} {'found':>8} "
        f"{'p50 ms':>9} {'p99 ms':>9}"
    )
    for r in results:
        text = r["text"] if len(r["text"]) <= 28 else r["text"][:25] + "..."
        print(
            f"#   {r['query']:<11} {r['via']:<5} {text:<28} {r['days']:>4} {r['found']:>8,} "
            f"{r['p50_ms']:>9,.1f} {r['p99_ms']:>9,.1f}"
        )
    if api_failed:
        print(f"# through the API: NOT MEASURED: {api_failed}")
    if args.store == "opensearch":
        for r in results:
            if r["query"] == "field" and r["days"] == 1:
                verdict = "met" if r["p99_ms"] < 1000 else "NOT met"
                print(
                    f"# target p99 < 1 s for a one-day field query on OpenSearch "
                    f"({r['via']}): {verdict}"
                )


def main() -> None:
    opensearch_port = os.environ.get("SOC_LOCAL_OPENSEARCH_PORT", "19200")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--store", choices=("sqlite", "opensearch"), default="sqlite")
    p.add_argument("--events", type=int, default=2_000_000, help="load at least this many")
    p.add_argument("--days", type=float, default=8.0, help="the copies spread over these days")
    p.add_argument(
        "--batch",
        type=int,
        default=StoreSettings().events_batch_size,
        help="events per put_events (default: the event sink's store.events_batch_size)",
    )
    p.add_argument("--writers", type=int, default=1, help="put_events calls in flight at once")
    p.add_argument("--runs", type=int, default=40, help="timed runs of each query and range")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs before them")
    p.add_argument("--tenant", default="bench")
    p.add_argument("--opensearch-url", default=f"http://127.0.0.1:{opensearch_port}")
    p.add_argument("--prefix", default="bench-events", help="OpenSearch index prefix")
    p.add_argument(
        "--sqlite-path",
        type=Path,
        default=ROOT / ".cache/bench-events/events.db",
        help="SQLite database file",
    )
    p.add_argument(
        "--api",
        action="store_true",
        help="also time the queries through the HTTP API (a service in this process)",
    )
    p.add_argument("--keep", action="store_true", help="leave the loaded data at the end")
    p.add_argument("--drop", action="store_true", help="only delete what a --keep run left")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="query what an earlier --keep run loaded (load only if it is not there); keeps it",
    )
    args = p.parse_args()
    if not args.prefix.startswith("bench"):
        p.error("--prefix must start with 'bench': its indices are deleted")
    if args.drop:
        asyncio.run(drop(args))
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
