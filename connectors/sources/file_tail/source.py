"""FileTailSource: finding the files, rotation and truncation, reading turns, the registry."""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import os
import stat
import time
from typing import Any

from connectors.config import FileSource
from connectors.parse._base import HEAD_BYTES
from connectors.parse.framing import Frame
from connectors.parse.zeek import keep_header
from connectors.sources.base import Absences, Batch, Emit, Source, SourceContext, Unreadable
from connectors.sources.file_tail.identity import (
    FP_BYTES,
    digest,
    first_line,
    line_end,
    same_start,
    valid_checkpoint,
)
from connectors.sources.file_tail.tail import Tail

BATCH_LINES = 500
BATCH_BYTES = 1 << 20
CHUNK_BYTES = 256 << 10
"""One read; between two reads the event loop runs."""
TURN_BYTES = 8 << 20
"""Read from one file before the next one's turn."""
FORGET_AFTER_S = 24 * 3600.0


class FileTailSource(Source):
    """Files followed as they grow; see the package docstring (connectors.sources.file_tail)."""

    config: FileSource
    forget_after_s: float = FORGET_AFTER_S

    def __init__(self, config: FileSource, ctx: SourceContext) -> None:
        super().__init__(config, ctx)
        self._head_bytes = min(HEAD_BYTES, config.max_line_bytes)
        self._tails: dict[tuple[int, int], Tail] = {}
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
        self._committed = {s: cp for s, cp in files.items() if valid_checkpoint(cp)}
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
        start = line_end(fd, st.st_size) if first and self.config.start_at == "end" else 0
        t = Tail(
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
        if self.config.format == "zeek":
            t.header = []
            if start:
                self._resume_header(t, None)
        self._resolve(t)

    def _open(self, path: str) -> int | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            self._unreadable.failed(path, e)
            return None
        self._unreadable.opened(path)
        return fd

    def _check(self, t: Tail, st: os.stat_result) -> None:
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
        if st.st_size < t.pos or (t.fp_len and not same_start(t.fd, t.fp, t.fp_len)):
            t.replaced = True

    def _resolve(self, t: Tail, *, final: bool = False) -> bool:
        """Name ``t``'s stream once its first line is there; resume it from the registry."""
        assert t.fd is not None
        head = first_line(t.fd, final=final)
        if head is None:
            return False
        base = f"{t.dev:x}:{t.ino}:{digest(head)[:16]}"
        prev, t.prev = t.prev, None
        if prev is not None and prev[0].partition("@")[0] == base:
            t.stream, t.seq = prev
            return True
        for stream, cp in self._committed.items():
            if (cp["dev"], cp["ino"]) == (t.dev, t.ino) and stream.partition("@")[0] == base:
                t.stream, t.seq = stream, cp["seq"]
                t.rotated = bool(cp.get("rotated")) or cp["path"] != t.path
                size = os.fstat(t.fd).st_size
                if size >= cp["offset"] and same_start(t.fd, cp["fp"], cp["fp_len"]):
                    t.pos = t.line_start = cp["offset"]
                    t.fp, t.fp_len = cp["fp"], cp["fp_len"]
                    if t.header is not None and t.pos:
                        self._resume_header(t, cp.get("header"))
                else:
                    if t.header is not None:
                        t.header, t.preamble = [], ()
                    self._log_rewritten(t, cp["offset"], size)
                    t.pos = t.line_start = t.start = 0
                return True
        t.stream = base if t.start == 0 else f"{base}@{t.start}"
        t.seq = 0
        return True

    def _resume_header(self, t: Tail, saved: Any) -> None:
        """A Zeek log read from its middle: its header lines, from the checkpoint when it
        kept them, else from the file's start, handed with the next batch."""
        if isinstance(saved, list) and all(isinstance(h, str) for h in saved):
            header = [h.encode("latin-1", "replace") for h in saved]
        else:
            header = []
            assert t.fd is not None
            for line in os.pread(t.fd, HEAD_BYTES, 0).split(b"\n")[:-1]:
                if not line.startswith(b"#"):
                    break
                keep_header(header, line.removesuffix(b"\r"))
        t.header, t.preamble = header, tuple(header)

    def _log_rewritten(self, t: Tail, offset: int, size: int) -> None:
        self.ctx.log.warning(
            "file truncated or rewritten; reading it again from the start",
            extra={"source": self.name, "path": t.path, "offset": offset, "size": size},
        )

    # -- reading --------------------------------------------------------------------------

    async def _read(self, t: Tail, emit: Emit) -> bool:
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
                if t.header is not None and frame.error is None and frame.data[:1] == b"#":
                    keep_header(t.header, frame.data)
                records.append(frame)
                size += len(frame.data)
                if len(records) >= BATCH_LINES or size >= BATCH_BYTES:
                    await self._emit(t, emit, first, records)
                    first, records, size = t.seq, [], 0
            await asyncio.sleep(0)
        if records:
            await self._emit(t, emit, first, records)
        return done >= TURN_BYTES or t.replaced

    async def _emit(self, t: Tail, emit: Emit, first: int, records: list[Frame]) -> None:
        assert t.stream is not None
        want = min(FP_BYTES, t.line_start)
        if t.fd is not None and t.fp_len < want:
            data = os.pread(t.fd, want, 0)
            t.fp, t.fp_len = digest(data), len(data)
        batch = Batch(
            self.name,
            t.stream,
            first,
            records,
            "line",
            checkpoint=t.checkpoint(),
            path=t.path,
            preamble=t.preamble,
        )
        t.preamble = ()
        await emit(batch)

    async def _flush(self, t: Tail, emit: Emit) -> None:
        """Ship the held last line of ``t`` as it is."""
        if t.stream is None and (t.fd is None or not self._resolve(t, final=True)):
            return
        frame = t.flush(self.config.max_line_bytes, self._head_bytes)
        if frame is not None:
            await self._emit(t, emit, t.seq - 1, [frame])

    async def _restart(self, t: Tail, emit: Emit) -> None:
        """``t`` was truncated or rewritten: ship its held line, then read it from 0."""
        self._log_rewritten(t, t.pos, os.fstat(t.fd).st_size if t.fd is not None else -1)
        await self._flush(t, emit)
        t.prev = (t.stream, t.seq) if t.stream is not None else None
        t.stream, t.fp, t.fp_len, t.replaced = None, "", 0, False
        t.pos = t.line_start = t.start = 0
        if t.header is not None:
            t.header, t.preamble = [], ()

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

    def _close(self, t: Tail) -> None:
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
