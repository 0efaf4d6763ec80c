"""What every parser shares: the caller's defaults, line decoding, and the error event.

    decode_line(b"...")  -> Line(text, marks)     marks: encoding_error, raw_b64
    error_event(line, reason=..., parser=..., defaults=...) -> EventIn with parse_error

A parser turns one decoded line (or one JSON object) into an
:class:`~soc.models.EventIn` and raises :class:`ParseError` when it cannot;
the dispatcher (dispatch.py) turns that into an error event, so a line is
never dropped.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from connectors.errors import ParseError, ParseErrorReason
from soc.models import EventIn, LogSource

MAX_LINE_BYTES = 1 << 20
"""Default longest line parsed (1 MiB); a longer one becomes a ``too_large`` error event."""

HEAD_BYTES = 65_536
"""Bytes of an oversized line kept in its error event (the size and SHA-256 are kept too)."""


@dataclass(frozen=True, slots=True)
class Defaults:
    """What the connector's configuration knows, and parsers' tuning.

    ``host`` is used when the record names none (a syslog hostname wins over it).
    ``logsource`` is used for error events and for records whose format implies
    none (generic JSON, syslog from an unknown program); a parser that knows its
    logsource (sshd, CloudTrail, ...) sets its own. ``tz`` is the zone of
    timestamps that carry none (RFC 3164, auth.log, Apache without offset; e.g.
    ``ZoneInfo("Asia/Ho_Chi_Minh")``), and ``now`` the reference time from which
    a year-less timestamp takes its year (None: the current time).
    The tenant is never here: it is the credential's (connectors issue, item 5).
    """

    host: str | None = None
    source: str | None = None
    logsource: LogSource | None = None
    tz: tzinfo = UTC
    now: datetime | None = None
    max_line_bytes: int = MAX_LINE_BYTES

    def __post_init__(self) -> None:
        # Checked here so that building an error event can never fail validation.
        if self.host is not None and not 0 < len(self.host) <= 255:
            raise ValueError("Defaults.host must be 1 to 255 characters")
        if self.source is not None and not 0 < len(self.source) <= 200:
            raise ValueError("Defaults.source must be 1 to 200 characters")
        if self.max_line_bytes < 1:
            raise ValueError("Defaults.max_line_bytes must be positive")

    def reference_now(self) -> datetime:
        """``now`` in ``tz``, the current time when unset."""
        now = self.now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(self.tz)


@dataclass(slots=True)
class Line:
    """One decoded line and what decoding noticed (merged into the record)."""

    text: str
    marks: dict[str, Any] = field(default_factory=dict)


def decode_line(raw: bytes) -> Line:
    """UTF-8 with replacement; lossy or UTF-16 decoding is marked, and the bytes kept.

    ``encoding_error`` is ``"invalid_utf8"`` when bytes were replaced (latin-1,
    binary garbage), ``"utf16"`` when the line looked like UTF-16 (a BOM, or a
    NUL in every other byte) and was decoded as such. Either way ``raw_b64``
    keeps the original bytes.
    """
    if b"\x00" in raw or raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = _utf16(raw)
        if text is not None:
            return Line(text, {"encoding_error": "utf16", "raw_b64": _b64(raw)})
    try:
        return Line(raw.decode("utf-8"))
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        return Line(text, {"encoding_error": "invalid_utf8", "raw_b64": _b64(raw)})


def _utf16(raw: bytes) -> str | None:
    """The text of a UTF-16 line, or None when it does not look like one.

    Splitting UTF-16LE text on ``\\n`` leaves each following line with a
    leading NUL (the newline's high byte); it is dropped.
    """
    if raw[:2] == b"\xff\xfe":
        body, enc = raw[2:], "utf-16-le"
    elif raw[:2] == b"\xfe\xff":
        body, enc = raw[2:], "utf-16-be"
    else:
        body = raw[1:] if raw[:1] == b"\x00" and len(raw) % 2 else raw
        if len(body) < 2 or len(body) % 2:
            return None
        if body[1::2].count(0) * 10 >= len(body) // 2 * 9:
            enc = "utf-16-le"
        elif body[0::2].count(0) * 10 >= len(body) // 2 * 9:
            enc = "utf-16-be"
        else:
            return None
    return body.decode(enc, errors="replace").rstrip("\r")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def error_event(
    line: Line | None,
    *,
    reason: ParseErrorReason,
    parser: str,
    defaults: Defaults,
    detail: str | None = None,
    extra: dict[str, Any] | None = None,
) -> EventIn:
    """The line shipped raw, marked with why; logsource and host from the caller's defaults."""
    record: dict[str, Any] = {
        "message": line.text if line else "",
        "parse_error": reason,
        "parser": parser,
    }
    if detail:
        record["parse_error_detail"] = detail[:500]
    if line:
        record.update(line.marks)
    if extra:
        record.update(extra)
    return EventIn(
        record=record, host=defaults.host, source=defaults.source, logsource=defaults.logsource
    )


def too_large_event(raw: bytes, *, parser: str, defaults: Defaults) -> EventIn:
    """A line over the limit: its head, its size and its SHA-256, so it can still be matched."""
    head = decode_line(raw[:HEAD_BYTES])
    return error_event(
        head,
        reason="too_large",
        parser=parser,
        defaults=defaults,
        detail=f"line is {len(raw)} bytes; the limit is {defaults.max_line_bytes}",
        extra={"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(), "truncated": True},
    )


def event(
    record: dict[str, Any],
    *,
    defaults: Defaults,
    logsource: LogSource | None,
    time: datetime | None = None,
    host: str | None = None,
) -> EventIn:
    """A parsed record in the envelope; host and logsource fall back to the defaults.
    ParseError (malformed) when the record's time leaves the calendar once made UTC."""
    if time is not None and time.tzinfo is not None:
        try:
            time.astimezone(UTC)
        except OverflowError as e:  # 9999-12-31T23:59:59-23:59 (found by tests/fuzz)
            raise ParseError(
                "malformed", f"the time {time.isoformat()} is out of range once made UTC"
            ) from e
    if not host or len(host) > 255:
        host = defaults.host
    return EventIn(
        record=record,
        host=host,
        source=defaults.source,
        time=time,
        logsource=logsource or defaults.logsource,
    )
