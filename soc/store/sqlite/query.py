"""SQL of the embedded store's searches: user values only ever as parameters.

Each function returns ``(sql, params)``. Free text is cut into words
(:func:`soc.store.terms.words`) and each word handed to FTS5 as a quoted
string, so no input is ever read as query syntax.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from soc.models import AlertQuery, Drills
from soc.store.terms import micros, words

Sql = tuple[str, list[Any]]


def fts_query(terms: Sequence[str]) -> str:
    """Every word as a quoted FTS5 string (inner quotes doubled), all required."""
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)


def one_of(column: str, values: Sequence[str], where: list[str], params: list[Any]) -> None:
    where.append(f"{column} IN ({', '.join('?' * len(values))})")
    params.extend(values)


def alert_search(query: AlertQuery, position: tuple[int, str] | None) -> Sql:
    """Alerts matching ``query``, newest first, after ``position``; one more than the limit."""
    where: list[str] = []
    params: list[Any] = []
    if query.tenants is not None:
        one_of("tenant", query.tenants, where, params)
    if query.severity:
        one_of("severity", [s.value for s in query.severity], where, params)
    if query.rule_id:
        one_of("rule_id", query.rule_id, where, params)
    if query.status:
        one_of("status", [s.value for s in query.status], where, params)
    if query.host is not None:
        where.append("host = ?")
        params.append(query.host)
    if query.drill is not None:
        where.append("drill = ?")
        params.append(query.drill)
    drill_clause(query.drills, where)
    if query.since is not None:
        where.append("time_us >= ?")
        params.append(micros(query.since))
    if query.until is not None:
        where.append("time_us < ?")
        params.append(micros(query.until))
    terms = words(query.text or "")
    if terms:
        where.append("rowid IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ?)")
        params.append(fts_query(terms))
    if position is not None:
        where.append("(time_us, id) < (?, ?)")
        params.extend(position)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT doc FROM alerts {clause} ORDER BY time_us DESC, id DESC LIMIT ?"
    return sql, [*params, query.limit + 1]


def _tenant_clause(tenants: list[str] | None) -> Sql:
    where: list[str] = []
    params: list[Any] = []
    if tenants is not None:
        one_of("tenant", tenants, where, params)
    return (f"WHERE {where[0]}" if where else ""), params


def count_dead_letters(tenants: list[str] | None) -> Sql:
    clause, params = _tenant_clause(tenants)
    return f"SELECT count(*) FROM dead_letters {clause}", params


def dead_letters(tenants: list[str] | None, limit: int) -> Sql:
    """The newest dead letters first."""
    clause, params = _tenant_clause(tenants)
    sql = f"SELECT doc FROM dead_letters {clause} ORDER BY received_us DESC, id DESC LIMIT ?"
    return sql, [*params, max(limit, 0)]


def drill_clause(drills: Drills, where: list[str]) -> None:
    """Live alerts only (``exclude``), drills' only (``only``), or both."""
    if drills == "exclude":
        where.append("drill IS NULL")
    elif drills == "only":
        where.append("drill IS NOT NULL")


def alert_histogram(
    tenants: list[str] | None,
    since: datetime,
    until: datetime,
    size_us: int,
    *,
    drills: Drills = "include",
) -> Sql:
    """Alert counts per bucket of ``size_us`` microseconds (bucket number, count)."""
    where = ["time_us >= ?", "time_us < ?"]
    params: list[Any] = [micros(since), micros(until)]
    if tenants is not None:
        one_of("tenant", tenants, where, params)
    drill_clause(drills, where)
    sql = (
        f"SELECT time_us / {int(size_us)} AS b, count(*) FROM alerts "
        f"WHERE {' AND '.join(where)} GROUP BY b"
    )
    return sql, params


def rule_alert_counts(tenants: list[str] | None, since: datetime, recent: datetime) -> Sql:
    """(rule id, alerts since, alerts since recent, newest time) per rule, by the time index."""
    where = ["time_us >= ?"]
    params: list[Any] = [micros(recent), micros(since)]
    if tenants is not None:
        one_of("tenant", tenants, where, params)
    sql = (
        "SELECT rule_id, count(*), sum(time_us >= ?), max(time_us) FROM alerts "
        f"WHERE {' AND '.join(where)} GROUP BY rule_id"
    )
    return sql, params
