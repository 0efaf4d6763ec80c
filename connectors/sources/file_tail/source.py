"""Follow growing log files, as Filebeat's log input does: rotation, truncation, restarts.

    src = FileTailSource(cfg, ctx)   # cfg: connectors.config.FileSource
    await src.run(emit)              # Batch(kind="line", stream="803:1835:9f2c41d07a3be815",
                                     #       first_seq=n, records=[Frame(b"<line>"), ...],
                                     #       checkpoint={"offset": ..., "seq": ..., ...})

Every ``scan_interval_s`` the ``paths`` globs are expanded (``**`` allowed),
less the ``exclude`` globs (matched against the whole path and the file
name), and every regular file found is read from where it was left, in
chunks of 256 KiB, a file at most 8 MiB at a time before the next one's turn.

Lines end at LF; a CR before it is dropped; a blank line is a line too (the
agent ships it as an ``empty`` error event: nothing read goes unsaid). A
last line without its LF is held until the LF arrives, or, once its file is
rotated away (renamed or deleted) and inactive, shipped as it is. A line over
``max_line_bytes`` is never held whole: it gives
``Frame(<its first 64 KiB>, error="too_large", size=<its length>)`` and the
rest of it is skipped. Lines go out in batches of at most 500 lines or about 1 MiB,
through ``emit``; while ``emit`` waits (the agent's spool is full), nothing is
read.

Files and streams
-----------------
A file is its device and inode plus the SHA-256 of its first line (at most
1 KiB: ``head``), which names its stream, ``<dev>:<inode>:<head, 16 hex>``.
The name holds across renames and restarts, and a new file that gets an old
one's inode (once the old one is deleted) has another first line, so another
stream. A file first read from its end (``start_at: end``, from after its last
whole line; files present at the first scan only: a file created later is read
from its start) has ``@<offset>`` added, so that its numbers never clash with
another start's.
``seq`` counts the lines of a stream from 0; too-large lines count too.

Rotation and truncation
-----------------------
Renamed (``access.log`` -> ``access.log.1``): the inode is followed, under its
new name if the globs match it, else held open and read to its end until
inactive; the new file at the old name is read from its start, after the old
one. Deleted: read to its end until inactive, like a renamed one. Truncated
(copytruncate) or rewritten in place, seen by its size dropping below the
read position or its first KiB changing: logged, and read again from 0, as a
new stream when its first line changed, else as the same stream with its
numbers going on. A file inactive ``close_inactive_s`` is closed, and
reopened (its first KiB checked again) when it changes.

Positions, saved in the registry only by :meth:`FileTailSource.commit`::

    {"version": 1, "files": {"803:1835:9f2c41d07a3be815": {
        "path": "/var/log/auth.log", "dev": 2051, "ino": 1835, "offset": 81920,
        "seq": 1024, "fp": "<sha256 of the first fp_len bytes>", "fp_len": 1024,
        "rotated": false}}}

``offset`` is just after the last line committed and ``seq`` the next line's
number, so after a restart the lines not acknowledged are read again with the
same stream and numbers. At start a file takes the entry of its stream when
its first ``fp_len`` bytes still hash to ``fp`` and it is not shorter than
``offset``; when they differ it was rewritten meanwhile and is read again from
0 (numbers going on). An entry whose file has not been seen for
``forget_after_s`` (a day) is removed.

Limits, by design (Filebeat's too): lines written to a file after it was
closed for inactivity and before it was renamed out of the globs are not read;
with copytruncate, lines written between the last read and the truncation are
lost, and a copy the globs match is read as a file of its own (exclude it).
Two contents of one inode with the same first line (a constant header, then
inode reuse) are told apart only by their first KiB and continue one stream.
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import hashlib
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.config import FileSource
from connectors.parse._base import HEAD_BYTES
from connectors.parse.framing import Frame
from connectors.sources.base import Absences, Batch, Emit, Source, SourceContext, Unreadable

BATCH_LINES = 500
BATCH_BYTES = 1 << 20
CHUNK_BYTES = 256 << 10
"""One read; between two reads the event loop runs."""
TURN_BYTES = 8 << 20
"""Read from one file before the next one's turn."""
FP_BYTES = 1024
"""The first bytes of a file that identify it (its first line, when shorter, names it)."""
FORGET_AFTER_S = 24 * 3600.0


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _head(fd: int, *, final: bool = False) -> bytes | None:
    """The file's first line with its LF (at most FP_BYTES); None while it may still change."""
    data = os.pread(fd, FP_BYTES, 0)
    lf = data.find(b"\n")
    if lf >= 0:
        return data[: lf + 1]
    return data if len(data) >= FP_BYTES or (final and data) else None


def _same_start(fd: int, fp: str, fp_len: int) -> bool:
    """Whether the file still starts with the ``fp_len`` bytes that hashed to ``fp``."""
    if fp_len == 0:
        return True  # nothing known of it yet
    data = os.pread(fd, fp_len, 0)
    return len(data) == fp_len and _digest(data) == fp


def _line_end(fd: int, size: int) -> int:
    """Where reading from the end starts: after the last LF of the last 64 KiB."""
    n = min(size, 1 << 16)
    lf = os.pread(fd, n, size - n).rfind(b"\n")
    if lf >= 0:
        return size - n + lf + 1
    return 0 if n == size else size


def _frame(line: bytes, max_line: int, head: int) -> Frame:
    line = line.removesuffix(b"\r")
    if len(line) > max_line:
        return Frame(bytes(line[:head]), "too_large", len(line))
    return Frame(line, None, len(line))


@dataclass(slots=True)
class _Skip:
    """A too-large line being passed over: its head and its length so far."""

    limit: int
    head: bytearray = field(default_factory=bytearray)
    size: int = 0
    cr: bool = False

    def add(self, data: bytes) -> None:
        if data:
            self.head += data[: max(0, self.limit - len(self.head))]
            self.size += len(data)
            self.cr = data.endswith(b"\r")

    def frame(self) -> Frame:
        return Frame(bytes(self.head), "too_large", self.size - self.cr)


@dataclass(slots=True, eq=False)
class _Tail:
    """One file followed: where it is read, what is held of its last line, its stream."""

    path: str
    dev: int
    ino: int
    fd: int | None
    start: int
    """Where its content was first read from (its end, with ``start_at: end``)."""
    pos: int
    """The next byte to read."""
    line_start: int
    """The first byte not in a line emitted (the checkpoint's offset)."""
    size: int
    mtime_ns: int
    active_at: float
    """When it last grew (time.monotonic)."""
    seq: int = 0
    stream: str | None = None
    """None until its first line is there."""
    fp: str = ""
    fp_len: int = 0
    rotated: bool = False
    """Renamed since first seen: its last line is shipped once it is inactive."""
    gone: bool = False
    """At no path the globs match (renamed out or deleted)."""
    replaced: bool = False
    """Truncated or rewritten: to be read again from 0."""
    prev: tuple[str, int] | None = None
    """Stream and next seq before it was replaced, kept when the first line is the same."""
    buf: bytearray = field(default_factory=bytearray)
    skip: _Skip | None = None

    def lines(self, chunk: bytes, max_line: int, head: int) -> Iterator[Frame]:
        """The lines ``chunk`` (read at ``pos``) completes; state is current at each one."""
        pieces = chunk.split(b"\n")
        rest = pieces.pop()
        end = self.pos
        self.pos += len(chunk)
        for piece in pieces:
            end += len(piece) + 1
            if self.skip is not None:
                self.skip.add(piece)
                frame, self.skip = self.skip.frame(), None
            else:
                frame = _frame(bytes(self.buf) + piece if self.buf else piece, max_line, head)
                self.buf.clear()
            self.line_start = end
            self.seq += 1
            yield frame
        if self.skip is None and len(self.buf) + len(rest) > max_line:
            self.skip = _Skip(head)
            self.skip.add(bytes(self.buf))
            self.buf.clear()
        if self.skip is not None:
            self.skip.add(rest)
        else:
            self.buf += rest

    def flush(self, max_line: int, head: int) -> Frame | None:
        """The held last line, as it is."""
        if self.skip is not None:
            frame: Frame | None = self.skip.frame()
            self.skip = None
        elif self.buf:
            frame = _frame(bytes(self.buf), max_line, head)
            self.buf.clear()
        else:
            frame = None
        self.line_start = self.pos
        if frame is not None:
            self.seq += 1
        return frame

    def checkpoint(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "dev": self.dev,
            "ino": self.ino,
            "offset": self.line_start,
            "seq": self.seq,
            "fp": self.fp,
            "fp_len": self.fp_len,
            "rotated": self.rotated,
        }


def _valid(cp: Any) -> bool:
    ints = ("dev", "ino", "offset", "seq", "fp_len")
    return (
        isinstance(cp, dict)
        and all(isinstance(cp.get(k), int) for k in ints)
        and isinstance(cp.get("fp"), str)
        and isinstance(cp.get("path"), str)
    )


class FileTailSource(Source):
    """Files followed as they grow; see the module docstring."""

    config: FileSource
    forget_after_s: float = FORGET_AFTER_S

    def __init__(self, config: FileSource, ctx: SourceContext) -> None:
        super().__init__(config, ctx)
        self._head_bytes = min(HEAD_BYTES, config.max_line_bytes)
        self._tails: dict[tuple[int, int], _Tail] = {}
        self._committed: dict[str, dict[str, Any]] = {}
        self._absent = Absences()
        self._unreadable = Unreadable(self.name, ctx.log)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        self._load()
        try:
            first, next_scan = True, 0.0
            while True:
                now = time.monotonic()
                if now >= next_scan:
                    self._scan(first=first)
                    first, next_scan = False, now + self.config.scan_interval_s
                    await self._close_inactive(emit)
                    self._forget()
                more = False
                for t in sorted(
                    self._tails.values(), key=lambda t: (not (t.rotated or t.gone), t.path)
                ):
                    more |= await self._read(t, emit)
                if not more:
                    await asyncio.sleep(max(0.0, next_scan - time.monotonic()))
        finally:
            for t in self._tails.values():
                self._close(t)
            self._tails.clear()

    async def commit(self, stream: str, checkpoint: Any) -> None:
        cp = dict(checkpoint)
        same_inode = [
            s
            for s, c in self._committed.items()
            if s != stream and (c["dev"], c["ino"]) == (cp["dev"], cp["ino"])
        ]
        for s in same_inode:  # an older content of the same inode
            del self._committed[s]
        self._committed[stream] = cp
        self._absent.present(stream)
        self._save()

    def _load(self) -> None:
        for t in self._tails.values():  # a run restarted after a failure
            self._close(t)
        self._tails.clear()
        files = self.ctx.registry.load(self.name).get("files", {})
        self._committed = {s: cp for s, cp in files.items() if _valid(cp)}
        if len(self._committed) != len(files):
            self.ctx.log.warning(
                "registry entries malformed; their files are read as new",
                extra={"source": self.name, "count": len(files) - len(self._committed)},
            )

    def _save(self) -> None:
        self.ctx.registry.save(self.name, {"version": 1, "files": self._committed})

    # -- finding files --------------------------------------------------------------------

    def _paths(self) -> list[str]:
        out: set[str] = set()
        exclude = self.config.exclude
        for pattern in self.config.paths:
            for path in glob.glob(pattern, recursive=True):
                name = os.path.basename(path)
                if not any(fnmatch.fnmatch(path, x) or fnmatch.fnmatch(name, x) for x in exclude):
                    out.add(path)
        return sorted(out)

    def _scan(self, *, first: bool) -> None:
        found: dict[tuple[int, int], tuple[list[str], os.stat_result]] = {}
        for path in self._paths():
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):  # a file linked twice is one file
                found.setdefault((st.st_dev, st.st_ino), ([], st))[0].append(path)
        for key, t in self._tails.items():
            hit = found.pop(key, None)
            t.gone = hit is None
            if hit is not None:
                if t.path not in hit[0]:
                    t.path, t.rotated = hit[0][0], True
                self._check(t, hit[1])
        for paths, _ in found.values():
            self._add(paths[0], first=first)

    def _add(self, path: str, *, first: bool) -> None:
        fd = self._open(path)
        if fd is None:
            return
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        if key in self._tails:  # renamed between the scan and now
            os.close(fd)
            return
        start = _line_end(fd, st.st_size) if first and self.config.start_at == "end" else 0
        t = _Tail(
            path=path,
            dev=st.st_dev,
            ino=st.st_ino,
            fd=fd,
            start=start,
            pos=start,
            line_start=start,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            active_at=time.monotonic(),
        )
        self._tails[key] = t
        self._resolve(t)

    def _open(self, path: str) -> int | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            self._unreadable.failed(path, e)
            return None
        self._unreadable.opened(path)
        return fd

    def _check(self, t: _Tail, st: os.stat_result) -> None:
        """A known file seen at a scan: reopen it when it changed; notice a truncation."""
        if st.st_size == t.size and st.st_mtime_ns == t.mtime_ns:
            return
        t.size, t.mtime_ns = st.st_size, st.st_mtime_ns
        if t.fd is None:
            t.fd = self._open(t.path)
            if t.fd is None:
                return
            now = os.fstat(t.fd)
            if (now.st_dev, now.st_ino) != (t.dev, t.ino):
                self._close(t)  # renamed meanwhile; the next scan sorts it out
                return
            t.active_at = time.monotonic()
        if st.st_size < t.pos or (t.fp_len and not _same_start(t.fd, t.fp, t.fp_len)):
            t.replaced = True

    def _resolve(self, t: _Tail, *, final: bool = False) -> bool:
        """Name ``t``'s stream once its first line is there; resume it from the registry."""
        assert t.fd is not None
        head = _head(t.fd, final=final)
        if head is None:
            return False
        base = f"{t.dev:x}:{t.ino}:{_digest(head)[:16]}"
        prev, t.prev = t.prev, None
        if prev is not None and prev[0].partition("@")[0] == base:
            t.stream, t.seq = prev
            return True
        for stream, cp in self._committed.items():
            if (cp["dev"], cp["ino"]) == (t.dev, t.ino) and stream.partition("@")[0] == base:
                t.stream, t.seq = stream, cp["seq"]
                t.rotated = bool(cp.get("rotated")) or cp["path"] != t.path
                size = os.fstat(t.fd).st_size
                if size >= cp["offset"] and _same_start(t.fd, cp["fp"], cp["fp_len"]):
                    t.pos = t.line_start = cp["offset"]
                    t.fp, t.fp_len = cp["fp"], cp["fp_len"]
                else:
                    self._log_rewritten(t, cp["offset"], size)
                    t.pos = t.line_start = t.start = 0
                return True
        t.stream = base if t.start == 0 else f"{base}@{t.start}"
        t.seq = 0
        return True

    def _log_rewritten(self, t: _Tail, offset: int, size: int) -> None:
        self.ctx.log.warning(
            "file truncated or rewritten; reading it again from the start",
            extra={"source": self.name, "path": t.path, "offset": offset, "size": size},
        )

    # -- reading --------------------------------------------------------------------------

    async def _read(self, t: _Tail, emit: Emit) -> bool:
        """Emit ``t``'s new lines; True when its turn ended before its end."""
        if t.replaced:
            await self._restart(t, emit)
        if t.fd is None or (t.stream is None and not self._resolve(t)):
            return False
        max_line, head = self.config.max_line_bytes, self._head_bytes
        records: list[Frame] = []
        first, size, done = t.seq, 0, 0
        while done < TURN_BYTES:
            chunk = os.pread(t.fd, CHUNK_BYTES, t.pos)
            if not chunk:
                if os.fstat(t.fd).st_size < t.pos:
                    t.replaced = True
                break
            done += len(chunk)
            t.active_at = time.monotonic()
            for frame in t.lines(chunk, max_line, head):
                records.append(frame)
                size += len(frame.data)
                if len(records) >= BATCH_LINES or size >= BATCH_BYTES:
                    await self._emit(t, emit, first, records)
                    first, records, size = t.seq, [], 0
            await asyncio.sleep(0)
        if records:
            await self._emit(t, emit, first, records)
        return done >= TURN_BYTES or t.replaced

    async def _emit(self, t: _Tail, emit: Emit, first: int, records: list[Frame]) -> None:
        assert t.stream is not None
        want = min(FP_BYTES, t.line_start)
        if t.fd is not None and t.fp_len < want:
            data = os.pread(t.fd, want, 0)
            t.fp, t.fp_len = _digest(data), len(data)
        batch = Batch(self.name, t.stream, first, records, "line", checkpoint=t.checkpoint())
        await emit(batch)

    async def _flush(self, t: _Tail, emit: Emit) -> None:
        """Ship the held last line of ``t`` as it is."""
        if t.stream is None and (t.fd is None or not self._resolve(t, final=True)):
            return
        frame = t.flush(self.config.max_line_bytes, self._head_bytes)
        if frame is not None:
            await self._emit(t, emit, t.seq - 1, [frame])

    async def _restart(self, t: _Tail, emit: Emit) -> None:
        """``t`` was truncated or rewritten: ship its held line, then read it from 0."""
        self._log_rewritten(t, t.pos, os.fstat(t.fd).st_size if t.fd is not None else -1)
        await self._flush(t, emit)
        t.prev = (t.stream, t.seq) if t.stream is not None else None
        t.stream, t.fp, t.fp_len, t.replaced = None, "", 0, False
        t.pos = t.line_start = t.start = 0

    async def _close_inactive(self, emit: Emit) -> None:
        now = time.monotonic()
        for key, t in list(self._tails.items()):
            if now - t.active_at < self.config.close_inactive_s:
                continue
            if t.fd is not None and os.fstat(t.fd).st_size > t.pos:
                continue  # not read to its end (emit waited): not inactive
            if (t.rotated or t.gone) and (t.buf or t.skip is not None):
                await self._flush(t, emit)
            self._close(t)
            if t.gone:
                del self._tails[key]

    def _close(self, t: _Tail) -> None:
        if t.fd is not None:
            os.close(t.fd)
            t.fd = None

    def _forget(self) -> None:
        """Remove the registry entries of files not seen for ``forget_after_s``."""
        live = {t.stream for t in self._tails.values()}
        stale = self._absent.gone_for(list(self._committed), live, self.forget_after_s)
        if stale:
            for s in stale:
                del self._committed[s]
            self._save()
            self.ctx.log.info(
                "registry entries of files gone removed",
                extra={"source": self.name, "count": len(stale)},
            )
