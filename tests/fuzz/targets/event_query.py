"""The event search's query text (Lucene syntax via luqum, soc.store.eventquery.parse),
made an OpenSearch query (soc.store.opensearch.query) and an SQLite one
(soc.store.sqlite.eventsql) that is run on an empty in-memory store of the real schema.

A query is refused only with QuerySyntaxError (HTTP 400 naming the column); once
accepted, both stores must take it: an SQL error from SQLite is a finding.
"""

from __future__ import annotations

import json
import sqlite3

from soc.store.eventquery import EventQuery, QuerySyntaxError, parse
from soc.store.opensearch.query import event_filter
from soc.store.sqlite import eventsql
from soc.store.sqlite.schema import SCHEMA
from tests.fuzz.targets._common import Finding, text

_conn: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(":memory:")
        _conn.executescript(SCHEMA)
        eventsql.register(_conn)
    return _conn


def fuzz_one(data: bytes) -> None:
    try:
        node = parse(text(data))
    except QuerySyntaxError as e:
        if not 1 <= e.column <= len(text(data)) + 1:
            raise Finding(f"column {e.column} outside the query") from e
        return
    query = EventQuery(tenants=["t1"], where=node)
    json.dumps(event_filter(query))
    conn = _db()
    try:
        probe = eventsql.common(conn, node)
        sql, params = eventsql.search(query, None, 10, probe)
        conn.execute(sql, params).fetchall()
    except sqlite3.Error as e:
        raise Finding(f"SQLite refused an accepted query: {e}") from e
