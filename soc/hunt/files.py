"""`soc hunt`: the detection engine over files, offline.

    summary = hunt(paths, engine=engine, on_match=print_match, progress=bar.advance)

Records are read from files (soc.ingest.readers: EVTX, JSON, NDJSON, gzip, zip,
folders), turned into events exactly as at ingest (the envelope of
soc.ingest.ndjson, then soc.ingest.normalize), matched with the same
``Engine.match``, and every match is the streaming detector's alert
(``soc.stages.detect.make_alert``) for the same rule and event: same rule id,
same event id. The event's ``source`` is the file it came from
(``dump.zip!member.json`` inside a zip), unless an envelope states one.
A record that cannot be read or normalized is counted and reported, never
dropped without a word.

Sigma correlation rules loaded with the rules are evaluated over the matches by the
streaming evaluator (soc.detect.correlation.evaluate, with ``detect.correlation``'s
settings), its input ended when the files are: each correlation that fires is a
:class:`HuntCorrelation` line (rule id, group values, window, event ids), with the
id the streaming stage gives its alert. Rules that ``generate: false`` silences
print no line of their own, as the detector raises no alert for them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.engine import Engine
from soc.detect.load import load_engine
from soc.detect.rule import Rule, make_alert
from soc.errors import ConfigError
from soc.ingest.ndjson import object_event
from soc.ingest.normalize import NormalizeError, identified
from soc.ingest.readers import Progress, ReadItem, input_files, read_file
from soc.models import Alert, Event, LogSource, Severity, UtcDatetime, utcnow
from soc.settings import CorrelationSettings, Settings

MAX_ERRORS_KEPT = 20
"""Unreadable records described in the summary; all of them are counted."""


class HuntMatch(BaseModel):
    """One rule firing on one record: a line of `soc hunt`'s output."""

    rule_id: str
    rule_title: str
    level: Severity
    tags: list[str]
    rule_author: str | None
    rule_version: str | None
    event_id: str
    time: UtcDatetime
    host: str | None
    source: str
    """The file the record came from (``archive.zip!member``), or what its envelope states."""
    position: int
    """The record's number in its file: EVTX record, JSON line or value (1-based)."""
    logsource: LogSource
    alert_id: str
    """The id the streaming detector gives the same alert."""

    @classmethod
    def from_alert(cls, alert: Alert, *, position: int) -> HuntMatch:
        return cls(
            rule_id=alert.rule_id,
            rule_title=alert.rule_title,
            level=alert.severity,
            tags=alert.tags,
            rule_author=alert.rule_author,
            rule_version=alert.rule_version,
            event_id=alert.event_id,
            time=alert.time,
            host=alert.host,
            source=alert.source,
            position=position,
            logsource=alert.logsource,
            alert_id=alert.id,
        )


class HuntCorrelation(BaseModel):
    """A correlation rule fired over the records: a line of `soc hunt`'s output."""

    kind: Literal["correlation"] = "correlation"
    rule_id: str
    rule_title: str
    level: Severity
    type: str
    group: dict[str, str]
    value: float
    """The count, sum, average or percentile that met the condition."""
    window_start: UtcDatetime
    window_end: UtcDatetime
    event_ids: list[str]
    alert_id: str
    """The id the streaming correlation stage gives the same alert."""

    @classmethod
    def from_alert(cls, alert: Alert) -> HuntCorrelation:
        info = alert.correlation
        assert info is not None
        return cls(
            rule_id=alert.rule_id,
            rule_title=alert.rule_title,
            level=alert.severity,
            type=info.type,
            group=info.group,
            value=info.value,
            window_start=info.window_start,
            window_end=info.window_end,
            event_ids=info.event_ids,
            alert_id=alert.id,
        )


class HuntSummary(BaseModel):
    files: int = 0
    events: int = 0
    """Records read and matched."""
    unreadable: int = 0
    """Records (or files) that could not be read or normalized."""
    errors: list[str] = Field(default_factory=list)
    """The first unreadable ones, ``source#position: why``."""
    rules_loaded: int = 0
    rules_failed: int = 0
    correlations_loaded: int = 0
    matches: int = 0
    correlation_matches: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        return (
            f"soc hunt: {self.events:,} events from {self.files:,} files "
            f"({self.unreadable:,} unreadable); {self.rules_loaded:,} rules loaded, "
            f"{self.rules_failed:,} failed to compile; {self.matches:,} matches; "
            f"{self.correlation_matches:,} correlation matches of "
            f"{self.correlations_loaded:,} correlation rules; "
            f"{self.seconds:.1f} s ({rate:,.0f} events/s)"
        )


def total_bytes(paths: Sequence[Path | str]) -> int:
    """Bytes of the files a hunt over ``paths`` reads (for a progress bar)."""
    size = 0
    for path in input_files(paths):
        with suppress(OSError):
            size += path.stat().st_size
    return size


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 0.8 µs more to make, per record
class Outcome:
    """One record through the engine: its event and the rules that fired, or why not.

    ``event`` is set once the record became an event (it counts as read), ``error`` when
    it could not be read, normalized or matched (it counts as unreadable); a record whose
    match failed has both."""

    event: Event | None = None
    rules: list[Rule] = field(default_factory=list)
    error: str | None = None


def match_item(item: ReadItem, *, engine: Engine, tenant: str, received: datetime) -> Outcome:
    """A record read from a file made an event exactly as at ingest, and matched.

    The event's id, which only a match needs, is made only when a rule fires."""
    if item.record is None:
        return Outcome(error=item.error or "unreadable")
    try:
        event = object_event(
            item.record,
            tenant=tenant,
            source=item.source,
            received=received,
            identify=False,
            flat=item.flat,
        )
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return Outcome(error=f"invalid envelope: {where}: {first['msg']}")
    except NormalizeError as e:
        return Outcome(error=str(e))
    try:
        rules = engine.match(event)
    except Exception as e:  # as in the detector: one event must never stop the hunt
        return Outcome(event=identified(event), error=f"detect failed: {type(e).__name__}: {e}")
    return Outcome(event=identified(event) if rules else event, rules=rules)


def hunt(
    paths: Sequence[Path | str],
    *,
    engine: Engine,
    on_match: Callable[[HuntMatch | HuntCorrelation], None],
    tenant: str = "hunt",
    progress: Progress | None = None,
    correlation: CorrelationSettings | None = None,
) -> HuntSummary:
    """Match every record under ``paths``; ``on_match`` gets each match as it is found."""
    started = time.perf_counter()
    received = utcnow()
    catalog = Correlations(engine.correlations)
    evaluator = Evaluator(catalog, correlation) if catalog else None
    summary = HuntSummary(
        rules_loaded=len(engine.rules),
        rules_failed=len(engine.errors),
        correlations_loaded=len(catalog),
    )

    def correlated(alerts: list[Alert]) -> None:
        for alert in alerts:
            summary.correlation_matches += 1
            on_match(HuntCorrelation.from_alert(alert))

    def refuse(source: str, position: int, why: str) -> None:
        summary.unreadable += 1
        if len(summary.errors) < MAX_ERRORS_KEPT:
            summary.errors.append(f"{source}#{position}: {why}")

    events = 0
    for path in input_files(paths):
        summary.files += 1
        for item in read_file(path, progress=progress):
            outcome = match_item(item, engine=engine, tenant=tenant, received=received)
            if outcome.event is not None:
                events += 1  # a local: a pydantic attribute set per event cost 4 % of the hunt
            if outcome.error is not None:
                refuse(item.source, item.position, outcome.error)
                continue
            event, rules = outcome.event, outcome.rules
            assert event is not None
            for rule in rules:
                summary.matches += 1
                if rule.id not in catalog.silent:
                    on_match(HuntMatch.from_alert(make_alert(rule, event), position=item.position))
            if evaluator is not None and rules:
                correlated(evaluator.feed(catalog.matches_of_rules([r.id for r in rules], event)))
    summary.events = events
    if evaluator is not None:
        correlated(evaluator.finish())
    summary.seconds = time.perf_counter() - started
    return summary


def hunt_command(settings: Settings, paths: Sequence[Path], tenant: str, jobs: int = 1) -> int:
    """`soc hunt`'s body: load the rules as the detector does, hunt, print; the exit status.

    ``jobs`` > 1: the records are matched by that many processes (soc.hunt.jobs), with the
    same output; an input that makes a single piece of work is hunted here, in one."""
    try:
        engine = load_engine(settings.detect)
    except ConfigError as e:
        sys.stderr.write(f"soc hunt: {e}\n")
        return 2
    out = sys.stdout

    def print_match(match: HuntMatch | HuntCorrelation) -> None:
        out.write(match.model_dump_json() + "\n")

    bar = _progress_bar if sys.stderr.isatty() else _no_progress
    if jobs > 1 and one_piece(paths):
        jobs = 1
    if jobs > 1:
        from soc.hunt.jobs import Workers

        workers = Workers(engine, settings.detect, jobs=jobs, tenant=tenant)
        try:
            with workers, bar(total_bytes(paths)) as advance:  # the workers fork before the bar
                summary = workers.hunt(
                    paths,
                    write=out.write,
                    progress=advance,
                    correlation=settings.detect.correlation,
                )
        except BrokenProcessPool as e:  # a worker killed (out of memory, a signal)
            out.flush()
            sys.stderr.write(f"soc hunt: a worker process ended before its work was done: {e}\n")
            return 1
    else:
        with bar(total_bytes(paths)) as advance:
            summary = hunt(
                paths,
                engine=engine,
                on_match=print_match,
                tenant=tenant,
                progress=advance,
                correlation=settings.detect.correlation,
            )
    out.flush()
    for error in summary.errors:
        sys.stderr.write(f"soc hunt: unreadable: {error}\n")
    if summary.unreadable > len(summary.errors):
        sys.stderr.write(f"soc hunt: ... and {summary.unreadable - len(summary.errors)} more\n")
    sys.stderr.write(summary.line() + "\n")
    return 1 if summary.unreadable or summary.rules_failed else 0


def one_piece(paths: Sequence[Path | str]) -> bool:
    """True when the input is one file that gives a single piece of work (an EVTX file, or
    a plain file smaller than a block of lines): more processes would only wait."""
    from soc.hunt.split import BLOCK_BYTES

    files = input_files(paths)
    if len(files) != 1:
        return False
    name = files[0].name.lower()
    if name.endswith(".evtx"):
        return True
    if name.endswith((".gz", ".zip")):
        return False
    try:
        return files[0].stat().st_size < BLOCK_BYTES
    except OSError:
        return True


@contextmanager
def _no_progress(total: int) -> Iterator[Progress | None]:
    yield None


@contextmanager
def _progress_bar(total: int) -> Iterator[Progress | None]:
    """A progress bar over bytes of input on stderr (only called when stderr is a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Bar(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("hunt", total=total)
        yield lambda done: bar.advance(task, done)
