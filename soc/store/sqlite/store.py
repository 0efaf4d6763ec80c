"""The embedded store, on the standard library's sqlite3.

One connection, opened and used only by one dedicated worker thread; every
call hops there with ``run_in_executor`` so the event loop never blocks on
disk. The database runs in WAL mode with ``synchronous=NORMAL`` and a busy
timeout. Writes are ``INSERT OR IGNORE``: a stored record is never replaced
by a replay. Free text is searched with FTS5, each word quoted as a literal.
Events are indexed for the query language as they are written
(:mod:`soc.store.sqlite.events`); a start first indexes the events a database
of an older version holds, then serves.

sqlite3's exceptions are translated into :class:`~soc.errors.StoreError` here
(retriable when the database is locked or busy) and never leak past this module.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from soc.component import Component
from soc.errors import Conflict, QueryError, StoreError
from soc.log import get_logger
from soc.models import Alert, AlertPage, AlertQuery, DeadLetter, Drills, Event
from soc.settings import RetentionSettings, SqliteSettings
from soc.store._common import after, page
from soc.store.base import RuleAlertCounts, encode_cursor
from soc.store.counters import Change
from soc.store.eventquery import EventPage, EventQuery, EventStats, ValueCount
from soc.store.records import BATCH, Kind, Record, RecordPage, RecordQuery
from soc.store.sqlite import counters as sqlite_counters
from soc.store.sqlite import events as sqlite_events
from soc.store.sqlite import eventsql, schema
from soc.store.sqlite import query as sql_query
from soc.store.sqlite import records as sqlite_records
from soc.store.sqlite import retention as sqlite_retention
from soc.store.terms import from_micros, micros

log = get_logger(__name__)

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000
CACHE_KIB = 64 * 1024
"""Page cache of the connection: the event indexes are written all over their b-trees."""
_RETRIABLE = ("database is locked", "database table is locked", "busy")


def _store_error(error: sqlite3.Error) -> StoreError:
    message = str(error)
    retriable = any(m in message.lower() for m in _RETRIABLE)
    return StoreError(f"sqlite: {message}", retriable=retriable)


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"sqlite: {path} has schema version {version}, newer than this code's "
                f"{schema.SCHEMA_VERSION}"
            )
        existing = {row[1] for row in conn.execute("PRAGMA table_info(alerts)")}
        conn.executescript(
            f"BEGIN IMMEDIATE; {schema.SCHEMA} {schema.added_columns(existing)} "
            f"{schema.ALERT_DRILL_INDEX} {sqlite_events.PLAN_BACKFILL} "
            f"PRAGMA user_version = {schema.SCHEMA_VERSION}; COMMIT;"
        )
        eventsql.register(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _update_alerts(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("UPDATE alerts SET status = ?, doc = ? WHERE id = ?", rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _insert_many(conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _read_events(sql: str, params: list[Any], conn: sqlite3.Connection) -> list[Event]:
    return [Event.model_validate_json(r[0]) for r in conn.execute(sql, params)]


class SqliteStore(Component):
    """The :class:`~soc.store.base.Store` in one SQLite file."""

    def __init__(
        self, settings: SqliteSettings, retention: RetentionSettings | None = None
    ) -> None:
        self._path = settings.path
        self._retention = retention or RetentionSettings()
        self._names = sqlite_events.FieldNames()
        self._scans = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="soc-sqlite")
        try:
            loop = asyncio.get_running_loop()
            self._conn = await loop.run_in_executor(self._executor, _open, self._path)
        except (sqlite3.Error, OSError, StoreError) as e:
            self._executor.shutdown(wait=False)
            self._executor = None
            if isinstance(e, StoreError):
                raise
            if isinstance(e, sqlite3.Error):
                raise _store_error(e) from e
            raise StoreError(f"sqlite: cannot open {self._path}: {e}") from e
        indexed = await self._run(lambda c: sqlite_events.backfill(c, self._names))
        if indexed:
            log.info("stored events indexed for search", extra={"events": indexed})
        log.info("store started", extra={"backend": "sqlite", "path": str(self._path)})

    async def stop(self) -> None:
        executor, conn = self._executor, self._conn
        self._executor, self._conn = None, None
        if executor is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)
        log.info("store stopped", extra={"backend": "sqlite"})

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the connection on the worker thread."""
        conn, executor = self._conn, self._executor
        if conn is None or executor is None:
            raise StoreError("sqlite: store is not started")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, conn)
        except sqlite3.Error as e:
            raise _store_error(e) from e

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._run(lambda c: c.execute(sql, params).fetchall())

    async def check(self) -> None:
        await self._fetch("SELECT count(*) FROM sqlite_master", ())

    async def put_events(self, events: Sequence[Event]) -> None:
        if events:
            await self._run(lambda c: sqlite_events.put(c, self._names, events))

    async def put_alerts(self, alerts: Sequence[Alert]) -> None:
        rows = [
            (
                a.id,
                a.tenant,
                micros(a.time),
                a.severity.value,
                a.severity.rank,
                a.status.value,
                a.rule_id,
                a.rule_title,
                a.host,
                " ".join(a.tags),
                a.model_dump_json(),
                a.drill,
            )
            for a in alerts
        ]
        if rows:
            await self._run(lambda c: _insert_many(c, schema.INSERT_ALERT, rows))

    async def put_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        rows = [
            (d.id, d.tenant, micros(d.received), d.stage, d.reason, d.model_dump_json())
            for d in letters
        ]
        if rows:
            await self._run(lambda c: _insert_many(c, schema.INSERT_DEAD_LETTER, rows))

    async def get_event(self, event_id: str, *, tenants: list[str] | None) -> Event | None:
        rows = await self._fetch("SELECT tenant, doc FROM events WHERE id = ?", (event_id,))
        if not rows or (tenants is not None and rows[0][0] not in tenants):
            return None
        return Event.model_validate_json(rows[0][1])

    async def get_alert(self, alert_id: str, *, tenants: list[str] | None) -> Alert | None:
        rows = await self._fetch("SELECT tenant, doc FROM alerts WHERE id = ?", (alert_id,))
        if not rows or (tenants is not None and rows[0][0] not in tenants):
            return None
        return Alert.model_validate_json(rows[0][1])

    async def search_alerts(self, query: AlertQuery) -> AlertPage:
        position = after(query.cursor)
        if query.tenants is not None and not query.tenants:
            return AlertPage(items=[])
        sql, params = sql_query.alert_search(query, position)
        rows = await self._fetch(sql, params)
        return page([Alert.model_validate_json(r[0]) for r in rows], query.limit)

    async def count_dead_letters(self, *, tenants: list[str] | None) -> int:
        if tenants is not None and not tenants:
            return 0
        rows = await self._fetch(*sql_query.count_dead_letters(tenants))
        return int(rows[0][0])

    async def list_dead_letters(
        self, *, tenants: list[str] | None, limit: int = 100
    ) -> list[DeadLetter]:
        if tenants is not None and not tenants:
            return []
        rows = await self._fetch(*sql_query.dead_letters(tenants, limit))
        return [DeadLetter.model_validate_json(r[0]) for r in rows]

    async def alert_histogram(
        self,
        *,
        tenants: list[str] | None,
        since: datetime,
        until: datetime,
        bucket_s: int,
        drills: Drills = "include",
    ) -> dict[datetime, int]:
        if tenants is not None and not tenants:
            return {}
        size = bucket_s * 1_000_000
        sql, params = sql_query.alert_histogram(tenants, since, until, size, drills=drills)
        rows = await self._fetch(sql, params)
        return {from_micros(int(b) * size): int(n) for b, n in rows}

    async def rule_alert_counts(
        self, *, tenants: list[str] | None, since: datetime, recent: datetime
    ) -> dict[str, RuleAlertCounts]:
        if tenants is not None and not tenants:
            return {}
        rows = await self._fetch(*sql_query.rule_alert_counts(tenants, since, recent))
        return {
            str(rule): RuleAlertCounts(alerts=int(n), recent=int(r), last=from_micros(int(t)))
            for rule, n, r, t in rows
        }

    async def update_alerts(self, alerts: Sequence[Alert]) -> None:
        rows = [(a.status.value, a.model_dump_json(), a.id) for a in alerts]
        if rows:
            await self._run(lambda c: _update_alerts(c, rows))

    async def _docs(self, table: str, ids: Sequence[str], tenants: list[str] | None) -> list[str]:
        if not ids or (tenants is not None and not tenants):
            return []
        docs: list[str] = []
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), 500):
            chunk = unique[i : i + 500]
            where: list[str] = []
            params: list[Any] = []
            sql_query.one_of("id", chunk, where, params)
            if tenants is not None:
                sql_query.one_of("tenant", tenants, where, params)
            rows = await self._fetch(f"SELECT doc FROM {table} WHERE {' AND '.join(where)}", params)
            docs += [r[0] for r in rows]
        return docs

    async def get_alerts(self, ids: Sequence[str], *, tenants: list[str] | None) -> list[Alert]:
        return [Alert.model_validate_json(d) for d in await self._docs("alerts", ids, tenants)]

    async def get_events(self, ids: Sequence[str], *, tenants: list[str] | None) -> list[Event]:
        return [Event.model_validate_json(d) for d in await self._docs("events", ids, tenants)]

    async def put_record(self, record: Record, *, expect: int) -> Record:
        return await self._run(lambda c: sqlite_records.put(c, record, expect))

    async def get_record(self, kind: Kind, record_id: str) -> Record | None:
        return await self._run(lambda c: sqlite_records.get(c, kind, record_id))

    async def put_records(self, writes: Sequence[tuple[Record, int]]) -> list[Record | Conflict]:
        out: list[Record | Conflict] = []
        for start in range(0, len(writes), BATCH):
            chunk = writes[start : start + BATCH]
            out += await self._run(partial(sqlite_records.put_many, writes=chunk))
        return out

    async def get_records(self, kind: Kind, record_ids: Sequence[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for start in range(0, len(record_ids), BATCH):
            chunk = record_ids[start : start + BATCH]
            found |= await self._run(partial(sqlite_records.get_many, kind=kind, record_ids=chunk))
        return found

    async def find_records(self, query: RecordQuery) -> RecordPage:
        return await self._run(lambda c: sqlite_records.find(c, query))

    async def delete_record(self, kind: Kind, record_id: str) -> bool:
        return await self._run(lambda c: sqlite_records.delete(c, kind, record_id))

    async def delete_records(self, kind: Kind, record_ids: Sequence[str]) -> int:
        if not record_ids:
            return 0
        return await self._run(lambda c: sqlite_records.delete_many(c, kind, record_ids))

    async def update_counter(self, key: str, change: Change[T]) -> T:
        return await self._run(lambda c: sqlite_counters.update(c, key, change))

    async def expire_counters(self, now: float) -> int:
        return await self._run(lambda c: sqlite_counters.expire(c, now))

    async def search_events(self, query: EventQuery) -> EventPage:
        position = after(query.cursor)
        if query.tenants is not None and not query.tenants:
            return EventPage(items=[])

        def read(c: sqlite3.Connection) -> list[Event]:
            probe = eventsql.common(c, query.where)
            return _read_events(*eventsql.search(query, position, query.limit + 1, probe), c)

        items = await self._run(read)
        if len(items) <= query.limit:
            return EventPage(items=items)
        kept = items[: query.limit]
        return EventPage(items=kept, next_cursor=encode_cursor(kept[-1].time, kept[-1].id))

    async def _event_docs(
        self, query: EventQuery, position: tuple[int, str] | None, limit: int
    ) -> list[Event]:
        return await self._run(partial(_read_events, *eventsql.search(query, position, limit)))

    async def scan_events(
        self, query: EventQuery, *, batch: int = 2000
    ) -> AsyncIterator[list[Event]]:
        """Without a ``where``, pages of the time index; with one, the matching events are
        first listed once in a temporary table (time, id, rowid), which each batch then reads
        by keyset: a page of an indexed condition costs as much as its whole match set, so
        paging the condition itself would cost that once per batch."""
        if batch < 1:
            raise QueryError("batch must be at least 1")
        if query.tenants is not None and not query.tenants:
            return
        if query.where is None:
            position: tuple[int, str] | None = None
            while True:
                items = await self._event_docs(query, position, batch)
                if items:
                    yield items
                if len(items) < batch:
                    return
                position = micros(items[-1].time), items[-1].id
        table = f"temp.event_scan_{next(self._scans)}"
        await self._run(lambda c: eventsql.list_matches(c, table, query))
        try:
            position = None
            while True:
                items = await self._run(
                    partial(_read_events, *eventsql.listed(table, position, batch))
                )
                if items:
                    yield items
                if len(items) < batch:
                    return
                position = micros(items[-1].time), items[-1].id
        finally:
            if self._conn is not None:
                await self._run(lambda c: c.execute(f"DROP TABLE IF EXISTS {table}"))

    async def event_histogram(self, query: EventQuery, *, bucket_s: int) -> dict[datetime, int]:
        if bucket_s < 1:
            raise QueryError("bucket_s must be at least 1")
        if query.tenants is not None and not query.tenants:
            return {}
        size = bucket_s * 1_000_000
        rows = await self._fetch(*eventsql.histogram(query, size))
        return {from_micros(int(b) * size): int(n) for b, n in rows}

    async def event_stats(self, query: EventQuery, *, field: str, size: int = 10) -> EventStats:
        name = field.lower()
        if query.tenants is not None and not query.tenants:
            return EventStats(field=name, events=0, values=[])
        (top_sql, top_params), (totals_sql, totals_params) = eventsql.stats(
            query, name, max(size, 0)
        )

        def read(c: sqlite3.Connection) -> tuple[list[Any], tuple[Any, ...]]:
            return (
                c.execute(top_sql, top_params).fetchall(),
                c.execute(totals_sql, totals_params).fetchone(),
            )

        top, (events, rows) = await self._run(read)
        values = [ValueCount(value=v, count=int(n)) for v, n in top]
        other = int(rows) - sum(v.count for v in values)
        return EventStats(field=name, events=int(events), values=values, other=other)

    async def expire(self, now: datetime) -> dict[str, int]:
        deleted: dict[str, int] = {}
        n = self._retention.batch_size
        for table in sqlite_retention.TABLES:
            deleted[table.kind] = 0
            cutoffs = await self._run(
                partial(sqlite_retention.cutoffs, table=table, retention=self._retention, now=now)
            )
            for tenant, before in cutoffs:
                while True:
                    gone = await self._run(
                        partial(
                            sqlite_retention.delete_batch,
                            names=self._names,
                            table=table,
                            tenant=tenant,
                            before=before,
                            n=n,
                        )
                    )
                    deleted[table.kind] += gone
                    if gone < n:
                        break
                    await asyncio.sleep(0)  # let the pipeline's writes in between batches
        return deleted
