"""Recorded events for the event-search contract, and the meaning of a query, evaluated directly.

The events are the bundled OTRF LSASS slice (2,430 real Windows events,
Sysmon and Security channels, recorded 2023-08-15), normalized as at ingest,
for tenant A; a tenth of them are copied to tenant B under their own ids.
:func:`matches` is the query language's meaning (soc/store/eventquery.py)
written as plainly as possible over one event: each store must return exactly
the events it accepts.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime
from importlib import resources

from soc.ingest.normalize import normalize
from soc.models import Event, Origin
from soc.store import eventquery as q
from soc.store.terms import word_list

A, B = "tenant-a", "tenant-b"
RECEIVED = datetime(2023, 8, 15, 10, 5, tzinfo=UTC)


def recorded() -> list[Event]:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    records = [json.loads(line) for line in gzip.decompress(data).splitlines()]
    events = []
    for seq, record in enumerate(records):
        origin = Origin(connector="c1", source="otrf", stream="lsass", seq=seq)
        events.append(
            normalize(record, tenant=A, source="otrf-lsass", received=RECEIVED, origin=origin)
        )
    for seq, record in enumerate(records[::10]):
        origin = Origin(connector="c2", source="otrf", stream="lsass-b", seq=seq)
        events.append(
            normalize(record, tenant=B, source="otrf-lsass", received=RECEIVED, origin=origin)
        )
    return events


def _like(value: str, pattern: str) -> bool:
    regex = []
    for kind, text in q.pattern_parts(pattern):
        regex.append(re.escape(text) if kind == "text" else ".*" if kind == "any" else ".")
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None


def _in_range(value: str, node: q.Range) -> bool:
    if node.numeric:
        v = q.number(value)
        if v is None:
            return False
        lo = None if node.low is None else q.number(node.low)
        hi = None if node.high is None else q.number(node.high)
    else:
        v, lo, hi = value, node.low, node.high  # type: ignore[assignment]
    if lo is not None and (v < lo or (v == lo and not node.include_low)):
        return False
    return not (hi is not None and (v > hi or (v == hi and not node.include_high)))


def _has_sequence(words: list[list[str]], wanted: tuple[str, ...]) -> bool:
    n = len(wanted)
    return any(tuple(ws[i : i + n]) == wanted for ws in words for i in range(len(ws) - n + 1))


def matches(node: q.Node | None, event: Event) -> bool:
    pairs = q.event_pairs(event)
    texts = [word_list(v) for _, v in pairs]
    all_words = {w for ws in texts for w in ws}

    def ev(n: q.Node) -> bool:
        match n:
            case q.Equals(field, value):
                return (field, value) in pairs
            case q.Contains(field, text):
                return any(f == field and text in v for f, v in pairs)
            case q.Like(field, pattern):
                return any(f == field and _like(v, pattern) for f, v in pairs)
            case q.Range():
                return any(f == n.field and _in_range(v, n) for f, v in pairs)
            case q.Exists(field):
                return any(f == field for f, _ in pairs)
            case q.Words(words, phrase):
                if phrase:
                    return _has_sequence(texts, words)
                return all(w in all_words for w in words)
            case q.WordPrefix(prefix):
                return any(w.startswith(prefix) for w in all_words)
            case q.AllOf(items):
                return all(ev(i) for i in items)
            case q.AnyOf(items):
                return any(ev(i) for i in items)
            case q.Not(item):
                return not ev(item)
            case q.Nothing():
                return False
        raise AssertionError(n)

    return True if node is None else ev(node)
