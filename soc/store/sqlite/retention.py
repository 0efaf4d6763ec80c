"""Retention in SQLite: rows past their period deleted by time, a bounded batch at a time.

Each batch is its own short ``BEGIN IMMEDIATE`` transaction of at most
``retention.batch_size`` rows, so the pipeline's writes wait for one batch,
not for the whole pass. The period of each tenant present in a table is its
own (``retention.days(kind, tenant)``); a row is deleted only when its time
is before ``now - period``, so nothing a period covers is ever deleted.

Incidents and the audit trail are case records: their retention
(closed incidents with their comments; the audit chain cut at its start
behind a checkpoint) is the job's, over the records seam
(:mod:`soc.incidents.retention`, :mod:`soc.audit.retention`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc.settings import RetentionSettings
from soc.store.sqlite import events as sqlite_events
from soc.store.terms import micros


@dataclass(frozen=True)
class Table:
    kind: str
    """The retention kind (``RetentionSettings.days``) and the key of ``expire``'s result."""
    table: str
    time: str


TABLES = (
    Table("events", "events", "time_us"),
    Table("dead_letters", "dead_letters", "received_us"),
    Table("alerts", "alerts", "time_us"),
)


def tenants(conn: sqlite3.Connection, table: Table) -> Iterator[str]:
    """The tenants present in ``table``, one index seek each (tenant-first indexes)."""
    row = conn.execute(f"SELECT min(tenant) FROM {table.table}").fetchone()
    while row[0] is not None:
        yield row[0]
        row = conn.execute(
            f"SELECT min(tenant) FROM {table.table} WHERE tenant > ?", (row[0],)
        ).fetchone()


def cutoffs(
    conn: sqlite3.Connection, table: Table, retention: RetentionSettings, now: datetime
) -> list[tuple[str, int]]:
    """(tenant, time before which its rows go) for each tenant present with a period."""
    out: list[tuple[str, int]] = []
    for tenant in list(tenants(conn, table)):
        days = retention.days(table.kind, tenant)
        if days is not None:
            out.append((tenant, micros(now - timedelta(days=days))))
    return out


def delete_batch(
    conn: sqlite3.Connection,
    names: sqlite_events.FieldNames,
    table: Table,
    tenant: str,
    before: int,
    n: int,
) -> int:
    """Delete up to ``n`` rows of ``tenant`` older than ``before`` in one transaction."""
    with names.writing(conn):
        if table.kind == "events":
            rows = conn.execute(
                "SELECT rowid, doc FROM events WHERE tenant = ? AND time_us < ? LIMIT ?",
                (tenant, before, n),
            ).fetchall()
            sqlite_events.delete(conn, names, rows)
            deleted = len(rows)
        else:
            deleted = conn.execute(
                f"DELETE FROM {table.table} WHERE rowid IN (SELECT rowid FROM {table.table} "
                f"WHERE tenant = ? AND {table.time} < ? LIMIT ?)",
                (tenant, before, n),
            ).rowcount
    return int(deleted)
