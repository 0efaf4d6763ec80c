"""The connector's line formats: one event per line, whatever the line holds."""

from __future__ import annotations

from connectors.parse import parse
from tests.fuzz.targets._common import DEFAULTS, Finding, check_events


def lines_of(data: bytes) -> int:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return len(lines)


def fuzz_lines(data: bytes, format: str) -> None:
    """``parse`` in a line format: never raises, exactly one event per line."""
    events = parse(data, format=format, defaults=DEFAULTS)
    check_events(events)
    if len(events) != lines_of(data):
        raise Finding(f"{format}: {lines_of(data)} lines gave {len(events)} events")
