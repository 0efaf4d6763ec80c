"""Queries of the OpenSearch store, as structured DSL only, and the one way to run them.

User input only ever fills the values of ``term``, ``terms``, ``ids`` and
``range`` clauses; free text becomes one ``term`` per word on the
``search_words`` field (cut by :func:`soc.store.terms.words`), never
``query_string`` syntax. Case records are matched on their tokens
(:func:`~soc.store.opensearch.schema.term_token`), never on raw values.
Every search of the store and of its case records goes through
:func:`search_whole`, which answers only with every shard's hits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import TransportError

from soc.errors import StoreError
from soc.models import AlertQuery, Drills
from soc.store.eventquery import (
    AllOf,
    AnyOf,
    Contains,
    Equals,
    EventQuery,
    Exists,
    Like,
    Node,
    Not,
    Nothing,
    Range,
    WordPrefix,
    Words,
    number,
)
from soc.store.opensearch.schema import (
    KEYWORD_MAX,
    sortable_number,
    stats_slot,
    term_token,
    word_token,
)
from soc.store.records import RecordQuery
from soc.store.terms import micros, words

NEWEST_FIRST = [
    {"time_us": {"order": "desc", "unmapped_type": "long"}},
    {"id": {"order": "desc", "unmapped_type": "keyword"}},
]
"""Alerts: by time, then id, both descending; ``search_after`` takes ``[time_us, id]``."""

RECEIVED_NEWEST_FIRST = [
    {"received_us": {"order": "desc", "unmapped_type": "long"}},
    {"id": {"order": "desc", "unmapped_type": "keyword"}},
]

MISSING_INDEX_OK = {"ignore_unavailable": "true", "allow_no_indices": "true"}
"""Reading before the first write finds nothing rather than failing."""


def tenant_filter(tenants: list[str] | None) -> list[dict[str, Any]]:
    """``None`` is every tenant (no clause); callers handle ``[]`` (nothing) before."""
    return [] if tenants is None else [{"terms": {"tenant": tenants}}]


def filtered(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"filter": clauses}}


def by_id(record_id: str, tenants: list[str] | None) -> dict[str, Any]:
    return {
        "size": 1,
        "query": filtered([{"ids": {"values": [record_id]}}, *tenant_filter(tenants)]),
    }


def by_ids(ids: Sequence[str], tenants: list[str] | None) -> dict[str, Any]:
    """At most one document per id (an id written again at another time lands elsewhere)."""
    return {
        "size": len(ids),
        "query": filtered([{"ids": {"values": list(ids)}}, *tenant_filter(tenants)]),
        "collapse": {"field": "id"},
        "track_total_hits": False,
    }


def alert_search(query: AlertQuery, position: tuple[int, str] | None) -> dict[str, Any]:
    """One page (plus one, to tell whether another follows) of matching alerts."""
    clauses = tenant_filter(query.tenants)
    if query.severity:
        clauses.append({"terms": {"severity": [s.value for s in query.severity]}})
    if query.rule_id:
        clauses.append({"terms": {"rule_id": query.rule_id}})
    if query.status:
        clauses.append({"terms": {"status": [s.value for s in query.status]}})
    if query.host is not None:
        clauses.append({"term": {"host": query.host}})
    if query.drill is not None:
        clauses.append({"term": {"drill": query.drill}})
    clauses += drill_clauses(query.drills)
    bounds: dict[str, int] = {}
    if query.since is not None:
        bounds["gte"] = micros(query.since)
    if query.until is not None:
        bounds["lt"] = micros(query.until)
    if bounds:
        clauses.append({"range": {"time_us": bounds}})
    clauses.extend({"term": {"search_words": w}} for w in words(query.text or ""))
    body: dict[str, Any] = {
        "size": query.limit + 1,
        "query": filtered(clauses),
        "sort": NEWEST_FIRST,
        "track_total_hits": False,
    }
    if position is not None:
        body["search_after"] = list(position)
    return body


def drill_clauses(drills: Drills) -> list[dict[str, Any]]:
    """Live alerts only (``exclude``: no ``drill``), drills' only (``only``), or both."""
    if drills == "exclude":
        return [{"bool": {"must_not": [{"exists": {"field": "drill"}}]}}]
    if drills == "only":
        return [{"exists": {"field": "drill"}}]
    return []


def alert_histogram(
    tenants: list[str] | None,
    since_us: int,
    until_us: int,
    bucket_s: int,
    *,
    drills: Drills = "include",
) -> dict[str, Any]:
    """Non-empty buckets of event time, aligned to the epoch (keys in epoch milliseconds)."""
    clauses = [*tenant_filter(tenants), {"range": {"time_us": {"gte": since_us, "lt": until_us}}}]
    clauses += drill_clauses(drills)
    histogram = {"field": "time", "fixed_interval": f"{bucket_s}s", "min_doc_count": 1}
    return {
        "size": 0,
        "query": filtered(clauses),
        "aggs": {"buckets": {"date_histogram": histogram}},
        "track_total_hits": False,
    }


RULES_COUNTED_MAX = 10_000
"""Distinct rules one count of alerts per rule answers for (a SigmaHQ snapshot has ~3,500)."""


def rule_alert_counts(tenants: list[str] | None, since_us: int, recent_us: int) -> dict[str, Any]:
    """Alerts per rule id since ``since_us``: count, those since ``recent_us``, newest time."""
    clauses = [*tenant_filter(tenants), {"range": {"time_us": {"gte": since_us}}}]
    return {
        "size": 0,
        "query": filtered(clauses),
        "aggs": {
            "rules": {
                "terms": {"field": "rule_id", "size": RULES_COUNTED_MAX},
                "aggs": {
                    "last": {"max": {"field": "time_us"}},
                    "recent": {"filter": {"range": {"time_us": {"gte": recent_us}}}},
                },
            }
        },
        "track_total_hits": False,
    }


def dead_letters(tenants: list[str] | None, limit: int) -> dict[str, Any]:
    return {"size": limit, "query": filtered(tenant_filter(tenants)), "sort": RECEIVED_NEWEST_FIRST}


def _has_any(name: str, values: list[str]) -> dict[str, Any]:
    return {"terms": {"terms": [term_token(name, v) for v in values]}}


def record_search(query: RecordQuery) -> dict[str, Any] | None:
    """One page (plus one) of matching records; ``None`` when nothing can match."""
    if query.tenants is not None and not query.tenants:
        return None
    clauses = tenant_filter(query.tenants)
    for name, values in query.terms.items():
        if not values:
            return None
        clauses.append(_has_any(name, values))
    if query.any_terms:
        alternatives = [_has_any(n, vs) for n, vs in query.any_terms.items() if vs]
        if not alternatives:
            return None
        clauses.append({"bool": {"should": alternatives, "minimum_should_match": 1}})
    excluded = [_has_any(n, vs) for n, vs in query.not_terms.items() if vs]
    if excluded:
        clauses.append({"bool": {"must_not": excluded}})
    clauses.extend({"term": {"words": word_token(w)}} for w in query.words)
    bounds: dict[str, int] = {}
    if query.sort_from is not None:
        bounds["gte"] = query.sort_from
    if query.sort_to is not None:
        bounds["lt"] = query.sort_to
    if bounds:
        clauses.append({"range": {"sort": bounds}})
    body: dict[str, Any] = {
        "size": query.limit + 1,
        "query": filtered(clauses),
        "sort": [
            {"sort": {"order": query.order, "unmapped_type": "long"}},
            {"id": {"order": query.order, "unmapped_type": "keyword"}},
        ],
        "_source": ["record"],
        "track_total_hits": False,
    }
    if query.after is not None:
        body["search_after"] = list(query.after)
    return body


SHARD_RETRIES_S = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Waits before asking again when a shard did not answer: an index the pipeline has just
created (a new day's events, a new month's alerts) has its shard starting for a moment."""


async def search_whole(
    client: AsyncOpenSearch, *, index: str, body: dict[str, Any], what: str
) -> dict[str, Any]:
    """A search answered by every shard.

    While a shard does not answer (an index being made: every shard failed, HTTP 503;
    or some shards failed, a 200 with fewer hits), it is asked again for ~1.5 s; then
    the 503 goes to the caller's translation, and a partial answer is a retriable
    StoreError (see :func:`whole`).
    """
    for wait in (*SHARD_RETRIES_S, None):
        try:
            response: dict[str, Any] = await client.search(
                index=index, body=body, params=MISSING_INDEX_OK
            )
            return whole(response, what)
        except StoreError:
            if wait is None:
                raise
        except TransportError as e:
            if e.status_code != 503 or wait is None:
                raise
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")


def whole(response: dict[str, Any], what: str) -> dict[str, Any]:
    """The search response, if every shard answered.

    A shard that failed (rejected under load, still starting) leaves a 200 with
    fewer hits; an empty page must never stand in for "nothing found", so it is
    a retriable StoreError instead.
    """
    shards = response.get("_shards") or {}
    failed = int(shards.get("failed") or 0)
    if failed:
        reasons = [
            str((f.get("reason") or {}).get("type", "?")) for f in shards.get("failures", [])
        ]
        raise StoreError(
            f"opensearch: {what}: {failed} of {shards.get('total')} shards failed: {reasons[:3]}",
            retriable=True,
        )
    return response


# --- events -----------------------------------------------------------------------


def _pair(name: str, value: str) -> str:
    return f"{name}={value}"


def _escape_wildcard(text: str) -> str:
    return "".join("\\" + c if c in "*?\\" else c for c in text)


def _range(node: Range) -> dict[str, Any]:
    """Numbers on ``numbers`` (order-preserving encoding), text on ``pairs``; a bound's
    ``name=`` prefix keeps the range inside the field (``name>`` is just past it)."""
    field = "numbers" if node.numeric else "pairs"

    def encoded(bound: str) -> str:
        if node.numeric:
            n = number(bound)
            assert n is not None  # numeric means every bound is a number
            return _pair(node.field, sortable_number(n))
        return _pair(node.field, bound)

    bounds: dict[str, str] = {}
    if node.low is None:
        bounds["gte"] = _pair(node.field, "")
    else:
        bounds["gte" if node.include_low else "gt"] = encoded(node.low)
    if node.high is None:
        bounds["lt"] = f"{node.field}>"
    else:
        bounds["lte" if node.include_high else "lt"] = encoded(node.high)
    return {"range": {field: bounds}}


def _either(clause: str, pattern: str) -> dict[str, Any]:
    """A wildcard over short and long pairs alike."""
    return {
        "bool": {
            "should": [{clause: {f: {"value": pattern}}} for f in ("pairs", "long_pairs")],
            "minimum_should_match": 1,
        }
    }


def _equals(field: str, value: str) -> dict[str, Any]:
    pair = _pair(field, value)
    return {"term": {"pairs" if len(pair) <= KEYWORD_MAX else "long_pairs": pair}}


def compile_where(node: Node) -> dict[str, Any]:
    """The DSL of one query node (:mod:`soc.store.eventquery` says what each means).

    Node values fill ``term``, ``wildcard``, ``range``, ``prefix`` and ``match_phrase``
    clauses as literals (wildcard metacharacters of literal text escaped); nothing
    is ever parsed by OpenSearch as query syntax.
    """
    match node:
        case Equals(field, value):
            return _equals(field, value)
        case Contains(field, text):
            return _either("wildcard", f"{_escape_wildcard(field)}=*{_escape_wildcard(text)}*")
        case Like(field, pattern):
            return _either("wildcard", f"{_escape_wildcard(field)}={pattern}")
        case Range():
            return _range(node)
        case Exists(field):
            return {"term": {"names": field}}
        case Words(words, phrase):
            if phrase:
                return {"match_phrase": {"words": {"query": " ".join(words)}}}
            return filtered([{"match_phrase": {"words": {"query": w}}} for w in words])
        case WordPrefix(prefix):
            return {"prefix": {"words": {"value": prefix}}}
        case AllOf(items):
            return filtered([compile_where(i) for i in items])
        case AnyOf(items):
            return {
                "bool": {"should": [compile_where(i) for i in items], "minimum_should_match": 1}
            }
        case Not(item):
            return {"bool": {"must_not": [compile_where(item)]}}
        case Nothing():
            return {"match_none": {}}
    raise AssertionError(f"unknown query node {node!r}")


def event_filter(query: EventQuery) -> dict[str, Any]:
    """Tenants, [since, until) on event time, and the where-tree."""
    clauses = tenant_filter(query.tenants)
    bounds: dict[str, int] = {}
    if query.since is not None:
        bounds["gte"] = micros(query.since)
    if query.until is not None:
        bounds["lt"] = micros(query.until)
    if bounds:
        clauses.append({"range": {"time_us": bounds}})
    if query.where is not None:
        clauses.append(compile_where(query.where))
    return filtered(clauses)


def event_search(
    query: EventQuery,
    position: tuple[int, str] | None,
    size: int,
    id_range: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """``size`` matching events newest first (time, then id) after ``position``.

    The whole ``_source`` is asked for: the only indexing field it holds is
    ``long_pairs``, which :class:`~soc.models.Event` passes over, and filtering the
    source made OpenSearch parse and write again every document it returned (a scan
    read 6,600 events/s with the filter and 8,100 without, ADR 0012).

    ``id_range``: [low, high) on the event id, either end open when None; a scan reads
    two such parts side by side.
    """
    filter_ = event_filter(query)
    ids = {op: end for op, end in zip(("gte", "lt"), id_range, strict=True) if end is not None}
    if ids:
        filter_ = filtered([filter_, {"range": {"id": ids}}])
    body: dict[str, Any] = {
        "size": size,
        "query": filter_,
        "sort": NEWEST_FIRST,
        "track_total_hits": False,
    }
    if position is not None:
        body["search_after"] = list(position)
    return body


def event_histogram(query: EventQuery, bucket_s: int) -> dict[str, Any]:
    """Non-empty buckets of event time aligned to the epoch; keys in microseconds."""
    bucket_us = bucket_s * 1_000_000
    return {
        "size": 0,
        "query": event_filter(query),
        "aggs": {
            "buckets": {
                "histogram": {"field": "time_us", "interval": bucket_us, "min_doc_count": 1}
            }
        },
        "track_total_hits": False,
    }


def event_stats(query: EventQuery, field: str, size: int) -> dict[str, Any]:
    """The events having ``field`` and the commonest ``name=value`` pairs of that name.

    ``include`` is a regular expression made of the escaped name: Lucene intersects it
    with the terms dictionary, so only that field's pairs are visited.
    """
    name = field.lower()
    return {
        "size": 0,
        "query": event_filter(query),
        "aggs": {
            "has": {
                "filter": {"term": {"names": name}},
                "aggs": {
                    "top": {
                        "terms": {
                            "field": f"top.{stats_slot(name)}",
                            "include": _regex_literal(f"{name}=") + ".*",
                            "size": size,
                            "shard_size": max(size * 5, 100),
                        }
                    }
                },
            }
        },
        "track_total_hits": False,
    }


_REGEX_SPECIAL = set('.?+*|{}[]()"\\#@&<>~')


def _regex_literal(text: str) -> str:
    """``text`` matched literally by a Lucene regular expression."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)
