"""The agent: sources -> parse -> on-disk spool -> destination, losing nothing.

    agent = Agent(load_config(path))
    await agent.run(stop_event)

Every batch a source reads is parsed at once (one event per line, an error
event for a line no parser understands), stamped with its origin (this
connector, the source, the stream and the record's sequence number) and
appended to the spool; only then does the source read on. One sender takes
entries from the spool in order, delivers them, and on acknowledgement
advances the spool and hands each source its checkpoint to persist. While
the destination is down the spool fills; when it is full, sources wait.

Reading and sending overlap: the sender takes what is spooled as soon as it
is there (``Spool.put`` yields after each append), and takes at most half of
``spool.max_bytes`` at once, because what is in flight still counts against
the bound: with a small spool, a sender that took all of it would stop every
source for each round trip, and the sources would stop it while they parse.
After a success the sender takes the next batch at once; it sleeps (back-off)
only after a failure.

Every ``connector.heartbeat_s`` (and once at start) the agent reports to the SOC
on its output (:meth:`Agent.heartbeat`): its id, version and host, and per
stream the highest seq acknowledged, the records still in the spool and the
age of the oldest, and the sends of its records that failed. A drill's agent
sends none: a drill never counts in the SOC's sources. On HTTP it is posted to
``/api/v1/heartbeat``; on Kafka it is one message on the agent's ingest topic, marked
by a ``soc-kind: heartbeat`` header (soc.models.FiledHeartbeat says why).

An idle agent's heartbeat costs one small message per interval and nothing more: the
heartbeat is built and encoded again only when something changed since the last one
(events spooled, delivered or failed; the backlog's age, while there is a backlog), and
the loop wakes once per interval. The sender, too, waits on the spool for up to one
interval when there is nothing to send, not less. ``/metrics`` carries, per stream, the
highest seq handed to the destination (``soc_connector_stream_sent_seq``) beside the
highest acknowledged (``soc_connector_stream_acked_seq``); the two differ by what is in
flight or being retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import random
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from connectors import metrics as m
from connectors.config import AgentConfig, KafkaOutput
from connectors.errors import DeliveryError
from connectors.outputs import Output, make_output
from connectors.parse._base import HEAD_BYTES, Defaults
from connectors.parse.dispatch import frame_events, parse
from connectors.parse.zeek import ZeekStreams
from connectors.registry import Registry
from connectors.sources.base import Batch, Source, SourceContext
from connectors.spool import Entry, Spool
from soc import __version__
from soc.log import get_logger
from soc.models import EventIn, Heartbeat, Origin, StreamBeat

log = get_logger("connectors.agent")

FULL_LOG_EVERY_S = 60.0
"""``spool full`` is logged at most this often: under backpressure sources wait at each ack."""

SOC_MAX_LINE_BYTES = 1_000_000
"""Under the SOC's default ingest.max_line_bytes (1 MiB), so no event is refused as too large."""

MAX_STREAM_SERIES = 1000
"""Streams the agent reports (heartbeat, per-stream gauge): the most recently active;
a file rotated daily for years makes a stream a day."""

SOURCE_TYPES = {
    "file": "connectors.sources.file_tail:FileTailSource",
    "windows_files": "connectors.sources.windows_files:WindowsFilesSource",
    "syslog": "connectors.sources.syslog:SyslogSource",
    "http": "connectors.sources.http_receiver:HttpReceiverSource",
    "s3": "connectors.sources.s3:S3Source",
}


def make_source(config: Any, ctx: SourceContext) -> Source:
    module, _, cls = SOURCE_TYPES[config.type].partition(":")
    source: Source = getattr(importlib.import_module(module), cls)(config, ctx)
    return source


@dataclass(slots=True)
class DeliveryState:
    up: bool | None = None
    """None until the first send: a quiet agent is not a failing one."""
    last_error: str | None = None
    last_ack: float | None = None
    failures_in_row: int = 0


@dataclass(slots=True)
class StreamState:
    seq: int | None = None
    """Highest seq acknowledged."""
    sent: int | None = None
    """Highest seq handed to the destination (acknowledged or not)."""
    failures: int = 0


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        sources: Sequence[Source] | None = None,
        output: Output | None = None,
        drill: str | None = None,
        spool: Spool | None = None,
        before_spool: Callable[[list[EventIn]], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.run_id = uuid.uuid4().hex[:12]
        self.drill = drill
        self.before_spool = before_spool
        """Drills: re-time and pace events after parsing, before they are spooled."""
        data = config.connector.data_dir
        self.registry = Registry(data / "registry")
        self.spool = spool or Spool(
            data / "spool",
            max_bytes=config.spool.max_bytes,
            segment_bytes=config.spool.segment_bytes,
            fsync=config.spool.fsync,
        )
        ctx = SourceContext(
            connector=config.connector.id,
            run_id=self.run_id,
            registry=self.registry,
            log=get_logger("connectors.sources"),
        )
        self.sources: dict[str, Source] = {
            s.name: s for s in (sources or [make_source(c, ctx) for c in config.sources])
        }
        self.output = output or make_output(config)
        self.delivery = DeliveryState()
        self._committed: dict[tuple[str, str], int] = {}
        self._streams: OrderedDict[tuple[str, str], StreamState] = OrderedDict()
        """Per (source, stream), most recently active last: what the heartbeat reports."""
        self.host = config.connector.host or socket.gethostname()[:255] or "-"
        self._defaults = self._make_defaults()
        self._zeek = ZeekStreams()
        """Zeek TSV readers, one per stream: its header lines say how its lines read."""
        self.max_event_bytes = (
            config.output.max_message_bytes - 1024
            if isinstance(config.output, KafkaOutput)
            else SOC_MAX_LINE_BYTES
        )
        """An event encoded larger than this is shipped as a too_large event."""
        self.started = asyncio.Event()
        self._changes = 0
        """Bumped by whatever a heartbeat reports: spooled, sent, acknowledged, failed."""
        self._beat: tuple[int, bytes] | None = None
        """The last heartbeat encoded, and ``_changes`` when it was."""
        self._full_logged: float | None = None
        """When ``spool full`` was last logged (time.monotonic)."""
        m.SPOOL_LIMIT.set(config.spool.max_bytes)

    def _make_defaults(self) -> dict[str, Defaults]:
        tz = ZoneInfo(self.config.connector.timezone)
        return {
            c.name: Defaults(
                host=self.host,
                source=c.name,
                logsource=c.logsource,
                tz=tz,
                max_line_bytes=c.max_line_bytes,
            )
            for c in self.config.sources
        }

    def _source_config(self, name: str) -> Any:
        for c in self.config.sources:
            if c.name == name:
                return c
        raise KeyError(name)

    # -- sources -> spool ----------------------------------------------------------

    async def emit(self, batch: Batch) -> None:
        """Parse, stamp and spool one batch; returns once it is on disk (waits when full)."""
        events = self.parse_batch(batch)
        if self.before_spool is not None:
            await self.before_spool([ev for _, _, ev in events])
        entry = self.to_entry(batch, events)
        m.RECORDS_READ.labels(batch.source).inc(len(batch.records))
        m.BYTES_READ.labels(batch.source).inc(sum(f.size or len(f.data) for f in batch.records))

        def paused() -> None:
            m.SPOOL_FULL.set(1)
            m.SPOOL_DISK_FULL.set(1 if self.spool.disk_full else 0)
            if self.spool.disk_full:
                return  # the spool logged it
            now = time.monotonic()
            if self._full_logged is None or now - self._full_logged >= FULL_LOG_EVERY_S:
                self._full_logged = now
                log.warning(
                    "spool full: source paused until the destination catches up",
                    extra={"source": batch.source, "spool_bytes": self.spool.pending_bytes()},
                )

        waited = await self.spool.put(entry, on_wait=paused)
        if waited:
            m.BACKPRESSURE_SECONDS.labels(batch.source).inc(waited)
            m.SPOOL_FULL.set(1 if self.spool.waiting else 0)
            m.SPOOL_DISK_FULL.set(1 if self.spool.disk_full else 0)
        m.EVENTS_SPOOLED.labels(batch.source).inc(entry.events)
        self._changes += 1
        self._gauges()

    def parse_batch(self, batch: Batch) -> list[tuple[int, int, EventIn]]:
        """The batch's events as (seq, part, event); an unreadable record gives an error event."""
        cfg = self._source_config(batch.source)
        d = self._defaults[batch.source]
        if batch.host:
            d = Defaults(
                host=batch.host[:255],
                source=d.source,
                logsource=d.logsource,
                tz=d.tz,
                max_line_bytes=d.max_line_bytes,
            )
        out: list[tuple[int, int, EventIn]] = []
        zeek = None
        if cfg.format == "zeek":  # read with state: the stream's header so far
            key = (batch.source, batch.stream)
            zeek = self._zeek.reader(key, name=batch.path, preamble=batch.preamble)
        for i, frame in enumerate(batch.records):
            events: list[EventIn]
            if batch.kind == "document" and frame.error is None:
                events = parse(frame.data, format=cfg.format, defaults=d)
            else:
                events = frame_events(frame, format=cfg.format, defaults=d, zeek=zeek)
            for part, ev in enumerate(events):
                reason = ev.record.get("parse_error")
                if isinstance(reason, str):
                    m.PARSE_ERRORS.labels(batch.source, reason).inc()
                out.append((batch.first_seq + i, part, ev))
        return out

    def to_entry(self, batch: Batch, events: list[tuple[int, int, EventIn]]) -> Entry:
        """Stamp each event with its origin and encode the batch for the spool."""
        lines: list[bytes] = []
        for seq, part, ev in events:
            ev.origin = Origin(
                connector=self.config.connector.id,
                source=batch.source,
                stream=batch.stream,
                seq=seq,
                part=part,
                drill=self.drill,
            )
            line = ev.model_dump_json(exclude_none=True).encode()
            if len(line) >= self.max_event_bytes:
                line = self._too_large(ev, line)
            lines.append(line + b"\n")
        return Entry(
            source=batch.source,
            stream=batch.stream,
            first_seq=batch.first_seq,
            records=len(batch.records),
            events=len(lines),
            checkpoint=batch.checkpoint,
            body=b"".join(lines),
        )

    def _too_large(self, ev: EventIn, line: bytes) -> bytes:
        """An event over the destination's message limit, as its head, size and SHA-256."""
        record = {
            "message": line[:HEAD_BYTES].decode("utf-8", "replace"),
            "parse_error": "too_large",
            "parse_error_detail": f"event is {len(line)} bytes; limit {self.max_event_bytes}",
            "size": len(line),
            "sha256": hashlib.sha256(line).hexdigest(),
            "truncated": True,
        }
        small = ev.model_copy(update={"record": record})
        m.PARSE_ERRORS.labels(ev.origin.source if ev.origin else "-", "too_large").inc()
        return small.model_dump_json(exclude_none=True).encode()

    # -- spool -> destination -------------------------------------------------------

    async def _sender(self) -> None:
        d = self.config.delivery
        delay = 0.2
        # At most half the spool in flight, so sources can fill the other half meanwhile.
        max_bytes = min(d.batch_bytes, max(1, self.spool.max_bytes // 2))
        idle_s = self.config.connector.heartbeat_s  # an idle sender wakes no more often
        while True:
            entries = await self.spool.take(
                max_events=d.batch_events, max_bytes=max_bytes, wait_s=idle_s
            )
            if not entries:
                self._gauges()
                continue
            started = time.perf_counter()
            for entry in entries:
                m.EVENTS_SENT.labels(entry.source).inc(entry.events)
                self._sent(entry)
            try:
                await self.output.send(entries)
            except Exception as exc:  # any failure keeps the events in the spool, to retry
                e = exc if isinstance(exc, DeliveryError) else DeliveryError("internal", repr(exc))
                if not isinstance(exc, DeliveryError):
                    log.exception("send failed unexpectedly", extra={"output": self.output.name})
                self.spool.rewind()
                self._changes += 1
                self._failed(e)
                for key in {(x.source, x.stream) for x in entries}:
                    self._stream(key).failures += 1
                wait = e.retry_after_s if e.retry_after_s is not None else delay
                await asyncio.sleep(wait * random.uniform(0.8, 1.2))
                delay = min(delay * 2, d.retry_max_s)
                continue
            m.SEND_SECONDS.observe(time.perf_counter() - started)
            if self.delivery.failures_in_row:
                m.RECONNECTS.inc()
                log.info("destination back", extra={"output": self.output.name})
            self.delivery = DeliveryState(up=True, last_ack=time.time())
            m.UP.set(1)
            delay = 0.2
            self.spool.ack(entries)
            self._changes += 1
            for entry in entries:
                m.EVENTS_ACKED.labels(entry.source).inc(entry.events)
                self._delivered(entry)
            await self._commit(entries)
            self._gauges()

    def _stream(self, key: tuple[str, str]) -> StreamState:
        """The stream's state, made most recent; the least recent beyond the bound go."""
        state = self._streams.get(key)
        if state is None:
            state = self._streams[key] = StreamState()
            while len(self._streams) > MAX_STREAM_SERIES:
                (source, stream), _ = self._streams.popitem(last=False)
                for gauge in (m.STREAM_SEQ, m.STREAM_SENT_SEQ):
                    with contextlib.suppress(KeyError):
                        gauge.remove(source, stream)
        else:
            self._streams.move_to_end(key)
        return state

    def _sent(self, entry: Entry) -> None:
        if not entry.records:
            return
        state = self._stream((entry.source, entry.stream))
        last = entry.first_seq + entry.records - 1
        if state.sent is None or last > state.sent:
            state.sent = last
            m.STREAM_SENT_SEQ.labels(entry.source, entry.stream).set(last)

    def _delivered(self, entry: Entry) -> None:
        if not entry.records:
            return
        state = self._stream((entry.source, entry.stream))
        last = entry.first_seq + entry.records - 1
        if state.seq is None or last > state.seq:
            state.seq = last
            m.STREAM_SEQ.labels(entry.source, entry.stream).set(last)

    def heartbeat(self) -> Heartbeat:
        """What the agent reports now: each known stream's delivery and backlog."""
        now = time.time()
        backlog = self.spool.backlog()
        keys = list(self._streams) + [k for k in backlog if k not in self._streams]
        streams = []
        for key in keys[-MAX_STREAM_SERIES:]:
            state = self._streams.get(key) or StreamState()
            records, oldest = backlog.get(key, (0, now))
            streams.append(
                StreamBeat(
                    source=key[0],
                    stream=key[1],
                    seq=state.seq,
                    sent=state.sent,
                    backlog=records,
                    oldest_s=round(max(0.0, now - oldest), 3) if records else 0.0,
                    failures=state.failures,
                )
            )
        return Heartbeat(
            connector=self.config.connector.id,
            version=__version__,
            host=self.host,
            interval_s=self.config.connector.heartbeat_s,
            streams=streams,
        )

    def heartbeat_body(self) -> bytes:
        """The heartbeat, encoded; the last one again when nothing it reports changed."""
        changes = self._changes
        if self._beat is not None and self._beat[0] == changes and not self.spool.pending_events():
            return self._beat[1]  # idle: no stream walked, nothing encoded
        body = self.heartbeat().model_dump_json().encode()
        self._beat = (changes, body)
        return body

    async def _heartbeats(self) -> None:
        """One heartbeat at start and one every interval; a failed one is logged, not kept."""
        failed = 0
        while True:
            try:
                await self.output.heartbeat(self.heartbeat_body())
                failed = 0
            except DeliveryError as e:
                failed += 1
                if failed in (1, 10) or failed % 100 == 0:
                    log.warning(
                        "heartbeat not delivered",
                        extra={"output": self.output.name, "detail": str(e)[:300]},
                    )
            await asyncio.sleep(self.config.connector.heartbeat_s)

    def _failed(self, e: DeliveryError) -> None:
        m.DELIVERY_FAILURES.labels(e.reason).inc()
        m.UP.set(0)
        s = self.delivery
        s.up = False
        s.failures_in_row += 1
        s.last_error = str(e)
        level = log.error if e.reason in ("unauthorized", "forbidden") else log.warning
        if s.failures_in_row in (1, 10) or s.failures_in_row % 100 == 0:
            level(
                "delivery failed; events stay in the spool",
                extra={
                    "output": self.output.name,
                    "reason": e.reason,
                    "detail": e.detail[:300],
                    "failures": s.failures_in_row,
                    "spool_events": self.spool.pending_events(),
                },
            )

    async def _commit(self, entries: list[Entry]) -> None:
        """Hand each stream's latest checkpoint back to its source, never going backwards."""
        latest: dict[tuple[str, str], Entry] = {}
        for e in entries:
            if e.checkpoint is not None:
                latest[(e.source, e.stream)] = e
        for (source, stream), e in latest.items():
            end = e.first_seq + e.records
            if self._committed.get((source, stream), -1) >= end:
                continue  # a resend of something already committed (after a restart)
            src = self.sources.get(source)
            if src is None:
                continue
            try:
                await src.commit(stream, e.checkpoint)
            except Exception:  # the events are delivered; a lost position only means resends
                log.exception("could not save a position", extra={"source": source})
                continue
            self._committed[(source, stream)] = end

    def _gauges(self) -> None:
        m.SPOOL_EVENTS.set(self.spool.pending_events())
        m.SPOOL_BYTES.set(self.spool.pending_bytes())

    # -- the whole -------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        sources = {name: s.ready() for name, s in self.sources.items()}
        spool = {
            "events": self.spool.pending_events(),
            "bytes": self.spool.pending_bytes(),
            "max_bytes": self.spool.max_bytes,
            "oldest_age_s": round(self.spool.oldest_age_s(), 3),
            "full": self.spool.waiting > 0,
            "disk_full": self.spool.disk_full,
        }
        m.SPOOL_AGE.set(spool["oldest_age_s"])
        for name, s in self.sources.items():
            open_now = getattr(s, "connections_open", None)
            if isinstance(open_now, int):
                m.CONNECTIONS_OPEN.labels(name).set(open_now)
        ok = all(sources.values())
        down = self.delivery.up is False or self.spool.disk_full
        return {
            "status": "failing" if not ok else ("degraded" if down else "ok"),
            "connector": self.config.connector.id,
            "run_id": self.run_id,
            "sources": sources,
            "destination": {
                "name": self.output.name,
                "up": self.delivery.up,
                "last_error": self.delivery.last_error,
                "last_ack": self.delivery.last_ack,
            },
            "spool": spool,
        }

    async def run(self, stop: asyncio.Event | None = None, *, drain_s: float = 10.0) -> None:
        """Run until ``stop`` is set; then stop reading and give the spool ``drain_s`` to empty."""
        stop = stop or asyncio.Event()
        tasks = [asyncio.create_task(self._supervised(self._sender, "sender"), name="sender")]
        tasks += [
            asyncio.create_task(self._run_source(s), name=f"source:{n}")
            for n, s in self.sources.items()
        ]
        if self.drill is None:
            tasks.append(
                asyncio.create_task(
                    self._supervised(self._heartbeats, "heartbeat"), name="heartbeat"
                )
            )
        server = None
        if self.config.metrics.listen:
            from connectors.health import serve

            server = await serve(self, self.config.metrics.listen)
        log.info(
            "agent started",
            extra={
                "connector": self.config.connector.id,
                "run_id": self.run_id,
                "sources": list(self.sources),
                "output": self.output.name,
                "spool_events": self.spool.pending_events(),
            },
        )
        self.started.set()
        try:
            await stop.wait()
            for t in tasks[1:]:
                t.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            await self.spool.wait_empty(drain_s)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if server is not None:
                await server.cleanup()
            await self.output.close()
            self.spool.close()
            log.info(
                "agent stopped",
                extra={"spool_events": self.spool.pending_events(), "run_id": self.run_id},
            )

    async def _run_source(self, source: Source) -> None:
        await self._supervised(lambda: source.run(self.emit), f"source {source.name}")

    @staticmethod
    async def _supervised(work: Callable[[], Awaitable[None]], what: str) -> None:
        """A task that crashes is logged and restarted after a pause; the others go on."""
        delay = 1.0
        while True:
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task failed; restarting it", extra={"task": what})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
