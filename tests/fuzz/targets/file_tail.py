"""A followed file's chunks cut into lines (connectors.sources.file_tail.tail.Tail), in
chunks of any size, each line then parsed as the file source's format.

Checks: the lines are the file's lines whatever the chunking; a line over the limit comes
out as a ``too_large`` frame holding only its head, with its full size.
"""

from __future__ import annotations

from connectors.parse import frame_events
from connectors.parse.framing import Frame
from connectors.sources.file_tail.tail import Tail
from tests.fuzz.targets._common import DEFAULTS, Finding, check_events, pick

MAX_LINE = 256
HEAD = 32


def fuzz_one(data: bytes) -> None:
    step, rest = pick(data, range(1, 64))
    format, rest = pick(rest, ("auto", "syslog", "auth", "apache", "json"))
    tail = Tail(
        path="/fuzz.log",
        dev=0,
        ino=0,
        fd=None,
        start=0,
        pos=0,
        line_start=0,
        size=0,
        mtime_ns=0,
        active_at=0.0,
    )
    frames: list[Frame] = []
    for at in range(0, len(rest), step):
        frames += tail.lines(rest[at : at + step], MAX_LINE, HEAD)
    last = tail.flush(MAX_LINE, HEAD)
    if last is not None:
        frames.append(last)
    expected = rest.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    if len(frames) != len(expected):
        raise Finding(f"{len(expected)} lines gave {len(frames)} frames")
    for frame, line in zip(frames, expected, strict=True):
        line = line.removesuffix(b"\r")
        if frame.size != len(line):
            raise Finding(f"a line of {len(line)} bytes framed as {frame.size}")
        if len(line) > MAX_LINE:
            if frame.error != "too_large" or frame.data != line[:HEAD]:
                raise Finding("an oversized line not cut to its head")
        elif frame.data != line:
            raise Finding("a line changed by framing")
        check_events(frame_events(frame, format=format, defaults=DEFAULTS))
    if tail.line_start != len(rest) or tail.pos != len(rest):
        raise Finding(f"checkpoint at {tail.line_start}, read to {tail.pos}, of {len(rest)}")
