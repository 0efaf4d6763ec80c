"""Index names and composable index templates of the OpenSearch store.

Every index is time-based and its name follows from the record alone, so a
record written again (same id, same time) lands in the same index, where
``op_type=create`` keeps the stored one:

    {prefix}-events-{class}-YYYY.MM.DD        by the event's own time
    {prefix}-alerts-{class}-YYYY.MM           by the alert's time (the event's time)
    {prefix}-deadletters-{class}-YYYY.MM.DD   by when the input was received
    {prefix}-incidents-YYYY.MM                by the incident's time

``{class}`` is the retention class: the tenant's period for that kind when the
record was written, ``r90d`` (90 days) or ``keep`` (:func:`retention_class`).
Retention deletes whole indices (OpenSearch's index-management plugin is not
assumed), and one daily index shared by tenants with different periods could
not be deleted for one of them, so tenants with the same period share an index
and an index is deleted once its whole span is older than its class's period.
Indices named before classes existed (``{prefix}-events-YYYY.MM.DD``) are read
as the default period (:func:`parse_index`). Reads use ``{prefix}-{kind}-*``.

Case records (:mod:`soc.store.records`) are few and change, so they are not
time-based: one index per kind, ``{prefix}-records-{kind}``. Their document
keeps the record's JSON under ``record`` (stored, not indexed) and, beside it,
``id``, ``tenant``, ``version`` and ``sort``, and two keyword arrays of tokens:
``terms`` (one per name and value) and ``words``. A token is the JSON of
``[name, value]`` (or of the word), or ``#`` and its SHA-256 when longer than
:data:`TOKEN_MAX`, so that every value is matched exactly and none is refused
as an immense term; the document id is the record's id, or ``#`` and its
SHA-256 when it would not fit the 512 bytes OpenSearch allows.

Documents are the model's JSON plus fields only used for indexing: ``time_us``
(or ``received_us``), integer microseconds for exact sorting, ranges and
``search_after``; ``severity_rank``; and ``search_words``, the words
:func:`soc.store.terms.words` cuts from title, host, rule id and tags. Unknown
fields are kept in ``_source`` but not indexed (``dynamic: false``).

An event's ``origin`` (connector, source, stream, seq, part, drill) is indexed
as keywords and longs, to count what arrived per connector and stream. Its
``raw`` and ``fields`` are kept but not indexed (``enabled: false``); what the
event query language (:mod:`soc.store.eventquery`) matches is indexed in
fields of fixed names, so the mapping stays the same whatever field names logs
carry (ADR 0012, "OpenSearch mapping", has the measured candidates):

``pairs``       ``keyword``: ``name=value`` for every pair of
                :func:`~soc.store.eventquery.event_pairs` (lower-cased) up to
                :data:`KEYWORD_MAX` characters: equals, contains and wildcards
                (the ``name=`` prefix keeps a wildcard's walk of the terms inside
                one field), text ranges. Indexed only (no doc values)
``top.sNN``     ``keyword``, doc values only: the same pairs spread over
                :data:`STATS_SLOTS` fields by a hash of the name
                (:func:`stats_slot`), for top values (a terms aggregation on the
                name's slot, ``include`` ``name=.*``): 17 % more bytes than doc
                values on ``pairs`` itself, top values 11 times faster, and a
                terms aggregation's global ordinals cover one slot, not every pair
``long_pairs``  ``wildcard``: the longer pairs, whole (a 100 KB script block is one
                value): equals, contains and wildcards. A ``wildcard`` field
                checks its candidates against ``_source``, so it stays there; for
                every pair, an exact value took a p95 of 214 ms (ADR 0012)
``numbers``     ``keyword``: ``name=<16 hex digits>`` for each value that is a
                number, in an encoding whose text order is the numbers' order
                (:func:`sortable_number`): numeric ranges
``names``       ``keyword``: the field names, for ``_exists_``
``words``       ``text``: each value's words (:func:`soc.store.terms.word_list`)
                joined by spaces, cut at spaces only (the built-in ``whitespace``
                analyzer), so its terms are SQLite's (up to :data:`WORD_MAX`);
                values are 100 positions apart so a phrase never spans two

All but ``long_pairs`` are left out of ``_source`` (they follow from ``fields``).
Text ranges and top values do not see values longer than :data:`KEYWORD_MAX`.

``flat_object`` was not chosen: it refuses any document with a value over
32766 bytes (an "immense term"; PowerShell script blocks exceed it) and has no
``ignore_above`` in OpenSearch 2.19. A template applies to indices made after it is put: an index
made before a new property was added indexes it from the next day's index on.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from soc.models import Alert, DeadLetter, Event
from soc.settings import OpenSearchSettings
from soc.store._common import alert_words
from soc.store.eventquery import event_pairs, number
from soc.store.records import Kind, Record
from soc.store.terms import micros, word_list

TEMPLATE_PRIORITY = 200
KEYWORD_MAX = 1024
"""Longer keyword values are kept in ``_source`` but not indexed."""
TOKEN_MAX = 512
"""Longer record tokens are indexed as their hash."""
ID_MAX_BYTES = 512
"""OpenSearch refuses longer document ids."""
RECORD_PAGE_MAX = 10_001
"""A records query asks for one more than its limit (at most 10 000)."""

_KEYWORD = {"type": "keyword"}
_DATA_KEYWORD = {"type": "keyword", "ignore_above": KEYWORD_MAX}
_SEARCH_ONLY_KEYWORD = {"type": "keyword", "doc_values": False}
"""Matched and ranged, never sorted or counted: no column store on disk."""
_COUNT_ONLY_KEYWORD = {"type": "keyword", "index": False, "ignore_above": KEYWORD_MAX}
"""Counted by terms aggregations (doc values), never matched: no inverted index."""
_DATE = {"type": "date"}
_LONG = {"type": "long"}
_STORED_ONLY = {"type": "object", "enabled": False}
_LOGSOURCE = {
    "properties": {
        "product": _DATA_KEYWORD,
        "category": _DATA_KEYWORD,
        "service": _DATA_KEYWORD,
    }
}

_ORIGIN = {
    "properties": {
        "connector": _DATA_KEYWORD,
        "source": _DATA_KEYWORD,
        "stream": _DATA_KEYWORD,
        "seq": _LONG,
        "part": _LONG,
        "drill": _DATA_KEYWORD,
    }
}
"""The connector's stamp, indexed so the SOC can count what arrived per connector and stream,
and find gaps in ``seq``."""

STATS_SLOTS = 64
"""Fields the pairs are spread over for top values, by a stable hash of their name."""


def slot_name(i: int) -> str:
    return f"s{i:02d}"


def stats_slot(name: str) -> str:
    """The ``top`` field holding the pairs of field ``name`` (lower-cased): CRC-32, which
    every process computes alike (Python's own ``hash`` of a string is salted)."""
    return slot_name(zlib.crc32(name.encode()) % STATS_SLOTS)


WORD_MAX = 255
"""Longer words are indexed in pieces of this length: the ``whitespace`` analyzer's own
limit (the minimal distribution has no analysis-common module to configure another);
:func:`soc.store.opensearch.query.compile_where` matches every word as a phrase, so a
long word still matches as its run of pieces. SQLite does not cut them."""
WORDS_GAP = 100
"""Positions between two values' words: more than any phrase the query language allows."""
WORDS_ANALYZER = "whitespace"

_EVENTS = {
    "id": _KEYWORD,
    "tenant": _KEYWORD,
    "source": _DATA_KEYWORD,
    "host": _DATA_KEYWORD,
    "time": _DATE,
    "time_us": _LONG,
    "received": _DATE,
    "logsource": _LOGSOURCE,
    "origin": _ORIGIN,
    "raw": _STORED_ONLY,
    "fields": _STORED_ONLY,
    "pairs": {**_SEARCH_ONLY_KEYWORD, "ignore_above": KEYWORD_MAX},
    "long_pairs": {"type": "wildcard"},
    "top": {"properties": {slot_name(i): _COUNT_ONLY_KEYWORD for i in range(STATS_SLOTS)}},
    "numbers": _SEARCH_ONLY_KEYWORD,
    "names": {**_SEARCH_ONLY_KEYWORD, "ignore_above": KEYWORD_MAX},
    "words": {
        "type": "text",
        "analyzer": WORDS_ANALYZER,
        "norms": False,
        "index_options": "positions",
        "position_increment_gap": WORDS_GAP,
    },
}

_ALERTS = {
    "id": _KEYWORD,
    "tenant": _KEYWORD,
    "rule_id": _DATA_KEYWORD,
    "rule_title": {"type": "text", "fields": {"keyword": _DATA_KEYWORD}},
    "rule_version": _DATA_KEYWORD,
    "rule_revision": _LONG,
    "severity": _KEYWORD,
    "severity_rank": {"type": "integer"},
    "tags": _DATA_KEYWORD,
    "status": _KEYWORD,
    "incident_id": _KEYWORD,
    "suppressed_by": _KEYWORD,
    "origin": _KEYWORD,
    "hunt_id": _KEYWORD,
    "event_id": _KEYWORD,
    "time": _DATE,
    "time_us": _LONG,
    "created": _DATE,
    "host": _DATA_KEYWORD,
    "source": _DATA_KEYWORD,
    "logsource": _LOGSOURCE,
    "search_words": _DATA_KEYWORD,
    "correlation": _STORED_ONLY,
    "indicator": _STORED_ONLY,
    "drill": _KEYWORD,
}

ADDED_FIELDS: dict[str, dict[str, Any]] = {"alerts": {"drill": _KEYWORD, "indicator": _STORED_ONLY}}
"""Fields mapped after indices of a kind may exist: put into those indices' mappings at
start (the templates only shape indices made after them)."""

_DEAD_LETTERS = {
    "id": _KEYWORD,
    "tenant": _KEYWORD,
    "stage": _KEYWORD,
    "reason": _KEYWORD,
    "detail": {"type": "text"},
    "source": _DATA_KEYWORD,
    "line": {"type": "integer"},
    "received": _DATE,
    "received_us": _LONG,
    "payload": {"type": "keyword", "index": False, "doc_values": False},
    "size": _LONG,
    "sha256": _KEYWORD,
}

_INCIDENTS = {
    "id": _KEYWORD,
    "tenant": _KEYWORD,
    "time": _DATE,
    "time_us": _LONG,
}

_RECORDS = {
    "id": _KEYWORD,
    "tenant": _KEYWORD,
    "version": _LONG,
    "sort": _LONG,
    "terms": _KEYWORD,
    "words": _KEYWORD,
    "record": _STORED_ONLY,
}

_KINDS: dict[str, dict[str, Any]] = {
    "events": _EVENTS,
    "alerts": _ALERTS,
    "deadletters": _DEAD_LETTERS,
    "incidents": _INCIDENTS,
}


def pattern(prefix: str, kind: str) -> str:
    """The wildcard over every index of one kind, e.g. ``soc-alerts-*``."""
    return f"{prefix}-{kind}-*"


KEEP = "keep"


def retention_class(days: float | None) -> str:
    """The class of a period in an index name: ``r90d``, ``r0.5d``, or ``keep`` (no period)."""
    if days is None:
        return KEEP
    digits = format(Decimal(repr(float(days))), "f")
    if "." in digits:
        digits = digits.rstrip("0").rstrip(".")
    return f"r{digits}d"


def class_days(klass: str) -> float | None:
    """The period of a class (None: kept); ValueError if ``klass`` is not one."""
    if klass == KEEP:
        return None
    if not (klass.startswith("r") and klass.endswith("d")):
        raise ValueError(klass)
    days = float(klass[1:-1])
    if not days > 0:
        raise ValueError(klass)
    return days


def month(t: datetime) -> str:
    return f"{t.year:04d}.{t.month:02d}"


def daily(prefix: str, kind: str, klass: str, t: datetime) -> str:
    return f"{prefix}-{kind}-{klass}-{month(t)}.{t.day:02d}"


def monthly(prefix: str, kind: str, klass: str, t: datetime) -> str:
    return f"{prefix}-{kind}-{klass}-{month(t)}"


_TIME_BASED = ("events", "alerts", "deadletters")


@dataclass(frozen=True)
class IndexSpan:
    """What an index's name says: its kind, retention class (None: named before classes)
    and the time span [start, end) of the records it holds."""

    kind: str
    klass: str | None
    start: datetime
    end: datetime


def parse_index(prefix: str, name: str) -> IndexSpan | None:
    """The span of a time-based index of this store, or None (another index)."""
    head = f"{prefix}-"
    if not name.startswith(head):
        return None
    parts = name[len(head) :].split("-")
    if len(parts) not in (2, 3) or parts[0] not in _TIME_BASED:
        return None
    klass = parts[1] if len(parts) == 3 else None
    try:
        if klass is not None:
            class_days(klass)
        numbers = [int(n) for n in parts[-1].split(".")]
        if len(numbers) == 3:
            start = datetime(numbers[0], numbers[1], numbers[2], tzinfo=UTC)
            end = start + timedelta(days=1)
        elif len(numbers) == 2:
            start = datetime(numbers[0], numbers[1], 1, tzinfo=UTC)
            end = (start + timedelta(days=32)).replace(day=1)
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return IndexSpan(parts[0], klass, start, end)


def records_index(prefix: str, kind: Kind) -> str:
    return f"{prefix}-records-{kind.value}"


def _template(
    settings: OpenSearchSettings, kind: str, properties: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "index_patterns": [pattern(settings.index_prefix, kind)],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {
                "number_of_shards": settings.shards,
                "number_of_replicas": settings.replicas,
                **extra,
            },
            "mappings": {
                "dynamic": False,
                "properties": properties,
                **({"_source": {"excludes": list(NOT_IN_SOURCE)}} if kind == "events" else {}),
            },
        },
        "_meta": {"managed_by": "soc"},
    }


_NEWEST_FIRST_ON_DISK = {"sort.field": ["time_us", "id"], "sort.order": ["desc", "desc"]}
_INDEX_SETTINGS: dict[str, dict[str, Any]] = {
    "alerts": _NEWEST_FIRST_ON_DISK,
    "events": _NEWEST_FIRST_ON_DISK,
}
"""Alerts are kept on disk in the queue's own order (newest first, then id), so a page
of the queue stops after its first hits instead of sorting every match: with 1,000,000
alerts, the first page of one tenant went from 149 ms to 1.5 ms (bench/alert_queue.py).
It applies to indices made after the template; older months keep their order. Events are
kept in the same order, for the explorer's first page and the retro-hunt's newest-first scan."""


def templates(settings: OpenSearchSettings) -> dict[str, dict[str, Any]]:
    """Template name -> body for the ``_index_template`` API, one per kind."""
    prefix = settings.index_prefix
    bodies = {
        f"{prefix}-{kind}": _template(settings, kind, properties, **_INDEX_SETTINGS.get(kind, {}))
        for kind, properties in _KINDS.items()
    }
    bodies[f"{prefix}-records"] = _template(
        settings, "records", _RECORDS, max_result_window=RECORD_PAGE_MAX
    )
    return bodies


Doc = tuple[str, str, dict[str, Any]]
"""Where a document goes and what it holds: ``(index, id, source)``."""


def sortable_number(n: float) -> str:
    """16 hex digits whose text order is the numbers' order (IEEE 754 bits, sign-flipped)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", n + 0.0))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


EVENT_INDEX_FIELDS = ("pairs", "long_pairs", "top", "numbers", "names", "words")
"""Fields of an event's document only there to be searched, not part of the event."""
NOT_IN_SOURCE = ("pairs", "top", "numbers", "names", "words")


def event_index_fields(event: Event) -> dict[str, Any]:
    """The fields the event query language matches (see the module docstring)."""
    pairs = event_pairs(event)
    texts = [f"{n}={v}" for n, v in pairs]
    numbers: dict[str, None] = {}
    for name, value in pairs:
        n = number(value)
        if n is not None:
            numbers[f"{name}={sortable_number(n)}"] = None
    top: dict[str, list[str]] = {}
    for (name, _), text in zip(pairs, texts, strict=True):
        if len(text) <= KEYWORD_MAX:
            top.setdefault(stats_slot(name), []).append(text)
    return {
        "pairs": [p for p in texts if len(p) <= KEYWORD_MAX],
        "top": top,
        "long_pairs": [p for p in texts if len(p) > KEYWORD_MAX],
        "numbers": list(numbers),
        "names": list(dict.fromkeys(n for n, _ in pairs)),
        "words": [" ".join(ws) for _, v in pairs if (ws := word_list(v))],
    }


def event_doc(prefix: str, event: Event, klass: str) -> Doc:
    source = {
        **event.model_dump(mode="json"),
        "time_us": micros(event.time),
        **event_index_fields(event),
    }
    return daily(prefix, "events", klass, event.time), event.id, source


def alert_doc(prefix: str, alert: Alert, klass: str) -> Doc:
    source = {
        **alert.model_dump(mode="json"),
        "time_us": micros(alert.time),
        "severity_rank": alert.severity.rank,
        "search_words": alert_words(alert),
    }
    return monthly(prefix, "alerts", klass, alert.time), alert.id, source


def dead_letter_doc(prefix: str, letter: DeadLetter, klass: str) -> Doc:
    source = {**letter.model_dump(mode="json"), "received_us": micros(letter.received)}
    return daily(prefix, "deadletters", klass, letter.received), letter.id, source


def _hashed(value: str) -> str:
    return "#" + hashlib.sha256(value.encode()).hexdigest()


def _token(value: Any) -> str:
    """An ASCII JSON token; ``#`` and its hash when long (JSON never starts with ``#``)."""
    text = json.dumps(value)
    return text if len(text) <= TOKEN_MAX else _hashed(text)


def term_token(name: str, value: str) -> str:
    return _token([name, value])


def word_token(word: str) -> str:
    return _token(word)


def record_id(rid: str) -> str:
    """The document id: the record's id, or ``#`` and its hash (an id never starts with ``#``)."""
    if rid.startswith("#") or len(rid.encode()) > ID_MAX_BYTES:
        return _hashed(rid)
    return rid


def record_doc(prefix: str, record: Record) -> Doc:
    source = {
        "id": record.id,
        "tenant": record.tenant,
        "version": record.version,
        "sort": record.sort,
        "terms": sorted({term_token(n, v) for n, values in record.terms.items() for v in values}),
        "words": sorted({word_token(w) for w in record.words}),
        "record": record.model_dump(mode="json"),
    }
    return records_index(prefix, record.kind), record_id(record.id), source
