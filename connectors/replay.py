"""Drills: recorded logs sent through the agent's own path, re-timed so the drill happens now.

    soc-connector replay --config drill.yml --speed 10 case-42/ auth.log.gz

Files are read as the agent reads them (EVTX, JSON, NDJSON and zips of those
through soc.ingest.readers; other files line by line with ``--format``),
parsed, stamped with a drill id, re-timed, spooled and delivered by the same
Agent, spool and output as ``soc-connector run``. Re-timing: each event gets
the time at which the drill replays it, so the drill happens now and nothing
is dated in the future. Pacing: ``--speed 1`` keeps the original gaps (the
first event at the start, each later one at start + its original offset),
``--speed 10`` divides the gaps by ten, ``--fast`` does not wait at all (every
event of a batch takes the moment the batch is read). The recorded time
stays in the raw record. Replaying the same files with the same drill id
gives the same event ids, so a drill interrupted and run again does not
double.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from connectors.agent import Agent
from connectors.config import AgentConfig, FileSource
from connectors.parse.framing import Frame
from connectors.registry import Registry
from connectors.sources.base import Batch, Emit, Source, SourceContext
from soc.ingest.normalize import NormalizeError, recorded_time
from soc.ingest.readers import input_files, read_records
from soc.log import get_logger
from soc.models import EventIn

BATCH = 500
RECORD_KINDS = (".evtx", ".json", ".jsonl", ".ndjson", ".zip")


def _is_record_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(RECORD_KINDS)


class ReplayFiles(Source):
    """The files of a drill, read once, as one stream each; no positions kept."""

    def __init__(self, config: FileSource, ctx: SourceContext, paths: list[Path]) -> None:
        super().__init__(config, ctx)
        self.paths = paths
        self.done = asyncio.Event()
        self.records = 0

    async def run(self, emit: Emit) -> None:
        for path in self.paths:
            stream = f"replay:{path.resolve()}#{self.ctx.run_id}"
            seq = 0
            for chunk in _chunks(self._frames(path)):
                await emit(Batch(source=self.name, stream=stream, first_seq=seq, records=chunk))
                seq += len(chunk)
                self.records += len(chunk)
        self.done.set()

    def _frames(self, path: Path) -> Iterator[Frame]:
        if path.is_dir() or _is_record_file(path):
            for item in read_records([path]):
                if item.record is not None:
                    yield Frame(_json(item.record))
                else:
                    yield Frame(f"{item.source}: {item.error}".encode())
            return
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            for line in f:
                yield Frame(line.rstrip(b"\n").removesuffix(b"\r"))


def _json(record: object) -> bytes:
    return orjson.dumps(record)


def _chunks(frames: Iterator[Frame]) -> Iterator[list[Frame]]:
    chunk: list[Frame] = []
    for f in frames:
        chunk.append(f)
        if len(chunk) >= BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Retimer:
    """Gives each event the moment the drill replays it, and paces the replay."""

    def __init__(self, *, speed: float | None) -> None:
        self.speed = speed  # None: as fast as possible
        self.first: datetime | None = None
        self.start = datetime.now(UTC)
        self.started = time.monotonic()
        self.events = 0

    def time_of(self, ev: EventIn) -> datetime | None:
        if ev.time is not None:
            return ev.time
        try:
            return recorded_time(ev.record)
        except NormalizeError:
            return None

    async def __call__(self, events: list[EventIn]) -> None:
        latest: datetime | None = None
        now = datetime.now(UTC)
        for ev in events:
            t = self.time_of(ev)
            if t is None:
                ev.time = now
                continue
            if self.first is None:
                self.first = t
            offset = max(timedelta(0), t - self.first)
            ev.time = self.start + offset / self.speed if self.speed else now
            latest = t if latest is None or t > latest else latest
        self.events += len(events)
        if self.speed and latest is not None and self.first is not None:
            due = (latest - self.first).total_seconds() / self.speed
            ahead = due - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


def replay_source_config(fmt: str) -> FileSource:
    return FileSource(type="file", name="replay", paths=["-"], format=fmt)


async def replay(
    config: AgentConfig,
    paths: list[Path],
    *,
    drill: str,
    speed: float | None,
    fmt: str,
    progress: bool,
) -> dict[str, object]:
    """Send ``paths`` as drill ``drill``; returns the counts once all is acknowledged."""
    files = input_files(paths) if any(p.is_dir() for p in paths) else paths
    source_cfg = replay_source_config(fmt)
    spool_dir = config.connector.data_dir / "replay" / drill
    cfg = config.model_copy(
        update={
            "sources": [source_cfg],
            "metrics": config.metrics.model_copy(update={"listen": None}),
            "connector": config.connector.model_copy(update={"data_dir": spool_dir}),
        }
    )
    retimer = Retimer(speed=speed)
    ctx = SourceContext(
        connector=config.connector.id,
        run_id=drill,
        registry=Registry(spool_dir / "registry"),
        log=get_logger("connectors.replay"),
    )
    source = ReplayFiles(source_cfg, ctx, files)
    agent = Agent(cfg, sources=[source], drill=drill, before_spool=retimer)
    stop = asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(agent.run(stop, drain_s=0))
    bar = _progress() if progress else None
    try:
        while not (source.done.is_set() and agent.spool.pending_events() == 0):
            if task.done():
                await task  # raises what stopped the agent
            if bar is not None:
                bar[0].update(bar[1], completed=source.records, description=_status(agent))
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
        if bar is not None:
            bar[0].stop()
    return {
        "drill": drill,
        "records": source.records,
        "events": retimer.events,
        "seconds": round(time.monotonic() - started, 2),
        "first_event_time": retimer.first.isoformat() if retimer.first else None,
        "replayed_from": retimer.start.isoformat(),
    }


def _status(agent: Agent) -> str:
    up = "up" if agent.delivery.up else "down"
    return f"replay (destination {up}, spool {agent.spool.pending_events()} events)"


def _progress() -> tuple[Progress, TaskID] | None:
    if not sys.stderr.isatty():
        return None
    p = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} records"),
        TimeElapsedColumn(),
        transient=True,
    )
    p.start()
    return p, p.add_task("replay", total=None)
