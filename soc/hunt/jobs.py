"""`soc hunt --jobs N`: the records of the files matched by N processes, output as one.

    with Workers(engine, settings.detect, jobs=2, tenant="hunt") as workers:
        summary = workers.hunt(paths, write=sys.stdout.write, correlation=...)

The parent cuts the input into pieces (soc.hunt.split: files, and blocks of lines of a big
NDJSON or syslog file, also inside gzip and zip) and hands them to the workers, at most a
few per worker at a time; each worker reads its piece, makes each record an event, matches
it (soc.hunt.files.match_item, the code one job runs) and gives back, for every event that
fired a rule, its match lines (JSON, as one job prints them) and the inputs of the Sigma
correlations they feed. The parent takes the results in input order, whatever order the
workers finish in: it prints the lines and feeds the correlation evaluator exactly as one
job does, event after event, so the correlations see the same matches in the same order
and fire at the same places in the output. Output and summary counts are identical to
``--jobs 1`` (only the seconds differ).

The workers are forked from the parent after it compiled the rules (where ``fork`` is the
start method): they start with the parent's engine, its routes and scanners built, and
compile nothing. Elsewhere (spawn) each worker loads the rules once, from the compiled-rule
cache (``detect.cache_dir``) the parent has just filled.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.detect.load import load_engine
from soc.detect.rule import make_alert
from soc.hunt.files import (
    MAX_ERRORS_KEPT,
    HuntCorrelation,
    HuntMatch,
    HuntSummary,
    match_item,
)
from soc.hunt.split import BLOCK_BYTES, Piece, piece_items, pieces
from soc.ingest.readers import Progress, input_files
from soc.models import Alert, utcnow
from soc.settings import CorrelationSettings, DetectSettings

IN_FLIGHT_PER_JOB = 3
"""Pieces handed out per worker ahead of the one merged: enough that none waits for work,
few enough that a big file is never all in memory."""


@dataclass(slots=True)
class _Context:
    engine: Engine
    catalog: Correlations
    tenant: str
    received: datetime


_CONTEXT: _Context | None = None
"""The parent's engine, inherited by forked workers; a spawned worker loads its own."""


@dataclass(slots=True)
class PieceResult:
    """What a worker found in one piece, for the parent to merge in input order."""

    events: int = 0
    unreadable: int = 0
    errors: list[str] = field(default_factory=list)
    """The piece's first unreadable records, ``source#position: why``."""
    matches: int = 0
    fired: list[tuple[list[str], list[CorrelationMatch] | None]] = field(default_factory=list)
    """For each event that fired a rule: its match lines and, when correlations are loaded,
    what it feeds them (``Correlations.matches_of_rules``)."""


def _start(settings: DetectSettings, tenant: str, received: datetime) -> None:
    """A worker's start: the parent's engine when forked, else the rules loaded once."""
    global _CONTEXT
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if _CONTEXT is None:
        engine = load_engine(settings)
        _CONTEXT = _Context(engine, Correlations(engine.correlations), tenant, received)


def _ready() -> None:
    """A no-op: submitted once so that every worker is started before the parent goes on."""


def run_piece(piece: Piece) -> PieceResult:
    """In a worker: one piece's records through the engine (as soc.hunt.files.hunt does)."""
    context = _CONTEXT
    assert context is not None, "run_piece outside a worker"
    engine, catalog = context.engine, context.catalog
    result = PieceResult()
    for item in piece_items(piece):
        outcome = match_item(item, engine=engine, tenant=context.tenant, received=context.received)
        if outcome.event is not None:
            result.events += 1
        if outcome.error is not None:
            result.unreadable += 1
            if len(result.errors) < MAX_ERRORS_KEPT:
                result.errors.append(f"{item.source}#{item.position}: {outcome.error}")
            continue
        event, rules = outcome.event, outcome.rules
        if not rules:
            continue
        assert event is not None
        lines: list[str] = []
        for rule in rules:
            result.matches += 1
            if rule.id not in catalog.silent:
                match = HuntMatch.from_alert(make_alert(rule, event), position=item.position)
                lines.append(match.model_dump_json())
        feeds = catalog.matches_of_rules([r.id for r in rules], event) if catalog else None
        result.fired.append((lines, feeds))
    return result


class Workers:
    """``jobs`` worker processes over one engine, started when entered."""

    def __init__(
        self,
        engine: Engine,
        settings: DetectSettings,
        *,
        jobs: int,
        tenant: str = "hunt",
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self.engine = engine
        self.block_bytes = block_bytes
        self.settings = settings
        self.jobs = jobs
        self.tenant = tenant
        self.received = utcnow()
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        global _CONTEXT
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        catalog = Correlations(self.engine.correlations)
        _CONTEXT = _Context(self.engine, catalog, self.tenant, self.received)
        try:
            self._pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=context,
                initializer=_start,
                initargs=(self.settings, self.tenant, self.received),
            )
            self._pool.submit(_ready).result()  # forks them all now, before any thread of ours
        finally:
            _CONTEXT = None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def hunt(
        self,
        paths: Sequence[Path | str],
        *,
        write: Callable[[str], object],
        progress: Progress | None = None,
        correlation: CorrelationSettings | None = None,
    ) -> HuntSummary:
        """Every record under ``paths`` matched by the workers; each output line (with its
        newline) given to ``write`` in the order one job prints them."""
        pool = self._pool
        assert pool is not None, "Workers.hunt outside its with block"
        started = time.perf_counter()
        catalog = Correlations(self.engine.correlations)
        evaluator = Evaluator(catalog, correlation) if catalog else None
        summary = HuntSummary(
            rules_loaded=len(self.engine.rules),
            rules_failed=len(self.engine.errors),
            correlations_loaded=len(catalog),
        )

        def correlated(alerts: list[Alert]) -> None:
            for alert in alerts:
                summary.correlation_matches += 1
                write(HuntCorrelation.from_alert(alert).model_dump_json() + "\n")

        def merge(result: PieceResult) -> None:
            summary.events += result.events
            summary.unreadable += result.unreadable
            summary.matches += result.matches
            summary.errors += result.errors[: MAX_ERRORS_KEPT - len(summary.errors)]
            for lines, feeds in result.fired:
                for line in lines:
                    write(line + "\n")
                if evaluator is not None and feeds is not None:
                    correlated(evaluator.feed(feeds))

        window: deque[tuple[Future[PieceResult], int]] = deque()

        def take_oldest() -> None:
            future, size = window.popleft()
            merge(future.result())
            if progress is not None and size:
                progress(size)

        for path in input_files(paths):
            summary.files += 1
            size = _size(path)
            for piece in pieces(path, block_bytes=self.block_bytes):
                window.append((pool.submit(run_piece, piece), 0))
                while len(window) >= self.jobs * IN_FLIGHT_PER_JOB:
                    take_oldest()
            if window:  # the file's bytes are done when its last piece is
                window[-1] = (window[-1][0], window[-1][1] + size)
            elif progress is not None and size:
                progress(size)
        while window:
            take_oldest()
        if evaluator is not None:
            correlated(evaluator.finish())
        summary.seconds = time.perf_counter() - started
        return summary


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
