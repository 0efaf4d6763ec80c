"""Exercise control: a lead starts, pauses, resumes, aborts and ends drills.

    control = DrillControl(store, desk, scenarios)
    drill = await control.start(principal, "ssh-brute-force", speed=20, blind=False)
    await control.pause(principal, drill.id); await control.resume(principal, drill.id)
    await control.end(principal, drill.id)      # or abort(): the replay stops too

The same calls serve the API and the CLI. Starting only records the drill as
``pending``: a service's runner replays it (soc.drills.runner). Ending (or aborting)
closes every incident of the drill still open with the resolution "drill ended"
(soc.incidents.lifecycle's ``end_drill``: its history kept, a pending hand-off
recalled), keeps the drill's score for the scenario's trend, and makes a blind
drill's marking visible to everyone. Each order is audited.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from soc.audit.trail import AuditTrail
from soc.drills.book import DrillBook
from soc.drills.marks import DrillMarks
from soc.drills.models import Drill, DrillState
from soc.drills.scenario import Scenario, load_scenario, shipped_scenarios
from soc.errors import ConfigError, Conflict, NotFound
from soc.incidents.cases import IncidentQuery
from soc.incidents.desk import Desk
from soc.incidents.errors import InvalidOperation
from soc.incidents.lifecycle import EndDrill
from soc.models import utcnow
from soc.security.principal import Principal
from soc.security.roles import scope
from soc.store.base import Store

SYSTEM_ACTOR = "soc:drills"
"""The actor of what the drills' runner does on its own (closing late incidents)."""


class Scenarios:
    """The scenarios a lead may run: the package's, then the site's folders (an id given
    twice is the site's)."""

    def __init__(self, folders: list[Path] | None = None) -> None:
        self._folders = folders or []

    def all(self) -> dict[str, Scenario]:
        found = shipped_scenarios()
        for folder in self._folders:
            if not folder.is_dir():
                raise ConfigError(f"drills.scenarios: {folder} is not a folder")
            for sub in sorted(folder.iterdir()):
                if (sub / "scenario.yml").is_file():
                    scenario = load_scenario(sub)
                    found[scenario.id] = scenario
        return found

    def get(self, scenario_id: str) -> Scenario | None:
        return self.all().get(scenario_id)


class DrillControl:
    def __init__(
        self,
        store: Store,
        desk: Desk,
        audit: AuditTrail,
        scenarios: Scenarios,
        *,
        marks: DrillMarks | None = None,
    ) -> None:
        self.book = DrillBook(store)
        self._marks = marks
        self._desk = desk
        self._audit = audit
        self.scenarios = scenarios

    async def start(
        self,
        principal: Principal,
        scenario_id: str,
        *,
        tenant: str | None = None,
        speed: float | None = None,
        blind: bool = False,
    ) -> Drill:
        scenario = self.scenarios.get(scenario_id)
        if scenario is None:
            raise NotFound(f"no scenario {scenario_id!r}")
        tenant = tenant or scenario.tenant
        scope(principal, "drills:run", [tenant])
        now = utcnow()
        drill = Drill(
            id=f"drill-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}",
            scenario=scenario.id,
            title=scenario.title,
            tenant=tenant,
            blind=blind,
            speed=speed or scenario.speed,
            created_by=principal.name,
            created=now,
        )
        await self.book.create(drill)
        await self._record(principal, drill, "drill.start", {"speed": drill.speed, "blind": blind})
        return drill

    async def get(self, principal: Principal, drill_id: str) -> Drill:
        return await self.book.get(drill_id, tenants=scope(principal, "drills:read"))

    async def list(self, principal: Principal, *, scenario: str | None = None) -> list[Drill]:
        return await self.book.list(tenants=scope(principal, "drills:read"), scenario=scenario)

    async def pause(self, principal: Principal, drill_id: str) -> Drill:
        return await self._order(principal, drill_id, DrillState.paused, (DrillState.running,))

    async def resume(self, principal: Principal, drill_id: str) -> Drill:
        return await self._order(principal, drill_id, DrillState.running, (DrillState.paused,))

    async def abort(self, principal: Principal, drill_id: str) -> Drill:
        return await self.end(principal, drill_id, aborted=True)

    async def end(
        self,
        principal: Principal,
        drill_id: str,
        *,
        aborted: bool = False,
        score: float | None = None,
    ) -> Drill:
        """End the drill (or abort it, which also stops its replay) and close its open
        incidents; ``score`` is kept on it for the scenario's trend."""
        state = DrillState.aborted if aborted else DrillState.ended
        drill = await self._order(
            principal,
            drill_id,
            state,
            tuple(s for s in DrillState if not s.is_over),
            ended=True,
            score=score,
        )
        await self._close_incidents(principal, drill)
        return drill

    async def _order(
        self,
        principal: Principal,
        drill_id: str,
        to: DrillState,
        allowed: tuple[DrillState, ...],
        *,
        ended: bool = False,
        score: float | None = None,
    ) -> Drill:
        before = await self.book.get(drill_id, tenants=scope(principal, "drills:run"))
        refused: list[DrillState] = []

        def apply(d: Drill) -> Drill | None:
            if d.state not in allowed:
                refused.append(d.state)
                return None
            d.state = to
            if ended:
                d.ended, d.ended_by, d.score = utcnow(), principal.name, score
            return d

        drill = await self.book.update(drill_id, apply)
        if self._marks is not None:
            self._marks.forget(drill_id)
        if refused:
            raise InvalidOperation(f"drill {drill_id} is {refused[0].value}; it cannot be {to}")
        await self._record(principal, drill, f"drill.{to.value}", {"from": before.state.value})
        return drill

    async def close_late(self, drill: Drill) -> None:
        """Close the incidents of an ended drill that its last events opened after the end
        (detection and grouping lag the replay by seconds); the drill runner calls it for
        a while after each end, as ``soc:drills``, a lead of the drill's tenant."""
        system = Principal(name=SYSTEM_ACTOR, role="lead", tenants=(drill.tenant,))
        await self._close_incidents(system, drill)

    async def _close_incidents(self, principal: Principal, drill: Drill) -> None:
        cursor: str | None = None
        while True:
            page = await self._desk.find(
                principal,
                IncidentQuery(
                    tenants=[drill.tenant], drill=drill.id, open=True, limit=500, cursor=cursor
                ),
            )
            for incident in page.items:
                try:
                    await self._desk.act(
                        principal, incident.id, EndDrill(), version=incident.version
                    )
                except (Conflict, InvalidOperation):
                    continue  # changed or closed meanwhile; the next end finds it
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _record(
        self, principal: Principal, drill: Drill, action: str, after: dict[str, object]
    ) -> None:
        await self._audit.append(
            actor=principal.name,
            tenant=drill.tenant,
            action=action,
            target=f"drill:{drill.id}",
            time=utcnow(),
            before={},
            after={"drill": drill.id, "scenario": drill.scenario, "state": drill.state, **after},
        )
