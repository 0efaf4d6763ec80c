"""Case records in SQLite: blocking functions the store runs on its worker thread.

A write is one ``BEGIN IMMEDIATE`` transaction that reads the stored version,
compares it with the one the caller read, and replaces the row and its terms,
so two writers of the same version cannot both win. A batch of writes is one such
transaction, each write checked and reported on its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from soc.errors import Conflict
from soc.store.records import Kind, Record, RecordPage, RecordQuery

WORD = "_w"
"""The term name search words are kept under."""


def _write(conn: sqlite3.Connection, record: Record, expect: int) -> Record:
    """Inside a transaction: write ``record`` if its stored version is ``expect``."""
    stored = record.model_copy(update={"version": expect + 1})
    row = conn.execute(
        "SELECT version FROM records WHERE kind = ? AND id = ?", (record.kind, record.id)
    ).fetchone()
    found = int(row[0]) if row else 0
    if found != expect:
        raise Conflict(
            f"{record.kind} {record.id} is at version {found}, not {expect}",
            expected=expect,
            found=found,
        )
    conn.execute(
        "INSERT OR REPLACE INTO records (kind, id, tenant, version, sort, body) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            stored.kind,
            stored.id,
            stored.tenant,
            stored.version,
            stored.sort,
            stored.model_dump_json(),
        ),
    )
    if found:  # a record not stored has no terms
        conn.execute("DELETE FROM record_terms WHERE kind = ? AND id = ?", (record.kind, record.id))
    terms = {(name, v) for name, values in stored.terms.items() for v in values}
    terms |= {(WORD, w) for w in stored.words}
    conn.executemany(
        "INSERT OR IGNORE INTO record_terms (kind, name, value, id) VALUES (?, ?, ?, ?)",
        [(stored.kind, name, value, stored.id) for name, value in terms],
    )
    return stored


def put(conn: sqlite3.Connection, record: Record, expect: int) -> Record:
    conn.execute("BEGIN IMMEDIATE")
    try:
        stored = _write(conn, record, expect)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return stored


def put_many(
    conn: sqlite3.Connection, writes: Sequence[tuple[Record, int]]
) -> list[Record | Conflict]:
    """The writes in one transaction, each as :func:`put` would do it alone, in order; a
    write that conflicts is reported in its place and the others are kept."""
    out: list[Record | Conflict] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for record, expect in writes:
            try:
                out.append(_write(conn, record, expect))
            except Conflict as e:
                out.append(e)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return out


def get(conn: sqlite3.Connection, kind: Kind, record_id: str) -> Record | None:
    row = conn.execute(
        "SELECT body FROM records WHERE kind = ? AND id = ?", (kind, record_id)
    ).fetchone()
    return Record.model_validate_json(row[0]) if row else None


def get_many(conn: sqlite3.Connection, kind: Kind, record_ids: Sequence[str]) -> dict[str, Record]:
    found: dict[str, Record] = {}
    unique = list(dict.fromkeys(record_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        rows = conn.execute(
            f"SELECT body FROM records WHERE kind = ? AND id IN ({', '.join('?' * len(chunk))})",
            [kind, *chunk],
        ).fetchall()
        for (body,) in rows:
            record = Record.model_validate_json(body)
            found[record.id] = record
    return found


def delete(conn: sqlite3.Connection, kind: Kind, record_id: str) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        gone = conn.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))
        conn.execute("DELETE FROM record_terms WHERE kind = ? AND id = ?", (kind, record_id))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return gone.rowcount > 0


def delete_many(conn: sqlite3.Connection, kind: Kind, record_ids: Sequence[str]) -> int:
    keys = [(kind, rid) for rid in record_ids]
    conn.execute("BEGIN IMMEDIATE")
    try:
        gone = conn.executemany("DELETE FROM records WHERE kind = ? AND id = ?", keys)
        conn.executemany("DELETE FROM record_terms WHERE kind = ? AND id = ?", keys)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return max(gone.rowcount, 0)


def _has_term(name: str, values: list[str], params: list[Any]) -> str:
    params.append(name)
    params.extend(values)
    marks = ", ".join("?" * len(values))
    return (
        "EXISTS (SELECT 1 FROM record_terms t WHERE t.kind = r.kind AND t.id = r.id "
        f"AND t.name = ? AND t.value IN ({marks}))"
    )


def _among_terms(kind: str, name: str, values: list[str], params: list[Any]) -> str:
    """As :func:`_has_term`, as one set computed once: many values (a page's STIX ids) then
    cost one probe per record, not one per record and value."""
    params.extend([kind, name, *values])
    marks = ", ".join("?" * len(values))
    return (
        "r.id IN (SELECT t.id FROM record_terms t WHERE t.kind = ? "
        f"AND t.name = ? AND t.value IN ({marks}))"
    )


def find(conn: sqlite3.Connection, query: RecordQuery) -> RecordPage:
    if query.tenants is not None and not query.tenants:
        return RecordPage(items=[])
    where = ["r.kind = ?"]
    params: list[Any] = [query.kind]
    if query.tenants is not None:
        where.append(f"r.tenant IN ({', '.join('?' * len(query.tenants))})")
        params.extend(query.tenants)
    for name, values in query.terms.items():
        if not values:
            return RecordPage(items=[])
        if len(values) > 1:
            where.append(_among_terms(query.kind, name, values, params))
        else:
            where.append(_has_term(name, values, params))
    alternatives = [_has_term(n, vs, params) for n, vs in query.any_terms.items() if vs]
    if query.any_terms:
        if not alternatives:
            return RecordPage(items=[])
        where.append(f"({' OR '.join(alternatives)})")
    for name, values in query.not_terms.items():
        if values:
            where.append("NOT " + _has_term(name, values, params))
    for word in query.words:
        where.append(_has_term(WORD, [word], params))
    if query.sort_from is not None:
        where.append("r.sort >= ?")
        params.append(query.sort_from)
    if query.sort_to is not None:
        where.append("r.sort < ?")
        params.append(query.sort_to)
    direction, compare = ("DESC", "<") if query.order == "desc" else ("ASC", ">")
    if query.after is not None:
        where.append(f"(r.sort, r.id) {compare} (?, ?)")
        params.extend(query.after)
    sql = (
        f"SELECT r.body FROM records r WHERE {' AND '.join(where)} "
        f"ORDER BY r.sort {direction}, r.id {direction} LIMIT ?"
    )
    rows = conn.execute(sql, [*params, query.limit + 1]).fetchall()
    items = [Record.model_validate_json(row[0]) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    return RecordPage(items=items, next=(items[-1].sort, items[-1].id) if more else None)
