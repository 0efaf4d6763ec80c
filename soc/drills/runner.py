"""The drill runner: replays the drills a lead started, through the live ingest path.

    runner = DrillRunner(store, bus, settings, scenarios=catalog.get)
    await runner.run()          # until stop(): picks up pending drills, replays them

Starting a drill only writes it to the store, as ``pending`` (soc.drills.control);
a runner in a service process takes it (the store's versioned write decides between
runners), and posts its events, paced by the recorded gaps divided by the drill's
speed, to the same ingest as a connector's (soc.stages.ingest.ingest_ndjson: parse,
dead letters, the bus); detection, correlation and grouping then see them as they
see live events. So the CLI can start a drill on the embedded default, where only
the service's process holds the bus.

While it replays, the runner saves the drill's progress and a heartbeat every
``drills.poll_s`` and reads the lead's orders back: ``paused`` stops the clock until
``running`` again, ``aborted`` (or ``ended``) stops the replay. A drill whose
runner gave no sign of life for ``drills.stale_s`` is taken over by another, which
goes on after the last event saved as sent (the events' ids are fixed by their
place in the scenario, so one sent twice is stored once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from soc.bus.base import Bus
from soc.drills.book import DrillBook
from soc.drills.models import Drill, DrillState, StepProgress
from soc.drills.replay import Planned, step_events
from soc.drills.scenario import Scenario
from soc.errors import NotFound, SocError
from soc.metrics import DRILL_EVENTS_SENT, DRILL_REPLAYS
from soc.models import utcnow
from soc.settings import Settings
from soc.stages.ingest import ingest_ndjson
from soc.stages.runtime import Stage
from soc.store.base import Store

log = logging.getLogger(__name__)

LIVE = (DrillState.pending, DrillState.running, DrillState.paused)
LATE = timedelta(minutes=10)
"""How long after a drill's end its late incidents are still closed (see ``close_late``)."""


class DrillLost(SocError):
    """The drill is no longer this runner's to replay (aborted, ended, taken over)."""


class DrillRunner(Stage):
    name = "drills"

    def __init__(
        self,
        store: Store,
        bus: Bus,
        settings: Settings,
        *,
        scenarios: Callable[[str], Scenario | None],
        close_late: Callable[[Drill], Awaitable[None]] | None = None,
        name: str | None = None,
    ) -> None:
        """``close_late``: closes the incidents an ended drill's last events opened after its
        end (DrillControl.close_late); called at each poll for ``LATE`` after the end."""
        self._book = DrillBook(store)
        self._bus = bus
        self._settings = settings
        self._scenarios = scenarios
        self._close_late = close_late
        super().__init__()
        self.runner_name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        poll = self._settings.drills.poll_s
        try:
            while not self.stopping:
                try:
                    await self.poll()
                except SocError as e:  # the store is down: try again at the next poll
                    log.warning("drill poll failed", extra={"error": str(e)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), poll)
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def poll(self) -> None:
        """Take the pending drills, and the running ones whose runner went silent; close
        what ended drills opened late."""
        self._tasks = {k: t for k, t in self._tasks.items() if not t.done()}
        if self._close_late is not None:
            now = utcnow()
            over = [DrillState.ended, DrillState.aborted]
            for drill in await self._book.list(tenants=None, states=over, limit=50):
                if drill.ended is not None and now - drill.ended <= LATE:
                    await self._close_late(drill)
        stale = timedelta(seconds=self._settings.drills.stale_s)
        now = utcnow()
        for drill in await self._book.list(tenants=None, states=list(LIVE)):
            if drill.id in self._tasks:
                continue
            silent = drill.heartbeat is None or now - drill.heartbeat > stale
            takes = drill.state is DrillState.pending or (
                drill.runner != self.runner_name and silent
            )
            if takes and await self._claim(drill.id):
                self._tasks[drill.id] = asyncio.create_task(
                    self._replay(drill.id), name=f"drill:{drill.id}"
                )

    async def _claim(self, drill_id: str) -> bool:
        stale = timedelta(seconds=self._settings.drills.stale_s)

        def take(d: Drill) -> Drill | None:
            now = utcnow()
            silent = d.heartbeat is None or now - d.heartbeat > stale
            if d.state is DrillState.pending or (d.state in LIVE and silent):
                d.state = DrillState.running if d.state is DrillState.pending else d.state
                d.runner, d.heartbeat = self.runner_name, now
                return d
            return None

        drill = await self._book.update(drill_id, take)
        return drill.runner == self.runner_name and drill.state in LIVE

    async def _replay(self, drill_id: str) -> None:
        try:
            drill = await self._book.get(drill_id)
            scenario = self._scenarios(drill.scenario)
            if scenario is None:
                raise NotFound(f"no scenario {drill.scenario!r}")
            scenario = scenario.model_copy(update={"speed": drill.speed})
            await _Replay(self, drill, scenario).run()
            DRILL_REPLAYS.labels(outcome="replayed").inc()
        except DrillLost:
            DRILL_REPLAYS.labels(outcome="lost").inc()
            log.info("drill no longer replayed here", extra={"drill": drill_id})
        except asyncio.CancelledError:
            raise
        except Exception as e:
            DRILL_REPLAYS.labels(outcome="failed").inc()
            log.exception("drill replay failed", extra={"drill": drill_id})
            await self._fail(drill_id, f"{type(e).__name__}: {e}")

    async def _fail(self, drill_id: str, error: str) -> None:
        def failed(d: Drill) -> Drill | None:
            if d.runner != self.runner_name or d.state.is_over:
                return None
            d.state, d.error, d.ended = DrillState.aborted, error, utcnow()
            return d

        try:
            await self._book.update(drill_id, failed)
        except SocError:
            log.exception("could not record the drill's failure", extra={"drill": drill_id})


class _Replay:
    """One drill's replay by one runner."""

    def __init__(self, runner: DrillRunner, drill: Drill, scenario: Scenario) -> None:
        self.runner = runner
        self.drill = drill
        self.scenario = scenario
        self.poll = runner._settings.drills.poll_s
        self.chunk = runner._settings.drills.chunk
        self.last_save = 0.0

    async def run(self) -> None:
        plans = [
            list(step_events(self.scenario, step, drill_id=self.drill.id))
            for step in self.scenario.steps
        ]
        known = {s.name: s for s in self.drill.steps}
        self.drill.steps = [
            known.get(step.name) or StepProgress(name=step.name) for step in self.scenario.steps
        ]
        for progress, plan in zip(self.drill.steps, plans, strict=True):
            progress.events = len(plan)
        await self.save(force=True)
        for progress, plan in zip(self.drill.steps, plans, strict=True):
            await self.send_step(progress, plan)
        self.drill.state = DrillState.replayed
        self.drill.replayed = utcnow()
        await self.save(force=True, final=True)
        log.info(
            "drill replayed", extra={"drill": self.drill.id, "runner": self.runner.runner_name}
        )

    async def send_step(self, progress: StepProgress, plan: list[Planned]) -> None:
        start = i = progress.sent  # a drill taken over goes on after the last event saved
        due = time.monotonic()
        while i < len(plan):
            due += 0.0 if i == start and start > 0 else plan[i].delay
            while (wait := due - time.monotonic()) > 0:
                paused = await self.control()
                if paused:
                    due += paused
                    continue
                await asyncio.sleep(min(wait, self.poll))
            paused = await self.control()
            if paused:
                due += paused
            batch = [plan[i]]
            while (
                len(batch) < self.chunk
                and i + len(batch) < len(plan)
                and due + plan[i + len(batch)].delay <= time.monotonic()
            ):
                due += plan[i + len(batch)].delay
                batch.append(plan[i + len(batch)])
            await self.send(progress, batch)
            i += len(batch)

    async def send(self, progress: StepProgress, batch: list[Planned]) -> None:
        now = utcnow()
        body = b"".join(
            json.dumps(
                p.event.model_copy(update={"time": now}).model_dump(mode="json", exclude_none=True),
                separators=(",", ":"),
            ).encode()
            + b"\n"
            for p in batch
        )
        await ingest_ndjson(
            body,
            tenant=self.drill.tenant,
            source=f"drill:{self.scenario.id}",
            bus=self.runner._bus,
            settings=self.runner._settings.ingest,
        )
        if progress.first_event_at is None:
            progress.first_event_at = now
        if self.drill.started is None:
            self.drill.started = now
        progress.sent += len(batch)
        DRILL_EVENTS_SENT.labels(scenario=self.scenario.id).inc(len(batch))
        progress.last_event_at = now
        await self.save(force=progress.sent == len(batch))

    async def control(self) -> float:
        """Save progress when due and obey the lead: the seconds spent paused (0 if not)."""
        await self.save()
        if self.drill.state is not DrillState.paused:
            return 0.0
        began = time.monotonic()
        while self.drill.state is DrillState.paused:
            await asyncio.sleep(self.poll)
            await self.save(force=True)
        return time.monotonic() - began

    async def save(self, *, force: bool = False, final: bool = False) -> None:
        """Write progress and heartbeat (at most every poll_s unless forced), and read back
        the state the lead set. Raises DrillLost when the drill is no longer ours to replay."""
        if not force and time.monotonic() - self.last_save < self.poll:
            return
        mine = self.drill
        name = self.runner.runner_name

        def merge(d: Drill) -> Drill | None:
            if d.runner != name or d.state.is_over:
                return None
            d.steps = mine.steps
            d.started = d.started or mine.started
            d.heartbeat = utcnow()
            if final and d.state in (DrillState.running, DrillState.paused):
                d.state, d.replayed = DrillState.replayed, mine.replayed
            return d

        stored = await self.runner._book.update(mine.id, merge)
        self.last_save = time.monotonic()
        if stored.runner != name or stored.state.is_over:
            raise DrillLost
        self.drill.state = stored.state if not final else self.drill.state
