"""Cutting a byte stream into messages: newline framing and octet counting (RFC 6587), as
the syslog TCP/TLS source does, fed in chunks of any size; each frame then parsed.

Checks besides "never raises": no frame holds more than ``max_frame`` bytes (memory
stays bounded), and an error frame's head is at most ``head`` bytes.
"""

from __future__ import annotations

from connectors.parse import Framer, frame_events
from soc.ingest.zeek import ZeekReader
from tests.fuzz.targets._common import DEFAULTS, Finding, check_events, pick

MAX_FRAME = 512
HEAD = 64


def fuzz_one(data: bytes) -> None:
    mode, rest = pick(data, ("newline", "octet", "auto"))
    step, rest = pick(rest, range(1, 40))
    format, rest = pick(rest, ("syslog", "auto", "auth", "zeek"))
    framer = Framer(mode, max_frame=MAX_FRAME, head=HEAD)
    frames = []
    for at in range(0, len(rest), step):
        frames += framer.feed(rest[at : at + step])
    frames += framer.flush()
    zeek = ZeekReader()
    for frame in frames:
        if frame.error is None and len(frame.data) > MAX_FRAME:
            raise Finding(f"a frame of {len(frame.data)} bytes; the limit is {MAX_FRAME}")
        if frame.error in ("too_large", "truncated") and len(frame.data) > HEAD:
            raise Finding(f"an error frame holds {len(frame.data)} bytes; the head is {HEAD}")
        check_events(frame_events(frame, format=format, defaults=DEFAULTS, zeek=zeek))
