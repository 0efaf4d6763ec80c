"""Queries of the OpenSearch store, as structured DSL only.

User input only ever fills the values of ``term``, ``terms``, ``ids`` and
``range`` clauses; free text becomes one ``term`` per word on the
``search_words`` field (cut by :func:`soc.store._common.words`), never
``query_string`` syntax.
"""

from __future__ import annotations

from typing import Any

from soc.models import AlertQuery
from soc.store._common import micros, words

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


def dead_letters(tenants: list[str] | None, limit: int) -> dict[str, Any]:
    return {"size": limit, "query": filtered(tenant_filter(tenants)), "sort": RECEIVED_NEWEST_FIRST}
