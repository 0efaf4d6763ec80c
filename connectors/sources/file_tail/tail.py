"""One followed file: where it is read, cutting its chunks into lines, too-large lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.parse.framing import Frame


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
class Tail:
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
    header: list[bytes] | None = None
    """A Zeek log's header lines in force at ``line_start`` (None: the format has none)."""
    preamble: tuple[bytes, ...] = ()
    """The header lines to hand with the next batch: the file is read from its middle."""

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
        } | ({"header": [h.decode("latin-1") for h in self.header]} if self.header else {})
