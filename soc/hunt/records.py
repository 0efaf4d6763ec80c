"""Retro-hunts as case records, and the runner that works them in the background.

    hunt = await runner.submit(principal, rules, scope, raise_alerts=False)  # state "queued"
    await runner.cancel(principal, hunt.id)                                  # -> "cancelled"

A hunt is a :class:`~soc.store.records.Record` of kind ``hunt``: its state
(queued, running, done, failed, cancelled), progress (events scanned of an estimate),
counts, the rules (ids, titles, SHA-256 of their text), range, tenants, who started it
and the first matches. The runner saves the record as the hunt goes (about once a
second, and at the end), each save naming the version it read: a cancel saved by
another process makes the next save conflict, and the hunt stops there. Every hunt is
audited twice: when started (who, rules, range, tenants, mode), and when it ends (the
state, matches and alerts raised).

A hunt spans tenants; its record's ``tenant`` is its tenant when it has one, else
``""``, and its ``tenant`` terms list them all (``*`` for every tenant). A caller sees
the hunts whose tenants are all among theirs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel, Field

from soc.audit.trail import AuditTrail
from soc.bus import Bus
from soc.errors import Conflict, NotFound, QueryError
from soc.hunt.retro import HuntMatch, HuntProgress, HuntScope, estimate, retro_hunt
from soc.hunt.rules import HuntRules
from soc.log import get_logger
from soc.metrics import HUNTS
from soc.models import UtcDatetime, utcnow
from soc.security.principal import Principal
from soc.settings import ALL_TENANTS, CorrelationSettings
from soc.store import Store
from soc.store.records import NO_TENANT, Kind, Record, RecordQuery

log = get_logger(__name__)

Watch = Callable[[HuntProgress, list[HuntMatch]], None]
"""Sees each batch's progress and matches as the hunt goes."""

HuntState = Literal["queued", "running", "done", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})
SAVE_EVERY_S = 1.0
LIST_MAX = 200
RUNNING_MAX = 2
"""Hunts one process runs at once; the others wait, queued (each takes a CPU while it runs)."""
API_BATCH = 500
"""Events per batch in the API process: matching a batch holds its event loop (whole SigmaHQ:
about 25 ms for 500 events), so other requests wait at most that long."""


class HuntRule(BaseModel):
    id: str
    title: str


class Hunt(BaseModel):
    """A retro-hunt: what it runs over what, how far it got, and what it found."""

    id: str
    state: HuntState = "queued"
    mode: Literal["preview", "raise"]
    rules: list[HuntRule]
    rule_sha256: str
    """SHA-256 of the rule text (pasted YAML, or the rule files' bytes)."""
    rule_text: str | None = None
    """The pasted YAML; None for loaded rules."""
    tenants: list[str] | None
    """``None``: every tenant."""
    since: UtcDatetime
    until: UtcDatetime
    actor: str
    created: UtcDatetime
    started: UtcDatetime | None = None
    finished: UtcDatetime | None = None
    total: int | None = None
    """Events in range, estimated before the scan."""
    scanned: int = 0
    matches: int = 0
    """Matches listed: base rules' (less those ``generate`` silences) and correlations'."""
    correlation_matches: int = 0
    """Of which correlations fired over a window."""
    raised: int = 0
    """Alerts this hunt stored (matches not stored before)."""
    failed_events: int = 0
    error: str | None = None
    results: list[HuntMatch] = Field(default_factory=list)
    """The first matches (up to soc.hunt.retro.PREVIEW_MAX)."""
    results_truncated: bool = False

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED


class HuntSummary(BaseModel):
    """A hunt without its results: what the list shows."""

    id: str
    state: HuntState
    mode: Literal["preview", "raise"]
    rules: list[HuntRule]
    tenants: list[str] | None
    since: UtcDatetime
    until: UtcDatetime
    actor: str
    created: UtcDatetime
    finished: UtcDatetime | None
    total: int | None
    scanned: int
    matches: int
    raised: int

    @classmethod
    def of(cls, hunt: Hunt) -> HuntSummary:
        return cls.model_validate(hunt.model_dump(include=set(cls.model_fields)))


def _record(hunt: Hunt) -> Record:
    tenants = hunt.tenants
    return Record(
        kind=Kind.hunt,
        id=hunt.id,
        tenant=tenants[0] if tenants and len(tenants) == 1 else NO_TENANT,
        sort=int(hunt.created.timestamp() * 1_000_000),
        terms={
            "tenant": list(tenants) if tenants is not None else [ALL_TENANTS],
            "state": [hunt.state],
            "actor": [hunt.actor],
        },
        doc=hunt.model_dump(mode="json"),
    )


def visible(hunt: Hunt, tenants: list[str] | None) -> bool:
    """Whether a caller scoped to ``tenants`` (None: all) may see the hunt."""
    if tenants is None:
        return True
    return hunt.tenants is not None and set(hunt.tenants) <= set(tenants)


class HuntBook:
    """The hunts in the store (Records, kind ``hunt``), with their versions."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, hunt: Hunt) -> int:
        return (await self._store.put_record(_record(hunt), expect=0)).version

    async def save(self, hunt: Hunt, *, expect: int) -> int:
        """Write ``hunt`` over version ``expect``; the new version (Conflict if it moved)."""
        return (await self._store.put_record(_record(hunt), expect=expect)).version

    async def read(self, hunt_id: str) -> tuple[Hunt, int] | None:
        record = await self._store.get_record(Kind.hunt, hunt_id)
        if record is None:
            return None
        return Hunt.model_validate(record.doc), record.version

    async def get(self, hunt_id: str, *, tenants: list[str] | None) -> Hunt:
        found = await self.read(hunt_id)
        if found is None or not visible(found[0], tenants):
            raise NotFound(f"no hunt {hunt_id}")
        return found[0]

    async def list(self, *, tenants: list[str] | None, limit: int = LIST_MAX) -> list[Hunt]:
        """Newest first, those the caller may see."""
        any_terms = {} if tenants is None else {"tenant": list(tenants)}
        page = await self._store.find_records(
            RecordQuery(kind=Kind.hunt, tenants=None, any_terms=any_terms, limit=limit)
        )
        hunts = [Hunt.model_validate(r.doc) for r in page.items]
        return [h for h in hunts if visible(h, tenants)]


class HuntRunner:
    """Starts hunts in the background of this process, saves their progress, cancels them."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        audit: AuditTrail,
        *,
        batch: int = API_BATCH,
        running_max: int = RUNNING_MAX,
        correlation: CorrelationSettings | None = None,
    ) -> None:
        """``correlation``: how correlation rules are evaluated (``detect.correlation``)."""
        self._store = store
        self._correlation = correlation
        self._bus = bus
        self._audit = audit
        self.book = HuntBook(store)
        self._batch = batch
        self._slots = asyncio.Semaphore(running_max)
        self._tasks: dict[str, asyncio.Task[Hunt]] = {}
        self._stop: set[str] = set()

    async def submit(
        self,
        principal: Principal,
        rules: HuntRules,
        scope: HuntScope,
        *,
        raise_alerts: bool,
        watch: Watch | None = None,
    ) -> Hunt:
        """Record the hunt (queued), audit it, and start it; returns it as recorded.

        ``watch`` sees every batch's progress and matches (`soc hunt --store` prints them).
        """
        if scope.until <= scope.since:
            raise QueryError("the range is empty: 'until' must be after 'since'")
        hunt = Hunt(
            id=f"hunt-{secrets.token_hex(8)}",
            mode="raise" if raise_alerts else "preview",
            rules=[HuntRule(id=i, title=title) for i, title in rules.named],
            rule_sha256=rules.sha256,
            rule_text=rules.text,
            tenants=scope.tenants,
            since=scope.since,
            until=scope.until,
            actor=principal.name,
            created=utcnow(),
        )
        version = await self.book.create(hunt)
        await self._audit.append(
            actor=principal.name,
            tenant=_audit_tenant(hunt),
            action="hunt.start",
            target=f"hunt:{hunt.id}",
            after=_audited(hunt),
        )
        task = asyncio.create_task(self._run(hunt, version, rules, watch), name=hunt.id)
        self._tasks[hunt.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(hunt.id, None))
        return hunt

    async def wait(self, hunt_id: str) -> Hunt | None:
        """The hunt once this process's run of it has ended (None if it runs elsewhere)."""
        task = self._tasks.get(hunt_id)
        if task is None:
            found = await self.book.read(hunt_id)
            return found[0] if found else None
        return await asyncio.shield(task)

    async def cancel(
        self, principal: Principal, hunt_id: str, *, tenants: list[str] | None
    ) -> Hunt:
        """Stop a queued or running hunt; a finished one is a Conflict (HTTP 409)."""
        hunt = await self.book.get(hunt_id, tenants=tenants)
        if hunt.finished_state:
            raise Conflict(f"hunt {hunt_id} is already {hunt.state}", expected=0, found=None)
        task = self._tasks.get(hunt_id)
        if task is not None:
            self._stop.add(hunt_id)
            if hunt.state == "running":  # it stops after its batch, its counts saved
                return await asyncio.shield(task)
        # Queued (waiting for a slot), or run by another process (or by one that died):
        # mark it; its runner's next save conflicts, reads this, and stops.
        for _ in range(5):
            found = await self.book.read(hunt_id)
            assert found is not None
            hunt, version = found
            if hunt.finished_state:
                return hunt
            hunt = hunt.model_copy(update={"state": "cancelled", "finished": utcnow()})
            try:
                await self.book.save(hunt, expect=version)
            except Conflict:
                continue
            await self._audit_end(hunt)
            return hunt
        raise Conflict(f"hunt {hunt_id} kept changing; try again", expected=0, found=None)

    async def stop(self) -> None:
        """Cancel this process's hunts (the service is stopping)."""
        self._stop.update(self._tasks)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, hunt: Hunt, version: int, rules: HuntRules, watch: Watch | None) -> Hunt:
        scope = HuntScope(tenants=hunt.tenants, since=hunt.since, until=hunt.until)
        saved_at = time.monotonic()
        state = {"version": version}

        async def save(update: dict[str, object]) -> bool:
            """Save progress; False when the record moved (cancelled from elsewhere)."""
            nonlocal hunt
            candidate = hunt.model_copy(update=update)
            try:
                state["version"] = await self.book.save(candidate, expect=state["version"])
            except Conflict:
                found = await self.book.read(hunt.id)
                if found is not None and found[0].finished_state:
                    hunt = found[0]
                    return False
                if found is None:
                    return False
                state["version"] = found[1]
                state["version"] = await self.book.save(candidate, expect=state["version"])
            hunt = candidate
            return True

        def counts(progress: HuntProgress) -> dict[str, object]:
            return {
                "scanned": progress.scanned,
                "matches": progress.matches,
                "correlation_matches": progress.correlation_matches,
                "raised": progress.raised,
                "failed_events": progress.failed,
                "results": progress.preview,
                "results_truncated": progress.matches > len(progress.preview),
            }

        async def on_batch(progress: HuntProgress, found: list[HuntMatch]) -> bool:
            nonlocal saved_at
            if watch is not None:
                watch(progress, found)
            if hunt.id in self._stop:
                return False
            if time.monotonic() - saved_at < SAVE_EVERY_S:
                return True
            saved_at = time.monotonic()
            return await save(counts(progress))

        try:
            async with self._slots:
                scanned = (
                    HuntProgress()
                    if hunt.id in self._stop  # cancelled while queued
                    else await self._scan(hunt, rules, scope, save, on_batch)
                )
            if scanned is None:
                return hunt
            progress = scanned
            if hunt.finished_state:  # cancelled from another process
                return hunt
            end = "cancelled" if hunt.id in self._stop else "done"
            if not await save({**counts(progress), "state": end, "finished": utcnow()}):
                return hunt  # ended from elsewhere, which audited it
        except Exception as e:
            log.exception("retro-hunt failed", extra={"hunt_id": hunt.id})
            error = f"{type(e).__name__}: {e}"
            try:
                if not await save({"state": "failed", "finished": utcnow(), "error": error}):
                    return hunt
            except Exception:
                log.exception("retro-hunt: could not record the failure")
                return hunt
        finally:
            self._stop.discard(hunt.id)
        if hunt.finished_state:
            await self._audit_end(hunt)
        log.info(
            "retro-hunt ended",
            extra={
                "hunt_id": hunt.id,
                "state": hunt.state,
                "scanned": hunt.scanned,
                "matches": hunt.matches,
                "raised": hunt.raised,
            },
        )
        return hunt

    async def _scan(
        self,
        hunt: Hunt,
        rules: HuntRules,
        scope: HuntScope,
        save: Callable[[dict[str, object]], Awaitable[bool]],
        on_batch: Callable[[HuntProgress, list[HuntMatch]], Awaitable[bool]],
    ) -> HuntProgress | None:
        """Estimate, mark running, scan; None when the hunt was ended from elsewhere."""
        engine = rules.engine()
        total = await estimate(self._store, scope, rules.rules)
        if not await save({"state": "running", "started": utcnow(), "total": total}):
            return None
        return await retro_hunt(
            self._store,
            self._bus,
            engine,
            scope,
            hunt_id=hunt.id,
            raise_alerts=hunt.mode == "raise",
            on_batch=on_batch,
            batch=self._batch,
            correlation=self._correlation,
        )

    async def _audit_end(self, hunt: Hunt) -> None:
        HUNTS.labels(state=hunt.state, mode=hunt.mode).inc()
        await self._audit.append(
            actor=hunt.actor,
            tenant=_audit_tenant(hunt),
            action=f"hunt.{hunt.state}",
            target=f"hunt:{hunt.id}",
            after={
                **_audited(hunt),
                "state": hunt.state,
                "scanned": hunt.scanned,
                "matches": hunt.matches,
                "raised": hunt.raised,
                "error": hunt.error,
            },
        )


def _audit_tenant(hunt: Hunt) -> str | None:
    return hunt.tenants[0] if hunt.tenants and len(hunt.tenants) == 1 else None


def _audited(hunt: Hunt) -> dict[str, object]:
    """What the audit trail keeps of a hunt: who ran which rules over what, and how."""
    return {
        "rules": [r.model_dump() for r in hunt.rules],
        "rule_sha256": hunt.rule_sha256,
        "since": hunt.since.isoformat(),
        "until": hunt.until.isoformat(),
        "tenants": hunt.tenants,
        "mode": hunt.mode,
    }
