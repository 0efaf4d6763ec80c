"""Counters in SQLite (:mod:`soc.store.counters`): functions the store runs on its worker thread.

One update is one ``BEGIN IMMEDIATE`` transaction: no other process writes the file
between the read and the ``INSERT ... ON CONFLICT DO UPDATE`` (or ``DELETE``).
"""

from __future__ import annotations

import sqlite3

from soc.store.counters import Change, Counter, T, check_key


def update(conn: sqlite3.Connection, key: str, change: Change[T]) -> T:
    check_key(key)
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT body FROM counters WHERE key = ?", (key,)).fetchone()
        stored = Counter.model_validate_json(row[0]) if row else None
        new, answer = change(stored)
        if new is stored:
            pass
        elif new is None:
            if row:
                conn.execute("DELETE FROM counters WHERE key = ?", (key,))
        else:
            conn.execute(
                "INSERT INTO counters (key, body, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires = excluded.expires",
                (key, new.model_dump_json(), new.expires),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return answer


def expire(conn: sqlite3.Connection, now: float) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        gone = conn.execute("DELETE FROM counters WHERE expires <= ?", (now,)).rowcount
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return int(gone)
