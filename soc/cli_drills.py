"""`soc drill ...`: incident-response drills from the command line.

    soc drill scenarios                         # the scenarios a lead may run
    soc drill check PATH                        # validate a scenario file (file:line: key: ...)
    soc drill start SCENARIO [--speed N] [--blind] [--tenant T] [--wait]
    soc drill list
    soc drill status ID
    soc drill pause ID | resume ID | abort ID | end ID
    soc drill report ID [--format text|json|html] [--lang vi|en]

The commands work on the store the settings name, as `soc rules` does, with the actor
``cli:<login name>`` (a lead of every tenant) in the audit trail. ``start`` records the
drill; a running service (`soc run`, or `soc api` with ``drills.run``) replays it
through the live ingest path within ``drills.poll_s`` (soc.drills.runner). ``--wait``
follows it until every event is sent.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import click

from soc.cli_rules import cli_name
from soc.drills.control import DrillControl, Scenarios
from soc.drills.models import DrillState, Scorecard
from soc.drills.report import report_html, scorecard_text
from soc.drills.scenario import load_scenario
from soc.drills.scorecard import scorecard
from soc.errors import ConfigError, NotFound, SocError
from soc.incidents.cases import Cases
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.desk import Desk
from soc.incidents.errors import InvalidOperation
from soc.security.principal import Principal
from soc.settings import ALL_TENANTS, Settings
from soc.store import Store, build_store

T = TypeVar("T")


def _lead() -> Principal:
    return Principal(name=cli_name(), role="lead", tenants=(ALL_TENANTS,))


@asynccontextmanager
async def _control(settings: Settings) -> AsyncIterator[tuple[DrillControl, Store, Cases]]:
    store = build_store(settings.store)
    await store.start()
    try:
        cases = Cases(store)
        desk = Desk(store, cases, deadlines=DeadlinePolicy.from_settings(settings.incidents))
        yield (
            DrillControl(store, desk, cases.audit, Scenarios(settings.drills.scenarios)),
            store,
            cases,
        )
    finally:
        await store.stop()


async def _card(control: DrillControl, store: Store, cases: Cases, drill_id: str) -> Scorecard:
    drill = await control.get(_lead(), drill_id)
    scenario = control.scenarios.get(drill.scenario)
    if scenario is None:
        raise NotFound(f"the scenario {drill.scenario!r} is no longer here")
    return await scorecard(store, cases, drill, scenario)


def drills_group(load: Callable[[], Settings]) -> click.Group:
    """The `soc drill` group; ``load`` builds the settings (as the other commands do)."""

    def run(work: Callable[[DrillControl, Store, Cases], Awaitable[T]]) -> T:
        settings = load()

        async def go() -> T:
            async with _control(settings) as (control, store, cases):
                return await work(control, store, cases)

        try:
            return asyncio.run(go())
        except (NotFound, InvalidOperation, ConfigError) as e:
            click.echo(f"soc drill: {e}", err=True)
            sys.exit(2)
        except SocError as e:
            click.echo(f"soc drill: {e}", err=True)
            sys.exit(1)

    @click.group("drill")
    def group() -> None:
        """Incident-response drills: recorded attacks replayed through the live path, scored."""

    @group.command("scenarios")
    def scenarios() -> None:
        """The scenarios a lead may run (the package's and drills.scenarios)."""
        settings = load()
        try:
            found = Scenarios(settings.drills.scenarios).all()
        except ConfigError as e:
            click.echo(f"soc drill: {e}", err=True)
            sys.exit(2)
        for s in found.values():
            steps = ", ".join(step.name for step in s.steps)
            click.echo(f"{s.id}\t{s.title}\t[{steps}] -> {s.response.unit}")

    @group.command("check")
    @click.argument("path", type=click.Path(path_type=Path, exists=True))
    def check(path: Path) -> None:
        """Validate a scenario file or folder; errors as FILE:LINE: KEY: MESSAGE."""
        try:
            s = load_scenario(path)
        except ConfigError as e:
            click.echo(str(e), err=True)
            sys.exit(1)
        click.echo(f"{s.id}: {len(s.steps)} steps, {len(s.expected_rules)} expected rules: ok")

    @group.command("start")
    @click.argument("scenario")
    @click.option("--speed", type=click.FloatRange(min=0.001, max=10_000), default=None)
    @click.option("--blind", is_flag=True, help="Unannounced: no badge for analysts")
    @click.option("--tenant", default=None, help="Default: the scenario's tenant")
    @click.option("--wait", is_flag=True, help="Follow the replay until every event is sent")
    def start(
        scenario: str, speed: float | None, blind: bool, tenant: str | None, wait: bool
    ) -> None:
        """Start SCENARIO (an id from `soc drill scenarios`); prints the drill's id."""

        async def work(control: DrillControl, store: Store, cases: Cases) -> None:
            drill = await control.start(_lead(), scenario, tenant=tenant, speed=speed, blind=blind)
            click.echo(drill.id)
            while wait:
                await asyncio.sleep(1)
                drill = await control.get(_lead(), drill.id)
                sent = sum(s.sent for s in drill.steps)
                total = sum(s.events for s in drill.steps)
                click.echo(f"{drill.state.value}: {sent}/{total} events sent", err=True)
                if drill.state not in (DrillState.pending, DrillState.running, DrillState.paused):
                    return

        run(work)

    @group.command("list")
    def list_() -> None:
        """Drills, newest first."""

        async def work(control: DrillControl, store: Store, cases: Cases) -> None:
            for d in await control.list(_lead()):
                score = "-" if d.score is None else f"{d.score:g}"
                blind = " blind" if d.blind else ""
                click.echo(f"{d.id}\t{d.scenario}\t{d.state.value}{blind}\t{d.tenant}\t{score}")

        run(work)

    @group.command("status")
    @click.argument("drill_id")
    def status(drill_id: str) -> None:
        """A drill as JSON: state and progress."""

        async def work(control: DrillControl, store: Store, cases: Cases) -> None:
            click.echo((await control.get(_lead(), drill_id)).model_dump_json(indent=2))

        run(work)

    def order(name: str, doc: str) -> None:
        @group.command(name, help=doc)
        @click.argument("drill_id")
        def command(drill_id: str) -> None:
            async def work(control: DrillControl, store: Store, cases: Cases) -> None:
                if name in ("end", "abort"):
                    card = await _card(control, store, cases, drill_id)
                    drill = await control.end(
                        _lead(), drill_id, aborted=name == "abort", score=card.score
                    )
                else:
                    drill = await getattr(control, name)(_lead(), drill_id)
                click.echo(f"{drill.id}: {drill.state.value}")

            run(work)

    order("pause", "Pause the replay of DRILL_ID.")
    order("resume", "Resume a paused replay.")
    order("abort", "Stop the replay and end the drill; its open incidents are closed.")
    order("end", "End the drill: its open incidents are closed with 'drill ended'.")

    @group.command("report")
    @click.argument("drill_id")
    @click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text")
    @click.option("--lang", type=click.Choice(["vi", "en"]), default="vi")
    def report(drill_id: str, fmt: str, lang: str) -> None:
        """The drill's scorecard: text, JSON, or the printable HTML report (A4)."""

        async def work(control: DrillControl, store: Store, cases: Cases) -> None:
            card = await _card(control, store, cases, drill_id)
            if fmt == "json":
                click.echo(card.model_dump_json(indent=2))
            elif fmt == "html":
                click.echo(report_html(card, lang=lang, standalone=True))
            else:
                click.echo(scorecard_text(card))

        run(work)

    return group
