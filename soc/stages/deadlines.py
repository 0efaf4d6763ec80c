"""The deadline watch: open incidents checked against their deadlines, breaches escalated.

Every ``incidents.check_interval_s`` it reads the open incidents, flags each
deadline missed (once per deadline, :func:`soc.incidents.deadlines.check`),
writes the flag at the version read, appends ``incident.deadline_breached``
to the audit trail, counts it (``soc_deadline_breaches_total``) and POSTs the
breach as JSON to the tenant's webhook (``incidents.webhooks``). A webhook
that fails is tried again at each later check until it answers 2xx, while
this process runs. An incident changed by someone meanwhile is checked again
next time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import aiohttp

from soc.errors import Conflict
from soc.incidents.cases import Cases
from soc.incidents.deadlines import Breach, check
from soc.incidents.models import Change
from soc.log import get_logger
from soc.metrics import DEADLINE_BREACHES, DEADLINES_BREACHED_OPEN, ESCALATIONS
from soc.models import utcnow
from soc.settings import IncidentSettings
from soc.stages.runtime import PeriodicStage

log = get_logger(__name__)

ACTOR = "system:deadlines"
MAX_PENDING = 10_000
"""Unsent escalations kept for retry; the oldest are dropped (and logged) beyond this."""


class DeadlineWatch(PeriodicStage):
    name = "deadlines"

    def __init__(
        self,
        *,
        cases: Cases,
        settings: IncidentSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self._cases = cases
        self._settings = settings
        self._now = clock
        self._pending: list[Breach] = []
        self._http: aiohttp.ClientSession | None = None
        self.interval_s = settings.check_interval_s

    @contextlib.asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            self._http = http
            try:
                yield
            finally:
                self._http = None

    async def tick(self) -> None:
        await self.check_once(self._http)

    async def check_once(self, http: aiohttp.ClientSession | None = None) -> list[Breach]:
        """One pass over the open incidents; the breaches found in it."""
        now = self._now()
        found: list[Breach] = []
        breached_open = 0
        async for incident in self._cases.incidents.each_open():
            flagged, breaches = check(incident, now=now)
            if breaches:
                try:
                    await self._cases.incidents.put(flagged)
                except Conflict:
                    continue  # changed meanwhile: checked again next time
                for breach in breaches:
                    DEADLINE_BREACHES.labels(kind=breach.kind, severity=breach.severity.value).inc()
                    await self._cases.record(
                        Change.of(
                            flagged,
                            actor=ACTOR,
                            action="deadline_breached",
                            time=now,
                            after=breach.model_dump(mode="json"),
                        )
                    )
                    log.warning(
                        "deadline breached",
                        extra={
                            "incident": breach.incident_id,
                            "tenant": breach.tenant,
                            "kind": breach.kind,
                            "late_by_s": round(breach.late_by_s),
                        },
                    )
                found += breaches
            if flagged.deadlines is not None and flagged.deadlines.breached:
                breached_open += 1
        DEADLINES_BREACHED_OPEN.set(breached_open)
        self._pending += found
        if len(self._pending) > MAX_PENDING:
            dropped = self._pending[: len(self._pending) - MAX_PENDING]
            log.error("escalations dropped unsent", extra={"count": len(dropped)})
            self._pending = self._pending[-MAX_PENDING:]
        if http is not None:
            await self._escalate(http)
        return found

    def webhook(self, tenant: str) -> str | None:
        hooks = self._settings.webhooks
        return hooks.get(tenant) or hooks.get("*")

    async def _escalate(self, http: aiohttp.ClientSession) -> None:
        unsent: list[Breach] = []
        for breach in self._pending:
            url = self.webhook(breach.tenant)
            if url is None:
                continue
            try:
                async with http.post(
                    url,
                    json={"type": "deadline_breached", "breach": breach.model_dump(mode="json")},
                ) as response:
                    ok = 200 <= response.status < 300
                    detail = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as e:
                ok, detail = False, str(e) or type(e).__name__
            ESCALATIONS.labels(result="sent" if ok else "failed").inc()
            if not ok:
                log.warning(
                    "escalation webhook failed; will retry",
                    extra={
                        "incident": breach.incident_id,
                        "tenant": breach.tenant,
                        "error": detail,
                    },
                )
                unsent.append(breach)
        self._pending = unsent
