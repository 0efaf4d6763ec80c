"""Case records: the analysts' own data, as versioned documents of a few kinds.

Events, alerts and dead letters are written once by the pipeline, in volume.
Case records are few and change: incidents, comments, suppressions, user
accounts, revoked sessions, audit entries, retro-hunts and managed detection rules
(:mod:`soc.detect.catalog`: each rule, its versions, and the catalog's generation),
the connectors' streams as their heartbeats report them (:mod:`soc.sources.book`),
and notifications: the outbox, the channels and routes made through the API, and how far
the audit trail was read for them (:mod:`soc.notify`).
Both stores keep them the same way, as a :class:`Record`: a JSON document plus what
queries need beside it:

- ``tenant`` (``""`` for records of no tenant, such as user accounts),
- ``version``, for optimistic concurrency: a write names the version it read
  and fails with :class:`~soc.errors.Conflict` if the stored one differs,
- ``sort``, an integer the lists are ordered by (microseconds of a time, or
  the audit sequence number), ties broken by id,
- ``terms``, exact values to filter on (``status``, ``owner_unit``...),
- ``words``, lower-case search words (:func:`soc.store.terms.words`).

The typed repositories over this seam live beside what they keep: incidents,
comments and suppressions in :mod:`soc.incidents.cases`, the audit trail in
:mod:`soc.audit.trail`, accounts and ended sessions in
:mod:`soc.security.accounts`; the backends implement only :class:`Records`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from soc.errors import Conflict, QueryError


class Kind(StrEnum):
    incident = "incident"
    comment = "comment"
    suppression = "suppression"
    user = "user"
    revocation = "revocation"
    audit = "audit"
    hunt = "hunt"
    rule = "rule"
    rule_version = "rule_version"
    rule_generation = "rule_generation"
    drill = "drill"
    ledger = "ledger"
    source = "source"
    activity = "activity"
    rejects = "rejects"
    outbox = "outbox"
    notify_channel = "notify_channel"
    notify_route = "notify_route"
    notify_cursor = "notify_cursor"
    indicator = "indicator"
    intel_feed = "intel_feed"
    intel_generation = "intel_generation"
    stix_object = "stix_object"
    share = "share"


BATCH = 1000
"""Records a store reads or writes in one request of :meth:`Records.put_records` and
:meth:`Records.get_records` (a longer batch is split)."""

NO_TENANT = ""
"""The tenant of records that belong to none (user accounts, revocations)."""


class Record(BaseModel):
    kind: Kind
    id: str = Field(min_length=1, max_length=512)
    tenant: str
    version: int = Field(1, ge=1)
    """The stored version; the first write stores 1."""
    sort: int
    terms: dict[str, list[str]] = Field(default_factory=dict)
    words: list[str] = Field(default_factory=list)
    doc: dict[str, Any]


class RecordQuery(BaseModel):
    kind: Kind
    tenants: list[str] | None
    """``None``: every tenant; ``[]``: none."""
    terms: dict[str, list[str]] = Field(default_factory=dict)
    """Every name must match one of its values."""
    any_terms: dict[str, list[str]] = Field(default_factory=dict)
    """At least one name must match one of its values (when given)."""
    not_terms: dict[str, list[str]] = Field(default_factory=dict)
    """No name may match one of its values (a record without the name passes)."""
    words: list[str] = Field(default_factory=list)
    """Every word must be among the record's words."""
    sort_from: int | None = None
    sort_to: int | None = None
    """``sort`` within [sort_from, sort_to) when given."""
    order: Literal["desc", "asc"] = "desc"
    limit: int = Field(50, ge=1, le=10_000)
    after: tuple[int, str] | None = None
    """The ``(sort, id)`` of the last record of the page before."""


class RecordPage(BaseModel):
    items: list[Record]
    next: tuple[int, str] | None = None


@runtime_checkable
class Records(Protocol):
    async def put_record(self, record: Record, *, expect: int) -> Record:
        """Write ``record`` if the stored version is ``expect`` (0: it must not exist yet).

        Returns the record as stored, with ``version = expect + 1``. Raises
        :class:`~soc.errors.Conflict` when the stored version differs.
        The write is visible to the next read and query.
        """
        ...

    async def get_record(self, kind: Kind, record_id: str) -> Record | None:
        """By id, whatever its tenant: callers check the tenant."""
        ...

    async def put_records(self, writes: Sequence[tuple[Record, int]]) -> list[Record | Conflict]:
        """Each ``(record, expect)`` as :meth:`put_record` would write it, in order, in few
        round trips (the store bounds its batches, :data:`BATCH`): per write, the record as
        stored or the :class:`~soc.errors.Conflict` it met, in the order given. A record
        named twice is written as two writes one after the other would be. The writes are
        visible to the next read and query.
        """
        ...

    async def get_records(self, kind: Kind, record_ids: Sequence[str]) -> dict[str, Record]:
        """Those of ``record_ids`` stored, by id, in few round trips (whatever their tenant)."""
        ...

    async def find_records(self, query: RecordQuery) -> RecordPage: ...

    async def delete_record(self, kind: Kind, record_id: str) -> bool:
        """Remove it; ``False`` when there was none."""
        ...

    async def delete_records(self, kind: Kind, record_ids: Sequence[str]) -> int:
        """Remove these in one write (the caller bounds how many: retention's batches);
        how many were stored. The next query no longer finds them."""
        ...


def encode_after(position: tuple[int, str] | None) -> str | None:
    if position is None:
        return None
    raw = json.dumps(list(position)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_after(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort, rid = json.loads(base64.urlsafe_b64decode(padded))
        return int(sort), str(rid)
    except (ValueError, TypeError) as e:
        raise QueryError(f"invalid cursor: {cursor[:40]!r}") from e


async def every(records: Records, query: RecordQuery) -> AsyncIterator[Record]:
    """Every record ``query`` finds, page after page."""
    while True:
        page = await records.find_records(query)
        for record in page.items:
            yield record
        if page.next is None:
            return
        query = query.model_copy(update={"after": page.next})
