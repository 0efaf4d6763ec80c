"""The on-disk spool: every event passes through it, so an outage or a crash loses nothing.

    spool = Spool(folder, max_bytes=1 << 30, segment_bytes=16 << 20, fsync="batch")
    await spool.put(Entry(source, stream, first_seq, records, checkpoint, body))  # waits when full
    entries = await spool.take(max_events=500, max_bytes=1 << 20)              # waits when empty
    ...send them...
    spool.ack(entries)                                                      # in take order

On disk: numbered segment files of entries, each ``[length u32][crc32 u32][payload]``
(payload: one JSON header line, then the events as NDJSON), and an ``ack`` file
holding the position after the last acknowledged entry, replaced atomically.
A segment wholly acknowledged is deleted. On start, everything after the ack
position is delivered again (at-least-once; event ids make resends harmless),
and a torn last entry (the agent died mid-write) is cut off and logged.

Bounded: ``put`` waits while the unacknowledged bytes would exceed
``max_bytes`` (one entry larger than the whole spool is still let in when
the spool is empty, so it cannot wedge). That wait is the agent's backpressure.
Entries handed out but not yet acknowledged count too, so a taker that takes
the whole spool leaves the writers no room until its ack (the agent's sender
takes at most half). After each append ``put`` yields to the event loop once,
so that a taker waiting for entries (and other writers) runs before this
writer goes on: a source with data at hand never suspends otherwise, and the
sender would get the loop only once the spool is full.
A full disk is backpressure too, not a crash: an append that finds no space left
(ENOSPC, EDQUOT) is cut off the segment's end (no torn entry stays behind), and ``put``
waits, out of the lock so the sender goes on delivering and deleting segments, and
tries again until the disk has room (``disk_full`` meanwhile). An ack that cannot
be saved for want of space is kept in memory (after a crash its entries are sent
again: harmless).
``fsync``: ``batch`` fsyncs each append and each ack; ``always`` also fsyncs the
folder when a segment is made or the ack file replaced; ``never`` leaves it to
the OS (survives a crash of the agent, not of the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import struct
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from soc.log import get_logger

log = get_logger(__name__)

_HEAD = struct.Struct("<II")
_MAX_ENTRY = 1 << 30
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
NO_SPACE_RETRY_S = (0.1, 2.0)
"""While the disk is full: the first and the longest wait between two tries to append."""


def _no_space(e: OSError) -> bool:
    return e.errno in _NO_SPACE


@dataclass(slots=True)
class Entry:
    """One emitted batch, parsed: ``body`` is its events as NDJSON (each line ends in \\n)."""

    source: str
    stream: str
    first_seq: int
    records: int
    """Records of the batch (seq numbers first_seq .. first_seq + records - 1)."""
    events: int
    checkpoint: Any
    body: bytes
    keys: list[str] | None = None
    """Not stored: filled by take() for the output (one partition key per event)."""
    spooled_at: float = 0.0
    end: tuple[int, int] = (0, 0)
    """Position just after this entry (segment, offset); set by take()."""
    size: int = 0
    """Bytes on disk; set by take()."""

    def encode(self) -> bytes:
        head = json.dumps(
            {
                "source": self.source,
                "stream": self.stream,
                "first_seq": self.first_seq,
                "records": self.records,
                "events": self.events,
                "checkpoint": self.checkpoint,
                "at": self.spooled_at,
            },
            separators=(",", ":"),
        ).encode()
        payload = head + b"\n" + self.body
        return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload

    @classmethod
    def decode(cls, payload: bytes) -> Entry:
        head, _, body = payload.partition(b"\n")
        h = json.loads(head)
        return cls(
            source=h["source"],
            stream=h["stream"],
            first_seq=h["first_seq"],
            records=h["records"],
            events=h["events"],
            checkpoint=h["checkpoint"],
            body=body,
            spooled_at=h.get("at", 0.0),
        )


class Spool:
    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int,
        segment_bytes: int,
        fsync: Literal["always", "batch", "never"] = "batch",
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        folder.mkdir(parents=True, exist_ok=True)
        self._ack_path = folder / "ack"
        self._acked = self._read_ack()
        self._write_seg, self._write_off = self._recover()
        later = [n for n in self._segments() if n >= self._acked[0]]
        if later and later[0] > self._acked[0]:
            # An ack kept in memory on a full disk while its segment was deleted: the
            # saved one points at a segment gone, everything from the next one is pending.
            self._acked = (later[0], 0)
        self._read = self._acked  # next entry to hand out
        self._file = open(self._seg_path(self._write_seg), "ab")  # noqa: SIM115
        self._changed = asyncio.Condition()
        self.waiting = 0
        """Writers waiting for room: while > 0 the spool is full and sources are paused."""
        self.disk_full = False
        """The last append found no space left on the disk (writers wait and retry)."""
        self._ack_unsaved = False
        self._tasks: set[asyncio.Task[None]] = set()
        pending = self._headers_from(self._acked)
        self._events_pending = sum(e.events for e in pending)
        self._bytes_pending = sum(e.size for e in pending)
        self._streams: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        """Per (source, stream): its unacknowledged entries, oldest first, as (spooled_at,
        records); one small tuple per entry, for the heartbeat's backlog."""
        for e in pending:
            self._streams.setdefault((e.source, e.stream), deque()).append(
                (e.spooled_at, e.records)
            )

    # -- positions -------------------------------------------------------------

    def _seg_path(self, n: int) -> Path:
        return self.folder / f"{n:016d}.seg"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob("*.seg") if p.stem.isdigit())

    def _read_ack(self) -> tuple[int, int]:
        try:
            seg, off = self._ack_path.read_text().split()
            return int(seg), int(off)
        except FileNotFoundError:
            segs = self._segments()
            return (segs[0], 0) if segs else (1, 0)

    def _recover(self) -> tuple[int, int]:
        """The write position: the end of the last good entry of the last segment."""
        for n in self._segments():
            if n < self._acked[0]:  # acknowledged before a crash cut its deletion short
                self._seg_path(n).unlink(missing_ok=True)
        segs = self._segments()
        if not segs or segs[-1] < self._acked[0]:
            return self._acked[0], 0
        last = segs[-1]
        path = self._seg_path(last)
        good = self._scan_good_end(path, start=self._acked[1] if last == self._acked[0] else 0)
        size = path.stat().st_size
        if good < size:
            log.warning(
                "spool: cut a torn entry off the last segment",
                extra={"segment": path.name, "kept_bytes": good, "cut_bytes": size - good},
            )
            with open(path, "r+b") as f:
                f.truncate(good)
        return last, good

    @staticmethod
    def _scan_good_end(path: Path, *, start: int) -> int:
        with open(path, "rb") as f:
            f.seek(start)
            pos = start
            while True:
                head = f.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    return pos
                length, crc = _HEAD.unpack(head)
                if length > _MAX_ENTRY:
                    return pos
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    return pos
                pos += _HEAD.size + length

    def _headers_from(self, pos: tuple[int, int]) -> list[Entry]:
        """The entries from ``pos`` on, headers only (bodies are not read), to count them."""
        out: list[Entry] = []
        seg, off = pos
        for n in self._segments():
            if n < seg:
                continue
            start = off if n == seg else 0
            with open(self._seg_path(n), "rb") as f:
                f.seek(start)
                p = start
                while True:
                    head = f.read(_HEAD.size)
                    if len(head) < _HEAD.size:
                        break
                    length, _ = _HEAD.unpack(head)
                    e = Entry.decode(f.readline(length))
                    p += _HEAD.size + length
                    f.seek(p)
                    e.end, e.size = (n, p), _HEAD.size + length
                    out.append(e)
        return out

    # -- sizes -----------------------------------------------------------------

    def pending_bytes(self) -> int:
        """Bytes on disk not yet acknowledged."""
        return self._bytes_pending

    def pending_events(self) -> int:
        return self._events_pending

    def oldest_age_s(self) -> float:
        """Age of the oldest unacknowledged entry (0 when none)."""
        if not self._events_pending:
            return 0.0
        seg, off = self._acked
        for n in (seg, seg + 1):
            try:
                with open(self._seg_path(n), "rb") as f:
                    f.seek(off if n == seg else 0)
                    head = f.read(_HEAD.size)
                    if len(head) < _HEAD.size:
                        continue
                    length, _ = _HEAD.unpack(head)
                    header = f.read(min(length, 4096)).partition(b"\n")[0]
                    return max(0.0, time.time() - float(json.loads(header).get("at", 0.0)))
            except (OSError, ValueError):
                continue
        return 0.0

    def backlog(self) -> dict[tuple[str, str], tuple[int, float]]:
        """Per (source, stream) with records waiting: how many, and when the oldest was
        spooled (time.time())."""
        return {k: (sum(r for _, r in q), q[0][0]) for k, q in self._streams.items() if q}

    def is_full(self, extra: int = 0) -> bool:
        pending = self.pending_bytes()
        return pending > 0 and pending + extra > self.max_bytes

    # -- the three operations -----------------------------------------------------

    async def put(self, entry: Entry, *, on_wait: Callable[[], None] | None = None) -> float:
        """Append ``entry`` durably; returns the seconds spent waiting for room.

        ``on_wait`` is called once, before waiting, when the spool (or its disk) has no room.
        """
        entry.spooled_at = time.time()
        data = entry.encode()
        waited = 0.0
        delay, longest = NO_SPACE_RETRY_S
        while True:
            async with self._changed:
                if self.is_full(len(data)):
                    if on_wait is not None:
                        on_wait()
                        on_wait = None
                    waited += await self._waited(
                        self._changed.wait_for(lambda: not self.is_full(len(data)))
                    )
                if self._append(data):
                    self._events_pending += entry.events
                    self._bytes_pending += len(data)
                    self._streams.setdefault((entry.source, entry.stream), deque()).append(
                        (entry.spooled_at, entry.records)
                    )
                    self._changed.notify_all()
                    break
            # No space left on the disk: wait out of the lock (the sender goes on) and retry.
            if not self.disk_full:
                self.disk_full = True
                log.warning(
                    "spool disk full: sources paused until it has room",
                    extra={"folder": str(self.folder), "spool_bytes": self._bytes_pending},
                )
            if on_wait is not None:
                on_wait()
                on_wait = None
            waited += await self._waited(asyncio.sleep(delay))
            delay = min(delay * 2, longest)
        if self.disk_full:
            self.disk_full = False
            log.info("spool disk has room again", extra={"folder": str(self.folder)})
        await asyncio.sleep(0)  # let the taker this append woke run now (module docstring)
        return waited

    async def _waited(self, wait: Awaitable[object]) -> float:
        """Await ``wait`` counted among the waiting writers; the seconds it took."""
        started = time.perf_counter()
        self.waiting += 1
        try:
            await wait
        finally:
            self.waiting -= 1
        return time.perf_counter() - started

    def _append(self, data: bytes) -> bool:
        """Write ``data`` at the end of the spool; False (nothing written) if the disk is full."""
        if self._write_off >= self.segment_bytes:
            try:
                self._roll()
            except OSError as e:
                if not _no_space(e):
                    raise
                return False
        try:
            self._file.write(data)
            self._file.flush()
            if self.fsync != "never":
                os.fsync(self._file.fileno())
        except OSError as e:
            if not _no_space(e):
                raise
            self._cut_back()
            return False
        self._write_off += len(data)
        return True

    def _cut_back(self) -> None:
        """Take a torn append off the segment's end: reopen it at its last whole entry."""
        with contextlib.suppress(OSError):
            self._file.close()  # its buffer cannot be written either; the file is closed
        path = self._seg_path(self._write_seg)
        os.truncate(path, self._write_off)
        self._file = open(path, "ab")  # noqa: SIM115

    def _roll(self) -> None:
        nxt = open(self._seg_path(self._write_seg + 1), "ab")  # noqa: SIM115
        self._file.close()
        self._file = nxt
        self._write_seg += 1
        self._write_off = 0
        if self.fsync == "always":
            self._fsync_folder()

    def _fsync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def take(self, *, max_events: int, max_bytes: int, wait_s: float = 1.0) -> list[Entry]:
        """The next entries not yet handed out (at least one), waiting up to ``wait_s``."""
        async with self._changed:
            if self._read >= (self._write_seg, self._write_off):
                try:
                    await asyncio.wait_for(
                        self._changed.wait_for(
                            lambda: self._read < (self._write_seg, self._write_off)
                        ),
                        wait_s,
                    )
                except TimeoutError:
                    return []
            return self._read_entries(max_events, max_bytes)

    def _read_entries(self, max_events: int, max_bytes: int) -> list[Entry]:
        out: list[Entry] = []
        events = size = 0
        seg, off = self._read
        while (seg, off) < (self._write_seg, self._write_off):
            path = self._seg_path(seg)
            end = self._write_off if seg == self._write_seg else path.stat().st_size
            if off >= end:
                seg, off = seg + 1, 0
                continue
            with open(path, "rb") as f:
                f.seek(off)
                while off < end:
                    length, _ = _HEAD.unpack(f.read(_HEAD.size))
                    if out and (events >= max_events or size + length > max_bytes):
                        self._read = (seg, off)
                        return out
                    e = Entry.decode(f.read(length))
                    off += _HEAD.size + length
                    e.end, e.size = (seg, off), _HEAD.size + length
                    out.append(e)
                    events += e.events
                    size += length
        self._read = (seg, off)
        return out

    def rewind(self) -> None:
        """Hand out again everything not acknowledged (after a failed send)."""
        self._read = self._acked

    def ack(self, entries: Sequence[Entry]) -> None:
        """Everything up to the last of ``entries`` is delivered."""
        if not entries:
            return
        seg, off = entries[-1].end
        if seg != self._write_seg and off >= self._seg_path(seg).stat().st_size:
            seg, off = seg + 1, 0  # that segment is done: let it be deleted
        self._acked = (seg, off)
        # Everything was handed out up to the end of that segment and a put has since
        # rolled to the next one: read on from there, not from the deleted segment.
        self._read = max(self._read, self._acked)
        self._save_ack()
        self._events_pending -= sum(e.events for e in entries)
        self._bytes_pending -= sum(e.size for e in entries)
        for e in entries:
            q = self._streams.get((e.source, e.stream))
            if q:
                q.popleft()
                if not q:
                    del self._streams[(e.source, e.stream)]
        for n in self._segments():
            if n < self._acked[0]:
                self._seg_path(n).unlink(missing_ok=True)
        # Only the writers waiting for room care; wake them without holding the lock.
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _save_ack(self) -> None:
        """Write the ack position; on a full disk it stays in memory until a later ack."""
        tmp = self._ack_path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as f:
                f.write(f"{self._acked[0]} {self._acked[1]}\n")
                if self.fsync != "never":
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, self._ack_path)
        except OSError as e:
            if not _no_space(e):
                raise
            tmp.unlink(missing_ok=True)
            if not self._ack_unsaved:
                log.warning("spool disk full: ack position kept in memory until it has room")
            self._ack_unsaved = True
            return
        self._ack_unsaved = False
        if self.fsync == "always":
            self._fsync_folder()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_empty(self, timeout_s: float) -> bool:
        """Wait until everything is acknowledged; False if ``timeout_s`` passed first."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: not self._events_pending), timeout_s
                )
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        self._file.close()
