"""Retention in SQLite: rows past their period deleted by time, a bounded batch at a time.

Each batch is its own short ``BEGIN IMMEDIATE`` transaction of at most
``retention.batch_size`` rows, so the pipeline's writes wait for one batch,
not for the whole pass. The period of each tenant present in a table is its
own (``retention.days(kind, tenant)``); a row is deleted only when its time
is before ``now - period``, so nothing a period covers is ever deleted.

Incidents and the audit trail are not deleted here: the store refuses a
period for them at start (:func:`refuse_unsupported`), with the reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc.errors import ConfigError
from soc.settings import RetentionSettings
from soc.store.sqlite import events as sqlite_events
from soc.store.terms import micros

UNSUPPORTED = {
    "incidents": (
        "a closed incident is still named by its alerts (Alert.incident_id, kept while "
        "alerts_days is null) and by audit entries (target incident:<id>); deleting it would "
        "leave an alert whose incident cannot be opened"
    ),
    "audit": (
        "the audit trail is one hash chain verified from its first entry "
        "(soc.audit.chain.verify expects seq 1 after the genesis hash); deleting its oldest "
        "entries would make every verification fail"
    ),
}


def refuse_unsupported(retention: RetentionSettings) -> None:
    """ConfigError when a period is set that this store cannot honour safely."""
    for kind, why in UNSUPPORTED.items():
        name = f"{kind}_days"
        tenants = [t for t, p in retention.tenants.items() if p.get(name) is not None]
        if getattr(retention, name) is not None or tenants:
            where = f" (tenants {', '.join(sorted(tenants))})" if tenants else ""
            raise ConfigError(
                f"store.retention.{name}{where}: the SQLite store keeps {kind} for good: "
                f"{why}. Set it to null."
            )


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
