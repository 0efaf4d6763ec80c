"""Taking in a national feed: 100,000 indicators of mixed types into the store, on SQLite
and OpenSearch, and what reads them back (the matcher's rebuild, the feeds page's counts).

    python bench/intel_intake.py                                  # SQLite only
    python bench/intel_intake.py --opensearch http://127.0.0.1:19200
    python bench/intel_intake.py --count 20000 --old-count 500

The indicators are bench/intel.py's seeded random ones (40 % addresses, 10 % networks,
20 % domains, 10 % URLs, 20 % hashes). Per store, each step on a fresh store (a temporary
SQLite file; OpenSearch indices under a prefix of their own, deleted after):

- ``put``: ``Indicators.put`` of all of them (batched reads and writes, one bump), then
  the same again (nothing changed: reads only);
- ``old put``: the per-indicator path this replaced (one ``get_record`` and one
  ``put_record`` each), on ``--old-count`` indicators, and its rate stretched to
  ``--count`` (it is linear: one round trip, or one transaction, per indicator);
- ``bundle``: the same indicators as one STIX 2.1 bundle (``indicator`` objects with
  patterns) through ``soc.intel.intake.take_in``: parse, then store; and the parse alone,
  with the patterns read by the STIX grammar (as before) against the fast shape;
- ``rebuild``: ``LiveIndicators.load`` (every indicator read from the store, the
  matcher built), as a detector does after a change;
- ``counts``: ``counts_by_source`` (what GET /api/v1/intel/feeds computes): the first call
  after a change walks every indicator, a later one at the same generation is cached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intel import indicators as random_indicators

from soc.errors import Conflict
from soc.intel.intake import counts_by_source, take_in
from soc.intel.live import LiveIndicators
from soc.intel.models import Indicator, IndicatorType
from soc.intel.parse import Intake, _parsed, _simple, parse
from soc.intel.store import Indicators, of_record, to_record
from soc.settings import IndicatorMatchSettings, StoreSettings
from soc.store import Store, build_store
from soc.store.records import Kind

T = TypeVar("T")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
HASHES = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}


def pattern(indicator: Indicator) -> str:
    value = indicator.value.replace("\\", "\\\\").replace("'", "\\'")
    if indicator.type in (IndicatorType.ip, IndicatorType.cidr):
        kind = "ipv6-addr" if ":" in value else "ipv4-addr"
        return f"[{kind}:value = '{value}']"
    if indicator.type is IndicatorType.domain:
        return f"[domain-name:value = '{value}']"
    if indicator.type is IndicatorType.url:
        return f"[url:value = '{value}']"
    return f"[file:hashes.'{HASHES[len(value)]}' = '{value}']"


def bundle(indicators: Sequence[Indicator]) -> bytes:
    """The indicators as one STIX 2.1 bundle (one ``indicator`` object each)."""
    stamp = "2026-11-01T00:00:00.000Z"
    objects: list[dict[str, Any]] = []
    for n, ind in enumerate(indicators):
        obj: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=n + 1)}",
            "created": stamp,
            "modified": stamp,
            "name": f"{ind.type.value} {n}",
            "pattern": pattern(ind),
            "pattern_type": "stix",
            "valid_from": ind.valid_from.isoformat().replace("+00:00", "Z"),
            "confidence": ind.confidence,
        }
        if ind.valid_until:
            obj["valid_until"] = ind.valid_until.isoformat().replace("+00:00", "Z")
        objects.append(obj)
    doc = {"type": "bundle", "id": f"bundle--{uuid.UUID(int=0)}", "objects": objects}
    return json.dumps(doc).encode()


async def old_put(store: Store, indicators: Sequence[Indicator]) -> int:
    """The per-indicator path ``Indicators.put`` had before batches (then one bump)."""
    changed = 0
    for indicator in indicators:
        stored = await store.get_record(Kind.indicator, indicator.id)
        if stored is None:
            new, expect = indicator.model_copy(update={"created": NOW, "modified": NOW}), 0
        else:
            old = of_record(stored)
            new = indicator.model_copy(update={"created": old.created, "modified": NOW})
            expect = stored.version
        try:
            await store.put_record(to_record(new), expect=expect)
        except Conflict:
            continue
        changed += 1
    await Indicators(store).bump()
    return changed


async def timed(fn: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await fn()
    return result, time.perf_counter() - started


@asynccontextmanager
async def fresh(kind: str, url: str | None, tmp: Path) -> AsyncIterator[Store]:
    name = f"bench-intel-{uuid.uuid4().hex[:8]}"
    settings = StoreSettings(
        kind=kind,
        sqlite={"path": str(tmp / f"{name}.db")},
        opensearch={"hosts": [url or "http://127.0.0.1:9200"], "index_prefix": name},
    )
    store = build_store(settings)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()
        if kind == "opensearch":
            async with httpx.AsyncClient(timeout=120) as c:
                await c.delete(f"{url}/{name}-*")
                await c.delete(f"{url}/_index_template/{name}-*")


def line(what: str, seconds: float, count: int) -> None:
    print(f"  {what:<46} {seconds:8.2f} s  {count / seconds:9.0f} /s", flush=True)


async def run(kind: str, args: argparse.Namespace, tmp: Path) -> None:
    print(f"{kind}: {args.count} indicators", flush=True)
    items = random_indicators(args.count)
    match = IndicatorMatchSettings()
    async with fresh(kind, args.opensearch, tmp) as store:
        few = items[: args.old_count]
        _, s = await timed(lambda: old_put(store, few))
        line(f"old put (per indicator), {len(few)}", s, len(few))
        print(f"  {'  stretched to ' + str(args.count):<46} {s * args.count / len(few):8.0f} s")
    async with fresh(kind, args.opensearch, tmp) as store:
        indicators = Indicators(store)
        changed, s = await timed(lambda: indicators.put(items))
        assert changed == len(items), changed
        line("put (batched), all new", s, len(items))
        changed, s = await timed(lambda: indicators.put(items))
        assert changed == 0, changed
        line("put again, none changed", s, len(items))
        live = LiveIndicators(indicators, match)
        matcher, s = await timed(live.load)
        line(f"rebuild: LiveIndicators.load ({len(matcher)} kept)", s, len(items))
        old = Indicators(store)  # a fresh one: nothing cached
        _, s = await timed(lambda: counts_by_source(old, None))
        line("counts_by_source, first at a generation", s, len(items))
        _, s = await timed(lambda: counts_by_source(old, ["tenant-a"]))
        line("counts_by_source, cached", s, len(items))
    raw = bundle(items)
    intake = Intake(source="national-feed", tlp="green")
    if kind == "sqlite":  # parsing is the same whatever the store
        taken, s = await timed(lambda: asyncio.sleep(0, parse(raw, intake, format="stix")))
        line(f"bundle parse only ({len(taken.indicators)} taken)", s, len(items))
        patterns = [pattern(i) for i in items[: min(args.old_count, 5000)]]
        _, s = await timed(lambda: asyncio.sleep(0, [_parsed(p) for p in patterns]))
        line(f"  old: every pattern by the STIX grammar, {len(patterns)}", s, len(patterns))
        _, s = await timed(lambda: asyncio.sleep(0, [_simple(p) for p in patterns]))
        line(f"  now: the simple shape read directly, {len(patterns)}", s, len(patterns))
    async with fresh(kind, args.opensearch, tmp) as store:
        report, s = await timed(lambda: take_in(Indicators(store), raw, intake, format="stix"))
        assert report.stored == report.indicators, report.model_dump(exclude={"rejects"})
        line(f"bundle ({len(raw) / 1e6:.0f} MB) parse + store", s, len(items))


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--old-count", type=int, default=1_000)
    parser.add_argument("--opensearch", default=None, help="an OpenSearch URL: bench it too")
    parser.add_argument("--only", choices=("sqlite", "opensearch"), default=None)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["opensearch"] if args.opensearch else [])
    with tempfile.TemporaryDirectory(prefix="soc-bench-intel-") as tmp:
        for kind in kinds:
            if args.only in (None, kind):
                await run(kind, args, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
