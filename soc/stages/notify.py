"""The notification stages (soc.notify): the watch enqueues, the sender sends.

:class:`NotifyWatch` reads the audit trail from where it last stopped (a shared cursor
record: every process that runs it advances the same one, and an entry read twice
enqueues nothing new, its outbox ids being taken), turns the entries worth telling into
notices (:meth:`~soc.notify.notifier.Notifier.from_audit`), and every
``notify.deadline_check_s`` looks for deadlines 80% spent. :class:`NotifySender` sends
what is due (:class:`~soc.notify.sender.Sender`) and, hourly, deletes what was sent or
given up more than ``notify.keep_days`` ago. Any number of processes may run both.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp

from soc.audit import AuditEntry
from soc.audit.follower import TrailFollower
from soc.incidents.cases import Cases
from soc.log import get_logger
from soc.models import utcnow
from soc.notify.notifier import DRILL_ACTIONS, INCIDENT_ACTIONS, Notifier
from soc.notify.sender import Sender
from soc.stages.runtime import PeriodicStage
from soc.store.records import Kind, Records

log = get_logger(__name__)

CURSOR_ID = "audit"
PURGE_S = 3600.0
"""How often a sender deletes the outbox's messages older than ``notify.keep_days``."""


class NotifyWatch(PeriodicStage):
    name = "notify-watch"

    def __init__(self, *, records: Records, cases: Cases, notifier: Notifier) -> None:
        super().__init__()
        self._cases = cases
        self._notifier = notifier
        self.interval_s = notifier.settings.watch_s
        self._trail = TrailFollower(
            records, cases.audit, kind=Kind.notify_cursor, cursor_id=CURSOR_ID
        )
        self._next_deadline_check = 0.0

    async def tick(self) -> None:
        await self.read_trail()
        if time.monotonic() >= self._next_deadline_check:
            await self.check_deadlines()
            self._next_deadline_check = time.monotonic() + self._notifier.settings.deadline_check_s

    async def cursor(self) -> int:
        return await self._trail.cursor()

    async def read_trail(self) -> int:
        """Enqueue the notices of the audit entries after the cursor; how many enqueued."""
        return await self._trail.read(self._notices)

    async def _notices(self, entry: AuditEntry) -> int:
        incident = None
        if entry.action in INCIDENT_ACTIONS:
            incident = await self._cases.incidents.get(
                entry.target.removeprefix("incident:"), tenants=None
            )
        elif entry.action not in DRILL_ACTIONS:
            return 0
        return len(await self._notifier.from_audit(entry, incident))

    async def check_deadlines(self) -> int:
        now = utcnow()
        made = 0
        async for incident in self._cases.incidents.each_open():
            made += len(await self._notifier.deadlines_near(incident, now))
        return made


class NotifySender(PeriodicStage):
    name = "notify-send"

    def __init__(self, sender: Sender) -> None:
        super().__init__()
        self.sender = sender
        self.interval_s = sender.settings.send_s
        self._http: aiohttp.ClientSession | None = None
        self._next_purge = 0.0

    @contextlib.asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            self._http = http
            try:
                yield
            finally:
                self._http = None

    async def tick(self) -> None:
        assert self._http is not None
        await self.sender.run_once(self._http)
        if time.monotonic() >= self._next_purge:
            keep = timedelta(days=self.sender.settings.keep_days)
            deleted = await self.sender.outbox.purge(utcnow() - keep)
            if deleted:
                log.info("outbox purged", extra={"deleted": deleted})
            self._next_purge = time.monotonic() + PURGE_S
