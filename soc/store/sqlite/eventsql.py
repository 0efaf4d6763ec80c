"""SQL of event searches: a query tree (:mod:`soc.store.eventquery`) as parameterized SQL.

Every node becomes a condition on ``e.rowid`` (the event's row in ``events``)
against the index tables of :mod:`soc.store.sqlite.events`; every value,
field name and word the user typed is a parameter, never SQL text. Full-text
nodes become an FTS5 ``MATCH`` expression built here from the words alone,
each as a quoted FTS5 string. ``number_of`` is the SQL function
(:func:`register`) that reads a value as a number exactly as
:func:`soc.store.eventquery.number` does, so numeric ranges agree with it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from soc.errors import QueryError
from soc.store import eventquery as q
from soc.store.sqlite.query import Sql, fts_query, one_of
from soc.store.terms import micros

_NAME = "name = (SELECT id FROM event_field_names WHERE name = ?)"


def register(conn: sqlite3.Connection) -> None:
    conn.create_function("number_of", 1, _number_of, deterministic=True)


def _number_of(value: object) -> float | None:
    return q.number(value) if isinstance(value, str) else None


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _glob(pattern: str) -> str:
    """A Like pattern as a GLOB pattern: wildcards kept, GLOB's own syntax escaped."""
    out: list[str] = []
    for kind, text in q.pattern_parts(pattern):
        if kind == "any":
            out.append("*")
        elif kind == "one":
            out.append("?")
        else:
            out.append("".join(f"[{c}]" if c in "*?[" else c for c in text or ""))
    return "".join(out)


def _fields(condition: str, field: str, values: list[Any], params: list[Any]) -> str:
    params.append(field)
    params.extend(values)
    where = f"{_NAME} AND {condition}" if condition else _NAME
    return f"e.rowid IN (SELECT event FROM event_fields WHERE {where})"


def _fts(match: str, params: list[Any]) -> str:
    params.append(match)
    return "e.rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)"


def _range(node: q.Range, params: list[Any]) -> str:
    if node.numeric:
        column = "number_of(value)"
        low = None if node.low is None else q.number(node.low)
        high = None if node.high is None else q.number(node.high)
        parts = [f"{column} IS NOT NULL"]
    else:
        column, low, high, parts = "value", node.low, node.high, []  # type: ignore[assignment]
    values: list[Any] = []
    if low is not None:
        parts.append(f"{column} {'>=' if node.include_low else '>'} ?")
        values.append(low)
    if high is not None:
        parts.append(f"{column} {'<=' if node.include_high else '<'} ?")
        values.append(high)
    return _fields(" AND ".join(parts), node.field, values, params)


COMMON = 1000
"""Events a term must be held by for a page to probe it row by row (see :func:`common`)."""


def common(conn: sqlite3.Connection, node: q.Node | None) -> set[q.Node]:
    """The equalities of ``node`` that at least :data:`COMMON` events hold.

    A condition as a set (``rowid IN (...)``) costs its whole match set on every page;
    a common one is cheaper probed for each event of the newest-first walk, which stops
    once the page is full. Counting stops at ``COMMON`` (an index range or one vocabulary
    row), so the choice costs little. Words are always a set: an FTS5 doclist is read
    whole in milliseconds, while a ``MATCH`` per row costs ~0.2 ms (``lsass`` over
    112k events: 353 ms a page probed, see bench/event_search.py).
    """
    found: set[q.Node] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        match n:
            case q.Equals(field, value):
                count = conn.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM event_fields WHERE {_NAME} "
                    "AND value = ? LIMIT ?)",
                    (field, value, COMMON),
                ).fetchone()[0]
                if count >= COMMON:
                    found.add(n)
            case q.AllOf(items) | q.AnyOf(items):
                stack.extend(items)
            case q.Not(item):
                stack.append(item)
    return found


def condition(node: q.Node, params: list[Any], probe: set[q.Node] | None = None) -> str:
    """The SQL condition on ``e`` (an ``events`` row) that ``node`` means; appends params.

    The nodes in ``probe`` are tested for each row (``EXISTS`` on the exact key) rather
    than as a set: the same meaning, another plan.
    """
    probe = probe or set()
    if node in probe:
        match node:
            case q.Equals(field, value):
                params.extend([field, value])
                return (
                    f"EXISTS (SELECT 1 FROM event_fields WHERE {_NAME} AND value = ? "
                    "AND event = e.rowid)"
                )
            case q.Words(words, phrase):
                params.append(_quoted(" ".join(words)) if phrase else fts_query(words))
                return (
                    "EXISTS (SELECT 1 FROM events_fts WHERE events_fts MATCH ? AND rowid = e.rowid)"
                )
    match node:
        case q.Equals(field, value):
            return _fields("value = ?", field, [value], params)
        case q.Contains(field, text):
            return _fields("instr(value, ?) > 0", field, [text], params)
        case q.Like(field, pattern):
            return _fields("value GLOB ?", field, [_glob(pattern)], params)
        case q.Range():
            return _range(node, params)
        case q.Exists(field):
            return _fields("", field, [], params)
        case q.Words(words, phrase):
            return _fts(_quoted(" ".join(words)) if phrase else fts_query(words), params)
        case q.WordPrefix(prefix):
            return _fts(_quoted(prefix) + " *", params)
        case q.AllOf(items):
            inner = " AND ".join(condition(i, params, probe) for i in items)
            return f"({inner})" if items else "1"
        case q.AnyOf(items):
            inner = " OR ".join(condition(i, params, probe) for i in items)
            return f"({inner})" if items else "0"
        case q.Not(item):
            return f"NOT ({condition(item, params, probe)})"
        case q.Nothing():
            return "0"
    raise QueryError(f"not a query node: {type(node).__name__}")


def matching(
    query: q.EventQuery,
    position: tuple[int, str] | None = None,
    probe: set[q.Node] | None = None,
) -> Sql:
    """``WHERE`` clause (with ``WHERE``) of the events ``query`` selects, after ``position``."""
    where: list[str] = []
    params: list[Any] = []
    if query.tenants is not None:
        one_of("e.tenant", query.tenants, where, params)
    if query.since is not None:
        where.append("e.time_us >= ?")
        params.append(micros(query.since))
    if query.until is not None:
        where.append("e.time_us < ?")
        params.append(micros(query.until))
    if query.where is not None:
        where.append(condition(query.where, params, probe))
    if position is not None:
        where.append("(e.time_us, e.id) < (?, ?)")
        params.extend(position)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def search(
    query: q.EventQuery,
    position: tuple[int, str] | None,
    limit: int,
    probe: set[q.Node] | None = None,
) -> Sql:
    """Docs of the matching events, newest first, after ``position``, at most ``limit``."""
    clause, params = matching(query, position, probe)
    sql = f"SELECT e.doc FROM events e {clause} ORDER BY e.time_us DESC, e.id DESC LIMIT ?"
    return sql, [*params, limit]


def histogram(query: q.EventQuery, size_us: int) -> Sql:
    """(bucket number, count) of the matching events; buckets floor-aligned to the epoch."""
    clause, params = matching(query)
    size = int(size_us)
    bucket = (
        f"CASE WHEN e.time_us >= 0 THEN e.time_us / {size} "
        f"ELSE -((-e.time_us - 1) / {size}) - 1 END"
    )
    return f"SELECT {bucket} AS b, count(*) FROM events e {clause} GROUP BY b", params


def stats(query: q.EventQuery, field: str, size: int) -> tuple[Sql, Sql]:
    """The top ``size`` (value, events) of ``field``; and (events with it, value rows)."""
    clause, params = matching(query)
    scope = f"FROM event_fields WHERE {_NAME} AND event IN (SELECT e.rowid FROM events e {clause})"
    top = (
        f"SELECT value, count(*) AS n {scope} GROUP BY value ORDER BY n DESC, value LIMIT ?",
        [field, *params, size],
    )
    totals = (f"SELECT count(DISTINCT event), count(*) {scope}", [field, *params])
    return top, totals


def list_matches(conn: sqlite3.Connection, table: str, query: q.EventQuery) -> None:
    """Create ``table`` (a temporary table name this module's caller made, never user text)
    holding (time, id, rowid) of every event ``query`` matches."""
    clause, params = matching(query)
    conn.execute(
        f"CREATE TABLE {table} (time_us INTEGER NOT NULL, id TEXT NOT NULL, "
        "r INTEGER NOT NULL, PRIMARY KEY (time_us, id)) WITHOUT ROWID"
    )
    conn.execute(
        f"INSERT INTO {table} SELECT e.time_us, e.id, e.rowid FROM events e {clause}", params
    )


def listed(table: str, position: tuple[int, str] | None, limit: int) -> Sql:
    """Docs of the events listed in ``table``, newest first, after ``position``."""
    where, params = "", []
    if position is not None:
        where, params = "WHERE (s.time_us, s.id) < (?, ?)", list(position)
    sql = (
        f"SELECT e.doc FROM {table} s JOIN events e ON e.rowid = s.r {where} "
        "ORDER BY s.time_us DESC, s.id DESC LIMIT ?"
    )
    return sql, [*params, limit]
