"""`soc hunt --store`: a retro-hunt over the configured store, from the command line.

    soc hunt --store --since 2026-12-01T00:00 --until 2026-12-05 --tenant hue-ioc \\
        rules/new_rule.yml 0d894093-71bc-43c3-8c4d-ecfa28dcd4ab

Each argument is a rule file or folder (compiled with the detector's pipelines) or the
id of a loaded rule. The hunt goes through the same runner as the API's: it is
recorded as a hunt (the UI lists it) and audited, under the actor ``cli:<user>``.
Every match is printed as one JSON line on stdout, the summary on stderr, with a
progress bar when stderr is a terminal. ``--raise`` stores and publishes the new
alerts for the grouping stage, which needs the Kafka bus: the in-process bus of
another process cannot be reached from here, so it is refused.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from soc.audit.trail import AuditTrail
from soc.bus import build_bus
from soc.errors import ConfigError, SocError
from soc.hunt.records import Hunt, HuntRunner
from soc.hunt.retro import SCAN_BATCH, HuntMatch, HuntProgress, HuntScope, estimate
from soc.hunt.rules import HuntRules, hunt_rules
from soc.security.principal import Principal
from soc.settings import ALL_TENANTS, Settings
from soc.store import build_store


def store_hunt_command(
    settings: Settings,
    targets: Sequence[str],
    *,
    since: datetime,
    until: datetime,
    tenants: Sequence[str],
    raise_alerts: bool,
) -> int:
    """The body of `soc hunt --store`; the exit status (0 done, 1 failed, 2 refused)."""
    if raise_alerts and settings.bus.kind != "kafka":
        sys.stderr.write(
            "soc hunt: --raise needs the Kafka bus (bus.kind: kafka) so the grouping stage "
            "receives the alerts; with the in-process bus, start the hunt from the API or UI\n"
        )
        return 2
    files = [Path(t) for t in targets if Path(t).exists()]
    ids = [t for t in targets if not Path(t).exists()]
    try:
        rules = hunt_rules(settings.detect, ids=ids, files=files)
    except (SocError, ConfigError) as e:
        sys.stderr.write(f"soc hunt: {e}\n")
        return 2
    scope = HuntScope(tenants=list(tenants) or None, since=since, until=until)
    try:
        hunt = asyncio.run(_run(settings, rules, scope, raise_alerts=raise_alerts))
    except SocError as e:
        sys.stderr.write(f"soc hunt: {e}\n")
        return 2
    sys.stderr.write(
        f"soc hunt: {hunt.id} {hunt.state}: {hunt.scanned:,} events scanned of "
        f"{hunt.total or 0:,}; {len(hunt.rules)} rules; {hunt.matches:,} matches; "
        f"{hunt.raised:,} alerts raised"
        + (f"; {hunt.correlation_matches:,} correlations fired" if hunt.correlation_matches else "")
        + (f"; {hunt.error}" if hunt.error else "")
        + "\n"
    )
    return 0 if hunt.state == "done" else 1


async def _run(
    settings: Settings, rules: HuntRules, scope: HuntScope, *, raise_alerts: bool
) -> Hunt:
    store, bus = build_store(settings.store), build_bus(settings.bus)
    await store.start()
    await bus.start()
    try:
        runner = HuntRunner(
            store,
            bus,
            AuditTrail(store),
            batch=SCAN_BATCH,
            correlation=settings.detect.correlation,
        )
        who = Principal(name=f"cli:{getpass.getuser()}", role="lead", tenants=(ALL_TENANTS,))
        total = await estimate(store, scope, rules.rules)
        with _watch(total) as watch:
            hunt = await runner.submit(who, rules, scope, raise_alerts=raise_alerts, watch=watch)
            done = await runner.wait(hunt.id)
        sys.stdout.flush()
        return done or hunt
    finally:
        await bus.stop()
        await store.stop()


@contextmanager
def _watch(total: int) -> Iterator[Callable[[HuntProgress, list[HuntMatch]], None]]:
    """Prints each match; draws a progress bar over events on stderr when it is a terminal."""
    out = sys.stdout

    def print_matches(found: list[HuntMatch]) -> None:
        for match in found:
            out.write(match.model_dump_json() + "\n")

    if not sys.stderr.isatty():
        yield lambda _, found: print_matches(found)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("hunt", total=total)

        def watch(progress: HuntProgress, found: list[HuntMatch]) -> None:
            print_matches(found)
            bar.update(task, completed=progress.scanned)

        yield watch
