"""Split a byte stream into messages: newline framing and octet counting (RFC 6587).

    framer = Framer("auto", max_frame=1 << 20)
    for chunk in stream:                   # any chunk boundaries, down to one byte
        for frame in framer.feed(chunk):
            ship(frame)                     # Frame(data=b"<34>1 ...", error=None, size=...)
    for frame in framer.flush():            # at end of stream
        ship(frame)

Modes: ``newline`` (non-transparent framing: a message ends at LF; a CR
before it is dropped), ``octet`` (``MSG-LEN SP MSG``), and ``auto``, which
decides per message as RFC 6587 section 3.4 suggests: a digit starts an
octet-counted message, anything else a newline-framed one.

Nothing is dropped and memory stays bounded: a message longer than
``max_frame`` is not buffered; it comes out as an error frame
(``error="too_large"``) holding its first ``head`` bytes, with its full
``size``, and the stream resumes after it. In ``octet`` mode a message whose
length header is not a number is read up to the next LF and comes out with
``error="bad_header"``. At the end of the stream, ``flush`` gives a last
unterminated line as a frame, and a cut-off octet-counted message with
``error="truncated"``. Empty messages (blank lines, keep-alive newlines)
carry nothing and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connectors.errors import FrameError
from connectors.parse._base import HEAD_BYTES, MAX_LINE_BYTES

FramingMode = Literal["newline", "octet", "auto"]
_MAX_LEN_DIGITS = 10


@dataclass(frozen=True, slots=True)
class Frame:
    """One message; with ``error`` set, ``data`` is only its head and ``size`` its full length."""

    data: bytes
    error: FrameError | None = None
    size: int = 0


class Framer:
    """Incremental framer: feed chunks, get the complete frames so far."""

    def __init__(
        self,
        mode: FramingMode = "newline",
        *,
        max_frame: int = MAX_LINE_BYTES,
        head: int = HEAD_BYTES,
    ) -> None:
        if mode not in ("newline", "octet", "auto"):
            raise ValueError(f"unknown framing {mode!r}")
        if max_frame < 1 or head < 1:
            raise ValueError("max_frame and head must be positive")
        self.mode: FramingMode = mode
        self.max_frame = max_frame
        self.head = min(head, max_frame)
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already searched for LF
        # An oversized message being skipped: its head so far, its size, the bytes left
        # (octet) or -1 (newline: up to the next LF), and the error to report.
        self._skip_head: bytearray | None = None
        self._skip_size = 0
        self._skip_left = 0
        self._skip_error: FrameError = "too_large"

    def feed(self, chunk: bytes) -> list[Frame]:
        """The frames completed by ``chunk``."""
        self._buf += chunk
        out: list[Frame] = []
        pos = 0
        while True:
            pos, frame, more = self._step(pos)
            if frame is not None and (frame.data or frame.error):
                out.append(frame)
            if not more:
                break
        del self._buf[:pos]
        self._scan = max(0, self._scan - pos)
        return out

    def flush(self) -> list[Frame]:
        """What is left at the end of the stream (a frame, an error frame, or nothing)."""
        buf, self._buf, self._scan = bytes(self._buf), bytearray(), 0
        if self._skip_head is not None:
            head, self._skip_head = bytes(self._skip_head), None
            if self._skip_left < 0:  # newline framing: the rest is the message's tail
                return [Frame(head, self._skip_error, self._skip_size + len(buf))]
            return [Frame(head, "truncated", self._skip_size)]
        if not buf.strip(b"\r\n"):
            return []
        if self._octet_start(buf):
            return [Frame(buf[: self.head], "truncated", len(buf))]
        data = buf.removesuffix(b"\r")
        if len(data) > self.max_frame:
            return [Frame(data[: self.head], "too_large", len(data))]
        return [Frame(data, None, len(data))]

    def _octet_start(self, buf: bytes | bytearray, pos: int = 0) -> bool:
        return self.mode == "octet" or (self.mode == "auto" and buf[pos : pos + 1].isdigit())

    def _step(self, pos: int) -> tuple[int, Frame | None, bool]:
        """(new position, a frame or None, whether to go on) from ``pos`` of the buffer."""
        buf = self._buf
        if self._skip_head is not None:
            return self._skip(pos)
        if pos >= len(buf):
            return pos, None, False
        if not self._octet_start(buf, pos):
            return self._line(pos, None)
        if buf[pos] in b"\r\n":
            return pos + 1, None, True  # a stray line end between octet-counted frames
        sp = buf.find(b" ", pos, pos + _MAX_LEN_DIGITS + 1)
        if sp < 0:
            if len(buf) - pos <= _MAX_LEN_DIGITS and bytes(buf[pos:]).isdigit():
                return pos, None, False  # the length is still arriving
            return self._line(pos, "bad_header")
        digits = bytes(buf[pos:sp])
        if not digits.isdigit() or digits.startswith(b"0"):
            return self._line(pos, "bad_header")
        size = int(digits)
        start = sp + 1
        if size > self.max_frame:
            self._skip_head, self._skip_size = bytearray(), size
            self._skip_left, self._skip_error = size, "too_large"
            return start, None, True
        if len(buf) - start < size:
            return pos, None, False
        return start + size, Frame(bytes(buf[start : start + size]), None, size), True

    def _line(self, pos: int, error: FrameError | None) -> tuple[int, Frame | None, bool]:
        buf = self._buf
        lf = buf.find(b"\n", max(pos, self._scan))
        if lf < 0:
            if len(buf) - pos > self.max_frame:
                self._skip_head = bytearray(buf[pos : pos + self.head])
                self._skip_size, self._skip_left = len(buf) - pos, -1
                self._skip_error = "too_large"
                self._scan = 0
                return len(buf), None, False
            self._scan = len(buf)
            return pos, None, False
        self._scan = 0
        data = bytes(buf[pos:lf]).removesuffix(b"\r")
        if len(data) > self.max_frame:
            return lf + 1, Frame(data[: self.head], "too_large", len(data)), True
        return lf + 1, Frame(data, error, len(data)), True

    def _skip(self, pos: int) -> tuple[int, Frame | None, bool]:
        """Go on discarding an oversized message, keeping its head."""
        buf, head = self._buf, self._skip_head
        assert head is not None
        if self._skip_left < 0:  # newline framing: up to the next LF
            lf = buf.find(b"\n", pos)
            end = len(buf) if lf < 0 else lf
            head += buf[pos : pos + max(0, self.head - len(head))]
            self._skip_size += end - pos
            if lf < 0:
                return len(buf), None, False
            size = self._skip_size - (buf[lf - 1 : lf] == b"\r")
            frame = Frame(bytes(head), self._skip_error, size)
            self._skip_head = None
            return lf + 1, frame, True
        take = min(self._skip_left, len(buf) - pos)
        head += buf[pos : pos + min(take, max(0, self.head - len(head)))]
        self._skip_left -= take
        if self._skip_left > 0:
            return pos + take, None, False
        frame = Frame(bytes(head), self._skip_error, self._skip_size)
        self._skip_head = None
        return pos + take, frame, True
