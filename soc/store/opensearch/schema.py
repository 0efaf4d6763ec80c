"""Index names and composable index templates of the OpenSearch store.

Every index is time-based and its name follows from the record alone, so a
record written again (same id, same time) lands in the same index, where
``op_type=create`` keeps the stored one:

    {prefix}-events-YYYY.MM.DD        by the event's own time
    {prefix}-alerts-YYYY.MM           by the alert's time (the event's time)
    {prefix}-deadletters-YYYY.MM.DD   by when the input was received
    {prefix}-incidents-YYYY.MM        by the incident's time

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
``raw`` and ``fields`` are kept but not indexed (``enabled: false``):
``flat_object`` refuses any document with a value over 32766 bytes (an "immense
term"; PowerShell script blocks exceed it) and has no ``ignore_above`` in
OpenSearch 2.19. A template applies to indices made after it is put: an index
made before a new property was added indexes it from the next day's index on.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from soc.models import Alert, DeadLetter, Event
from soc.settings import OpenSearchSettings
from soc.store._common import alert_words
from soc.store.records import Kind, Record
from soc.store.terms import micros

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
}

_ALERTS = {
    "id": _KEYWORD,
    "tenant": _KEYWORD,
    "rule_id": _DATA_KEYWORD,
    "rule_title": {"type": "text", "fields": {"keyword": _DATA_KEYWORD}},
    "rule_version": _DATA_KEYWORD,
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
}

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


def daily(prefix: str, kind: str, t: datetime) -> str:
    return f"{prefix}-{kind}-{t.year:04d}.{t.month:02d}.{t.day:02d}"


def monthly(prefix: str, kind: str, t: datetime) -> str:
    return f"{prefix}-{kind}-{t.year:04d}.{t.month:02d}"


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
            "mappings": {"dynamic": False, "properties": properties},
        },
        "_meta": {"managed_by": "soc"},
    }


_INDEX_SORT: dict[str, dict[str, Any]] = {
    "alerts": {"sort.field": ["time_us", "id"], "sort.order": ["desc", "desc"]},
}
"""Alerts are kept on disk in the queue's own order (newest first, then id), so a page
of the queue stops after its first hits instead of sorting every match: with 1,000,000
alerts, the first page of one tenant went from 149 ms to 1.5 ms (bench/alert_queue.py).
It applies to indices made after the template; older months keep their order."""


def templates(settings: OpenSearchSettings) -> dict[str, dict[str, Any]]:
    """Template name -> body for the ``_index_template`` API, one per kind."""
    prefix = settings.index_prefix
    bodies = {
        f"{prefix}-{kind}": _template(settings, kind, properties, **_INDEX_SORT.get(kind, {}))
        for kind, properties in _KINDS.items()
    }
    bodies[f"{prefix}-records"] = _template(
        settings, "records", _RECORDS, max_result_window=RECORD_PAGE_MAX
    )
    return bodies


Doc = tuple[str, str, dict[str, Any]]
"""Where a document goes and what it holds: ``(index, id, source)``."""


def event_doc(prefix: str, event: Event) -> Doc:
    source = {**event.model_dump(mode="json"), "time_us": micros(event.time)}
    return daily(prefix, "events", event.time), event.id, source


def alert_doc(prefix: str, alert: Alert) -> Doc:
    source = {
        **alert.model_dump(mode="json"),
        "time_us": micros(alert.time),
        "severity_rank": alert.severity.rank,
        "search_words": alert_words(alert),
    }
    return monthly(prefix, "alerts", alert.time), alert.id, source


def dead_letter_doc(prefix: str, letter: DeadLetter) -> Doc:
    source = {**letter.model_dump(mode="json"), "received_us": micros(letter.received)}
    return daily(prefix, "deadletters", letter.received), letter.id, source


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
