"""What the API does about sharing: a lead's approval, and an incident's shares.

await desk.approve(principal, incident, targets=None)   # audited incident.share_approved
await desk.shares(incident)                              # its jobs, with target names
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from soc.incidents.cases import Cases
from soc.incidents.errors import InvalidOperation
from soc.incidents.models import Change, Incident
from soc.models import utcnow
from soc.security.principal import Principal
from soc.security.roles import scope
from soc.settings import LOCAL_TARGET, SharingSettings, Tlp
from soc.sharing.jobs import Shares
from soc.sharing.models import ShareView
from soc.sharing.sender import effective_tlp


class Approval(BaseModel):
    incident: str
    targets: list[str]
    tlp: Tlp
    approved_by: str
    at: datetime


class SharingDesk:
    def __init__(
        self,
        cases: Cases,
        shares: Shares,
        settings: SharingSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._cases = cases
        self._shares = shares
        self.settings = settings
        self._now = clock

    async def approve(
        self, principal: Principal, incident: Incident, targets: list[str] | None = None
    ) -> Approval:
        """A lead approves sharing ``incident`` (with ``targets``, default: all of its
        tenant's policy); the sharing watch enqueues the jobs from the audit entry."""
        scope(principal, "sharing:approve", [incident.tenant])
        policy = self.settings.policy(incident.tenant)
        if policy.when == "never" or not policy.targets:
            raise InvalidOperation(f"tenant {incident.tenant}'s sharing policy shares nothing")
        if incident.drill:
            raise InvalidOperation("a drill's incident is never shared")
        tlp = effective_tlp(incident, self.settings)
        if tlp == "red":
            raise InvalidOperation("the incident is TLP:RED, which never leaves the SOC")
        every = policy.all_targets()
        chosen = every if not targets else [t for t in every if t in targets]
        if not chosen:
            raise InvalidOperation(f"none of {targets} is a sharing target of this tenant")
        now = self._now()
        await self._cases.record(
            Change.of(
                incident,
                actor=principal.name,
                action="share_approved",
                time=now,
                after={"targets": chosen, "tlp": tlp},
            )
        )
        return Approval(
            incident=incident.id, targets=chosen, tlp=tlp, approved_by=principal.name, at=now
        )

    async def shares(self, incident: Incident) -> list[ShareView]:
        jobs = await self._shares.of_incident(incident.id, tenants=[incident.tenant])
        views = []
        for job in jobs:
            target = self.settings.target(job.target)
            if job.target == LOCAL_TARGET:
                names = ("the SOC's TAXII collection", "Kho TAXII của SOC")
            else:
                names = (
                    (target.display_name, target.display_name_vi) if target else (job.target,) * 2
                )
            views.append(ShareView(job=job, target_name=names[0], target_name_vi=names[1]))
        return views
