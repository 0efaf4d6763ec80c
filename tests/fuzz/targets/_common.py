"""What the targets share: choosing from the input, and checks of the connector's events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from connectors.parse import Defaults
from soc.models import EventIn

T = TypeVar("T")

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULTS = Defaults(host="fuzz01", source="fuzz", tz=HCM, now=NOW, max_line_bytes=4096)
"""A small line limit, so that oversized lines are within the fuzzer's reach."""


class Finding(AssertionError):
    """A broken contract that raised nothing: a parser bug hidden by a safety net, a lost
    line, a frame over its limit."""


def pick(data: bytes, options: Sequence[T]) -> tuple[T, bytes]:
    """One of ``options`` chosen by the first byte, and the rest of the input."""
    if not data:
        return options[0], b""
    return options[data[0] % len(options)], data[1:]


def text(data: bytes) -> str:
    """The input as text, as a web framework or YAML file reader would decode it."""
    return data.decode("utf-8", "replace")


def check_events(events: Sequence[EventIn]) -> None:
    """Every event is a valid EventIn, and no parser failed in a way it did not mean to."""
    for ev in events:
        if not isinstance(ev, EventIn):
            raise Finding(f"not an EventIn: {type(ev).__name__}")
        if ev.record.get("parse_error") == "internal":
            raise Finding(
                f"parser bug caught by the safety net: {ev.record.get('parse_error_detail')}"
            )
