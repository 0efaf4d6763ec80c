"""The OpenSearch store, on opensearch-py's AsyncOpenSearch.

On start it waits, with backoff and within ``connect_timeout_s``, for the
cluster, then puts one composable index template per kind of record (see
:mod:`soc.store.opensearch.schema`). Writes are bulk ``create`` operations:
an id already stored answers 409 and is kept, which makes every write
idempotent. Analysts' changes to alerts are bulk ``update`` operations, where
an id not stored answers 404 and is skipped. Items refused with 429 or 5xx
(or, for an update, a 409 left after its retries), and failed requests, are
retried ``bulk_retries`` times with backoff, then reported as a retriable
:class:`~soc.errors.StoreError`; any other refusal (a mapping error) is not
retriable. Queries are structured DSL only; user text becomes literal terms.
Case records are kept by :mod:`soc.store.opensearch.records`.

opensearch-py's exceptions are translated into StoreError here and never leak
past this module.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import OpenSearchException, TransportError
from opensearchpy.serializer import JSONSerializer

from soc import fastjson
from soc.component import Component
from soc.errors import Conflict, StoreError
from soc.log import get_logger
from soc.models import Alert, AlertPage, AlertQuery, DeadLetter, Drills, Event
from soc.settings import OpenSearchSettings, RetentionSettings
from soc.store._common import after, page
from soc.store.base import RuleAlertCounts, encode_cursor
from soc.store.counters import Change, T
from soc.store.eventquery import EventPage, EventQuery, EventStats, ValueCount
from soc.store.opensearch import counters, records
from soc.store.opensearch import query as dsl
from soc.store.opensearch import schema as mappings
from soc.store.opensearch.merge import Hit, merge_newest
from soc.store.opensearch.schema import Doc
from soc.store.records import Kind, Record, RecordPage, RecordQuery
from soc.store.terms import from_micros, micros

SCAN_BATCH_MAX = 10_000
"""OpenSearch's default ``index.max_result_window``: the largest page one search returns."""
SCAN_PARTS: tuple[tuple[str | None, str | None], ...] = ((None, "8"), ("8", None))
"""A scan reads the events whose ids sort below "8" and the others side by side, each
with its next batch asked for while this one is matched: OpenSearch answers one part
while the hunt works on the other (ADR 0012). Ids are hex digests, so the parts are
about even; any id falls in exactly one."""
INDEX_KINDS = {"events": "events", "deadletters": "dead_letters", "alerts": "alerts"}
"""Index kind -> retention kind (:data:`soc.settings.RETAINED_KINDS`)."""

log = get_logger(__name__)

REQUEST_TIMEOUT_S = 30.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 5.0
IDS_PER_QUERY = 500
UPDATE_RETRIES_ON_CONFLICT = 3

BulkOp = Literal["create", "update"]
BULK_FILTER = "errors,items.*.status,items.*.error"
"""What :meth:`OpenSearchStore._failed_items` reads of a bulk response, and all it is sent."""


def _json(value: Any) -> bytes:
    """One bulk line: orjson, or the standard library for integers beyond 64 bits."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False).encode()


def _retriable(error: OpenSearchException) -> bool:
    if isinstance(error, OpenSearchConnectionError):
        return True
    status = error.status_code if isinstance(error, TransportError) else None
    return isinstance(status, int) and (status == 429 or status >= 500)


def _store_error(what: str, error: OpenSearchException) -> StoreError:
    return StoreError(f"opensearch: {what}: {error}", retriable=_retriable(error))


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except OpenSearchException as e:
        raise _store_error(what, e) from e


class FastJSONSerializer(JSONSerializer):
    """The client's JSON, read by orjson (exact for integers of any size, as
    :func:`soc.fastjson.loads` is); writing is left to the client's own serializer.

    The client otherwise reads answers with simplejson when it is installed, which took
    a fifth of a retro-hunt's time decoding the events it scans.
    """

    def loads(self, s: str) -> Any:
        try:
            return fastjson.loads(s)
        except fastjson.JSONDecodeError:
            return super().loads(s)  # the client's own error for what is not JSON


def new_client(s: OpenSearchSettings) -> AsyncOpenSearch:
    """A client of the nodes ``s`` names, with its credentials; no retries of its own."""
    password = s.password_value() or ""
    return AsyncOpenSearch(
        hosts=s.hosts,
        http_auth=(s.username, password) if s.username else None,
        verify_certs=s.verify_certs,
        ca_certs=str(s.ca_certs) if s.ca_certs else None,
        timeout=REQUEST_TIMEOUT_S,
        max_retries=0,
        serializer=FastJSONSerializer(),
    )


class OpenSearchStore(Component):
    """The :class:`~soc.store.base.Store` in time-based OpenSearch indices."""

    def __init__(
        self, settings: OpenSearchSettings, retention: RetentionSettings | None = None
    ) -> None:
        self._s = settings
        self._retention = retention or RetentionSettings()
        self._prefix = settings.index_prefix
        self._client: AsyncOpenSearch | None = None
        self._write_params = {"filter_path": BULK_FILTER}
        if settings.refresh_on_write:
            self._write_params["refresh"] = "wait_for"

    @property
    def _os(self) -> AsyncOpenSearch:
        if self._client is None:
            raise StoreError("opensearch: store is not started")
        return self._client

    def _class(self, kind: str, tenant: str) -> str:
        return mappings.retention_class(self._retention.days(kind, tenant))

    async def start(self) -> None:
        if self._client is not None:
            return
        s = self._s
        self._client = new_client(s)
        try:
            await self._wait_for_cluster()
            for name, body in mappings.templates(s).items():
                with _translated(f"put index template {name}"):
                    await self._os.indices.put_index_template(name=name, body=body)
            for kind, fields in mappings.ADDED_FIELDS.items():
                with _translated(f"put mapping of {kind}"):
                    await self._os.indices.put_mapping(
                        index=mappings.pattern(self._prefix, kind),
                        body={"properties": fields},
                        params=dsl.MISSING_INDEX_OK,
                    )
            with _translated("create the counters index"):
                await counters.create_index(self._os, self._prefix, s.replicas)
        except BaseException:
            await self.stop()
            raise
        log.info("store started", extra={"backend": "opensearch", "prefix": self._prefix})

    async def _wait_for_cluster(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._s.connect_timeout_s
        delay = BACKOFF_START_S
        while True:
            remaining = deadline - loop.time()
            try:
                health = await self._os.cluster.health(
                    request_timeout=max(1.0, min(REQUEST_TIMEOUT_S, remaining))
                )
                if health.get("status") in ("green", "yellow"):
                    return
                last = f"cluster status is {health.get('status')}"
            except OpenSearchException as e:
                if not _retriable(e):
                    raise _store_error("connect", e) from e
                last = str(e)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise StoreError(
                    f"opensearch: not ready within {self._s.connect_timeout_s}s: {last}",
                    retriable=True,
                )
            pause = min(delay, remaining)
            log.info("waiting for opensearch", extra={"error": last, "retry_in_s": pause})
            await asyncio.sleep(pause)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
            log.info("store stopped", extra={"backend": "opensearch"})

    async def check(self) -> None:
        with _translated("cluster health"):
            health = await self._os.cluster.health()
        if health.get("status") not in ("green", "yellow"):
            raise StoreError(
                f"opensearch: cluster status is {health.get('status')}", retriable=True
            )

    async def put_events(self, events: Sequence[Event]) -> None:
        p = self._prefix
        docs = [mappings.event_doc(p, e, self._class("events", e.tenant)) for e in events]
        await self._bulk(docs, what="events")

    async def put_alerts(self, alerts: Sequence[Alert]) -> None:
        p = self._prefix
        docs = [mappings.alert_doc(p, a, self._class("alerts", a.tenant)) for a in alerts]
        await self._bulk(docs, what="alerts")

    async def put_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        p = self._prefix
        docs = [
            mappings.dead_letter_doc(p, d, self._class("dead_letters", d.tenant)) for d in letters
        ]
        await self._bulk(docs, what="dead letters")

    async def update_alerts(self, alerts: Sequence[Alert]) -> None:
        """Each alert is updated in the index that holds it: its class is the tenant's period
        when it was written, which may have changed since."""
        if not alerts:
            return
        where = await self._alert_indices(alerts)
        docs: list[Doc] = []
        for a in alerts:
            _, doc_id, source = mappings.alert_doc(self._prefix, a, "")
            docs += [(index, doc_id, source) for index in where.get(a.id, [])]
        await self._bulk(docs, what="alert updates", op="update")

    async def _alert_indices(self, alerts: Sequence[Alert]) -> dict[str, list[str]]:
        """Alert id -> the indices that hold it, by a real-time multi-get over the indices
        of each alert's month (every class, and the name without class)."""
        months = {mappings.month(a.time) for a in alerts}
        with _translated("find alert indices"):
            listed = await self._os.cat.indices(
                index=",".join(f"{self._prefix}-alerts-*{m}" for m in sorted(months)),
                format="json",
                h="index",
                params=dsl.MISSING_INDEX_OK,
            )
        names = [str(row["index"]) for row in listed]
        wanted = [
            {"_index": n, "_id": a.id}
            for a in alerts
            for n in names
            if n.endswith(f"-{mappings.month(a.time)}")
        ]
        if not wanted:
            return {}
        with _translated("find alerts"):
            response = await self._os.mget(body={"docs": wanted}, params={"_source": "false"})
        found: dict[str, list[str]] = {}
        for doc in response.get("docs", []):
            if doc.get("found"):
                found.setdefault(str(doc["_id"]), []).append(str(doc["_index"]))
        return found

    async def _bulk(self, docs: list[Doc], *, what: str, op: BulkOp = "create") -> None:
        """Create every document (an existing id is kept), or update every stored one.

        Retries 429, 5xx and failed calls.
        """
        pending = docs
        delay = BACKOFF_START_S
        last = ""
        for attempt in range(self._s.bulk_retries + 1):
            if not pending:
                return
            if attempt:
                log.warning(
                    "bulk write retrying",
                    extra={"kind": what, "items": len(pending), "error": last, "attempt": attempt},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            lines: list[bytes] = []
            for index, doc_id, source in pending:
                if op == "create":
                    lines += [_json({"create": {"_index": index, "_id": doc_id}}), _json(source)]
                else:
                    retries = UPDATE_RETRIES_ON_CONFLICT
                    meta = {"_index": index, "_id": doc_id, "retry_on_conflict": retries}
                    lines += [_json({"update": meta}), _json({"doc": source})]
            lines.append(b"")
            try:
                response = await self._os.bulk(body=b"\n".join(lines), params=self._write_params)
            except OpenSearchException as e:
                if not _retriable(e):
                    raise _store_error(f"bulk write of {what}", e) from e
                last = str(e)
                continue
            pending, last = self._failed_items(pending, response, what=what, op=op)
        if pending:
            raise StoreError(
                f"opensearch: bulk write of {what}: {len(pending)} items failed after "
                f"{self._s.bulk_retries + 1} tries: {last}",
                retriable=True,
            )

    @staticmethod
    def _failed_items(
        sent: list[Doc], response: dict[str, Any], *, what: str, op: BulkOp
    ) -> tuple[list[Doc], str]:
        """The items to send again and the last reason; raises on a refusal retrying can't fix.

        A create of a stored id (409) and an update of one not stored (404) are done.
        """
        done = 409 if op == "create" else 404
        retry: list[Doc] = []
        last = ""
        for doc, item in zip(sent, response.get("items", []), strict=True):
            result = next(iter(item.values()))
            status = int(result.get("status", 500))
            if status < 300 or status == done:
                continue
            error = result.get("error") or {}
            reason = f"{status} {error.get('type', '?')}: {error.get('reason', '?')}"
            if status in (409, 429) or status >= 500:
                retry.append(doc)
                last = reason
                continue
            raise StoreError(
                f"opensearch: bulk write of {what}: {doc[1]} into {doc[0]} refused: {reason}",
                retriable=False,
            )
        return retry, last

    async def _hits(self, kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        with _translated(f"search {kind}"):
            response = await dsl.search_whole(
                self._os,
                index=mappings.pattern(self._prefix, kind),
                body=body,
                what=f"search {kind}",
            )
        hits: list[dict[str, Any]] = response["hits"]["hits"]
        return hits

    async def _by_id(self, kind: str, record_id: str, tenants: list[str] | None) -> Any:
        if tenants is not None and not tenants:
            return None
        hits = await self._hits(kind, dsl.by_id(record_id, tenants))
        return hits[0]["_source"] if hits else None

    async def get_event(self, event_id: str, *, tenants: list[str] | None) -> Event | None:
        source = await self._by_id("events", event_id, tenants)
        return None if source is None else Event.model_validate(source)

    async def get_alert(self, alert_id: str, *, tenants: list[str] | None) -> Alert | None:
        source = await self._by_id("alerts", alert_id, tenants)
        return None if source is None else Alert.model_validate(source)

    async def _by_ids(self, kind: str, ids: Sequence[str], tenants: list[str] | None) -> list[Any]:
        if tenants is not None and not tenants:
            return []
        unique = list(dict.fromkeys(ids))
        sources: list[Any] = []
        for i in range(0, len(unique), IDS_PER_QUERY):
            hits = await self._hits(kind, dsl.by_ids(unique[i : i + IDS_PER_QUERY], tenants))
            sources += [h["_source"] for h in hits]
        return sources

    async def get_alerts(self, ids: Sequence[str], *, tenants: list[str] | None) -> list[Alert]:
        return [Alert.model_validate(s) for s in await self._by_ids("alerts", ids, tenants)]

    async def get_events(self, ids: Sequence[str], *, tenants: list[str] | None) -> list[Event]:
        return [Event.model_validate(s) for s in await self._by_ids("events", ids, tenants)]

    async def search_alerts(self, query: AlertQuery) -> AlertPage:
        position = after(query.cursor)
        if query.tenants is not None and not query.tenants:
            return AlertPage(items=[])
        hits = await self._hits("alerts", dsl.alert_search(query, position))
        return page([Alert.model_validate(h["_source"]) for h in hits], query.limit)

    async def count_dead_letters(self, *, tenants: list[str] | None) -> int:
        if tenants is not None and not tenants:
            return 0
        with _translated("count dead letters"):
            response = await self._os.count(
                index=mappings.pattern(self._prefix, "deadletters"),
                body={"query": dsl.filtered(dsl.tenant_filter(tenants))},
                params=dsl.MISSING_INDEX_OK,
            )
        return int(response["count"])

    async def list_dead_letters(
        self, *, tenants: list[str] | None, limit: int = 100
    ) -> list[DeadLetter]:
        if (tenants is not None and not tenants) or limit <= 0:
            return []
        hits = await self._hits("deadletters", dsl.dead_letters(tenants, limit))
        return [DeadLetter.model_validate(h["_source"]) for h in hits]

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
        body = dsl.alert_histogram(tenants, micros(since), micros(until), bucket_s, drills=drills)
        with _translated("alert histogram"):
            response = await dsl.search_whole(
                self._os,
                index=mappings.pattern(self._prefix, "alerts"),
                body=body,
                what="alert histogram",
            )
        buckets = (response.get("aggregations") or {}).get("buckets", {}).get("buckets", [])
        return {from_micros(int(b["key"]) * 1000): int(b["doc_count"]) for b in buckets}

    async def rule_alert_counts(
        self, *, tenants: list[str] | None, since: datetime, recent: datetime
    ) -> dict[str, RuleAlertCounts]:
        if tenants is not None and not tenants:
            return {}
        body = dsl.rule_alert_counts(tenants, micros(since), micros(recent))
        response = await self._search("alerts", body, "alert counts per rule")
        buckets = (response.get("aggregations") or {}).get("rules", {}).get("buckets", [])
        return {
            str(b["key"]): RuleAlertCounts(
                alerts=int(b["doc_count"]),
                recent=int(b["recent"]["doc_count"]),
                last=from_micros(int(b["last"]["value"])),
            )
            for b in buckets
        }

    async def put_record(self, record: Record, *, expect: int) -> Record:
        with _translated(f"put {record.kind} record"):
            return await records.put(self._os, self._prefix, record, expect)

    async def get_record(self, kind: Kind, record_id: str) -> Record | None:
        with _translated(f"get {kind} record"):
            return await records.get(self._os, self._prefix, kind, record_id)

    async def put_records(self, writes: Sequence[tuple[Record, int]]) -> list[Record | Conflict]:
        with _translated("put records"):
            return await records.put_many(self._os, self._prefix, writes)

    async def get_records(self, kind: Kind, record_ids: Sequence[str]) -> dict[str, Record]:
        with _translated(f"get {kind} records"):
            return await records.get_many(self._os, self._prefix, kind, record_ids)

    async def find_records(self, query: RecordQuery) -> RecordPage:
        with _translated(f"find {query.kind} records"):
            return await records.find(self._os, self._prefix, query)

    async def delete_record(self, kind: Kind, record_id: str) -> bool:
        with _translated(f"delete {kind} record"):
            return await records.delete(self._os, self._prefix, kind, record_id)

    async def delete_records(self, kind: Kind, record_ids: Sequence[str]) -> int:
        if not record_ids:
            return 0
        with _translated(f"delete {kind} records"):
            return await records.delete_many(self._os, self._prefix, kind, record_ids)

    async def update_counter(self, key: str, change: Change[T]) -> T:
        with _translated("update a counter"):
            return await counters.update(self._os, self._prefix, key, change)

    async def expire_counters(self, now: float) -> int:
        with _translated("expire counters"):
            return await counters.expire(self._os, self._prefix, now)

    # --- events ---------------------------------------------------------------------

    async def _search(self, kind: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        with _translated(what):
            return await dsl.search_whole(
                self._os, index=mappings.pattern(self._prefix, kind), body=body, what=what
            )

    async def _newest_events(
        self,
        query: EventQuery,
        position: tuple[int, str] | None,
        want: int,
        id_range: tuple[str | None, str | None] = (None, None),
    ) -> list[Hit]:
        """Up to ``want`` distinct matching events after ``position``, newest first.

        An event stored twice (re-delivered after its tenant's period changed, so in
        another class's index) sorts next to itself and is kept once.
        """
        out: list[Hit] = []
        last = position
        while len(out) < want:
            size = min(want - len(out) + 1, SCAN_BATCH_MAX)
            body = dsl.event_search(query, last, size, id_range)
            hits = (await self._search("events", body, "search events"))["hits"]["hits"]
            for hit in hits:
                key = (int(hit["sort"][0]), str(hit["sort"][1]))
                if key != last:
                    out.append((key, hit["_source"]))
                last = key
            if len(hits) < size:
                break
        return out[:want]

    async def search_events(self, query: EventQuery) -> EventPage:
        position = after(query.cursor)
        if query.tenants is not None and not query.tenants:
            return EventPage(items=[])
        found = await self._newest_events(query, position, query.limit + 1)
        items = [Event.model_validate(source) for _, source in found[: query.limit]]
        if len(found) <= query.limit:
            return EventPage(items=items)
        return EventPage(items=items, next_cursor=encode_cursor(items[-1].time, items[-1].id))

    async def scan_events(
        self, query: EventQuery, *, batch: int = 2000
    ) -> AsyncIterator[list[Event]]:
        if query.tenants is not None and not query.tenants:
            return
        size = max(1, min(batch, SCAN_BATCH_MAX - 1))
        parts = [self._scan_part(query, size, id_range) for id_range in SCAN_PARTS]
        async for hits in merge_newest(parts, size):
            yield [Event.model_validate(source) for _, source in hits]

    async def _scan_part(
        self, query: EventQuery, size: int, id_range: tuple[str | None, str | None]
    ) -> AsyncIterator[list[Hit]]:
        position: tuple[int, str] | None = None
        while True:
            found = await self._newest_events(query, position, size, id_range)
            if found:
                yield found
                position = found[-1][0]
            if len(found) < size:
                return

    async def event_histogram(self, query: EventQuery, *, bucket_s: int) -> dict[datetime, int]:
        if query.tenants is not None and not query.tenants:
            return {}
        response = await self._search(
            "events", dsl.event_histogram(query, bucket_s), "event histogram"
        )
        buckets = (response.get("aggregations") or {}).get("buckets", {}).get("buckets", [])
        return {from_micros(int(b["key"])): int(b["doc_count"]) for b in buckets}

    async def event_stats(self, query: EventQuery, *, field: str, size: int = 10) -> EventStats:
        name = field.lower()
        if query.tenants is not None and not query.tenants:
            return EventStats(field=name, events=0, values=[])
        response = await self._search("events", dsl.event_stats(query, name, size), "event stats")
        has = (response.get("aggregations") or {}).get("has", {})
        top = has.get("top", {})
        cut = len(name) + 1
        values = [
            ValueCount(value=str(b["key"])[cut:], count=int(b["doc_count"]))
            for b in top.get("buckets", [])
        ]
        return EventStats(
            field=name,
            events=int(has.get("doc_count", 0)),
            values=values,
            other=int(top.get("sum_other_doc_count", 0)),
        )

    # --- retention --------------------------------------------------------------------

    async def expire(self, now: datetime) -> dict[str, int]:
        """Delete every time-based index whose whole span its class's period has passed.

        An index of day D (month M) is deleted once D + 1 day (the first of M + 1) is at
        or before ``now`` minus its period; an index named without a class has the
        default period of its kind. Case records (incidents, audit) are not expired
        here: the retention job does it over the records seam (ADR 0012).
        """
        with _translated("list indices"):
            listed = await self._os.cat.indices(
                index=f"{self._prefix}-*", format="json", h="index", params=dsl.MISSING_INDEX_OK
            )
        deleted = dict.fromkeys(INDEX_KINDS.values(), 0)
        expired: list[tuple[str, str]] = []
        for row in listed:
            name = str(row["index"])
            span = mappings.parse_index(self._prefix, name)
            if span is None:
                continue
            kind = INDEX_KINDS[span.kind]
            if span.klass is None:
                days: float | None = getattr(self._retention, f"{kind}_days")
            else:
                days = mappings.class_days(span.klass)
            if days is not None and span.end <= now - timedelta(days=days):
                expired.append((kind, name))
        for kind, name in sorted(expired, key=lambda e: e[1]):
            with _translated(f"delete index {name}"):
                await self._os.indices.delete(index=name, params=dsl.MISSING_INDEX_OK)
            deleted[kind] += 1
            log.info("retention deleted an index", extra={"index": name, "kind": kind})
        return deleted
