"""The sharing stages: the watch enqueues share jobs, the sender sends them.

:class:`ShareWatch` reads the audit trail from a shared cursor (like the notification watch,
soc.stages.notify) and enqueues one job per (entry, target) for the entries the tenant's
policy shares on: ``incident.hand_off`` (``when: handoff``), ``incident.close`` (``when:
close``) and ``incident.share_approved`` (a lead's approval, under any policy but
``never``). A drill's incident is never shared. It also looks at the incidents shared in the
last ``follow_days`` (every ``update_check_s``): one changed since its last share (alerts
folded in, status, TLP...) gets an ``update`` job, which sends the new versions. Job ids
come from the entry's seq (or the incident's ``updated``), so a replayed entry or a second
watch enqueues nothing new. :class:`ShareSend` runs the sender (soc.sharing.sender).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from soc.audit import AuditEntry
from soc.audit.follower import TrailFollower
from soc.incidents.cases import Cases
from soc.log import get_logger
from soc.models import utcnow
from soc.settings import SharingSettings
from soc.sharing.jobs import Shares
from soc.sharing.models import ShareJob, Trigger
from soc.sharing.sender import ACTOR, ShareSender
from soc.stages.runtime import PeriodicStage
from soc.store.records import Kind, Records
from soc.store.terms import micros

log = get_logger(__name__)

CURSOR_ID = "cursor"
TRIGGERS: dict[str, Trigger] = {
    "incident.hand_off": "handoff",
    "incident.close": "close",
    "incident.share_approved": "approval",
}


class ShareWatch(PeriodicStage):
    name = "share-watch"

    def __init__(self, *, records: Records, cases: Cases, settings: SharingSettings) -> None:
        super().__init__()
        self.shares = Shares(records)
        self._cases = cases
        self.settings = settings
        self.interval_s = settings.watch_s
        self._trail = TrailFollower(
            records, cases.audit, kind=Kind.share, cursor_id=CURSOR_ID, terms={"record": ["cursor"]}
        )
        self._next_update_check = 0.0

    async def tick(self) -> None:
        await self.read_trail()
        if time.monotonic() >= self._next_update_check:
            await self.check_updates()
            self._next_update_check = time.monotonic() + self.settings.update_check_s

    async def cursor(self) -> int:
        return await self._trail.cursor()

    async def read_trail(self) -> int:
        """Enqueue the shares of the audit entries after the cursor; how many enqueued."""
        return await self._trail.read(self.from_audit)

    async def from_audit(self, entry: AuditEntry) -> int:
        """The jobs ``entry`` asks for under its tenant's policy; how many were new."""
        trigger = TRIGGERS.get(entry.action)
        if trigger is None or entry.tenant is None:
            return 0
        if (entry.after or {}).get("drill") or (entry.before or {}).get("drill"):
            return 0
        policy = self.settings.policy(entry.tenant)
        if policy.when == "never" or (trigger != "approval" and policy.when != trigger):
            return 0
        targets = policy.all_targets()
        if trigger == "approval":  # a lead may approve for some of the targets
            asked = (entry.after or {}).get("targets")
            targets = [t for t in targets if not asked or t in asked]
        incident = entry.target.removeprefix("incident:")
        return await self._enqueue(
            f"audit:{entry.seq}", trigger, entry.tenant, incident, targets, entry.actor, entry.time
        )

    async def check_updates(self, now: datetime | None = None) -> int:
        """Enqueue an ``update`` share for each followed incident changed since its share."""
        now = now or utcnow()
        made = 0
        for follow in await self.shares.followed(now - timedelta(days=self.settings.follow_days)):
            policy = self.settings.policy(follow.tenant)
            if policy.when == "never" or follow.target not in policy.all_targets():
                continue
            incident = await self._cases.incidents.get(follow.incident, tenants=[follow.tenant])
            if incident is None or incident.updated <= follow.updated:
                continue
            key = f"updated:{incident.id}:{micros(incident.updated)}"
            made += await self._enqueue(
                key, "update", follow.tenant, incident.id, [follow.target], ACTOR, now
            )
        return made

    async def _enqueue(
        self,
        key: str,
        trigger: Trigger,
        tenant: str,
        incident: str,
        targets: list[str],
        by: str,
        now: datetime,
    ) -> int:
        made = 0
        for target in targets:
            job = ShareJob(
                id=ShareJob.make_id(key, incident, target),
                key=key,
                trigger=trigger,
                tenant=tenant,
                incident=incident,
                target=target,
                requested_by=by,
                created=now,
                next_at=now,
            )
            if await self.shares.enqueue(job) is not None:
                made += 1
                log.info(
                    "share enqueued",
                    extra={"incident": incident, "target": target, "trigger": trigger},
                )
        return made


class ShareSend(PeriodicStage):
    name = "share-send"

    def __init__(self, sender: ShareSender) -> None:
        super().__init__()
        self.sender = sender
        self.interval_s = sender.settings.send_s

    async def tick(self) -> None:
        await self.sender.run_once()
