"""The connector agent's errors, one tree under the service's SocError (soc/errors.py).

    ConnectorError
    ├── ConfigError      a configuration that cannot be used; the message names file, line, key
    ├── ListenError      a push source cannot listen: its address or its TLS files are unusable
    ├── ParseError       a line is not in the parser's format, or is broken (.reason, .detail)
    ├── Unreadable       an object (S3) that cannot be read for its own sake; shipped as an
    │                    error record (.error, .detail, .head, .size)
    └── DeliveryError    the destination did not acknowledge (.reason labels the metric,
                         .retry_after_s when the SOC said how long to wait)

None of them loses data: a ParseError or Unreadable becomes an event marked
``parse_error``, a DeliveryError keeps the events in the spool, and a
ConfigError or ListenError stops the agent (or the source) with the reason.
"""

from __future__ import annotations

from typing import Literal

from soc.errors import SocError

ParseErrorReason = Literal[
    "too_large",
    "truncated",
    "empty",
    "unrecognized",
    "malformed",
    "not_json",
    "internal",
]
"""Why a line was shipped raw. A bounded set, so it can label a metric."""

FrameError = Literal["too_large", "bad_header", "truncated"]
"""Why a message could not be cut out of its stream whole."""


class ConnectorError(SocError):
    """Base of every error the connector agent raises on purpose."""


class ConfigError(ConnectorError):
    """A configuration that cannot be used; the message names file, line and key."""


class ListenError(ConnectorError):
    """A push source could not start listening: its address or its TLS files are unusable."""


class ParseError(ConnectorError):
    """A line is not in the parser's format, or is broken; ``reason`` is a ParseErrorReason."""

    def __init__(self, reason: ParseErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: ParseErrorReason = reason
        self.detail = detail


class Unreadable(ConnectorError):
    """An object that cannot be read for its own sake; shipped as an error record."""

    def __init__(self, error: FrameError, detail: str, head: bytes, size: int) -> None:
        super().__init__(detail)
        self.error: FrameError = error
        self.detail = detail
        self.head = head
        self.size = size


class DeliveryError(ConnectorError):
    """The destination did not acknowledge; ``reason`` labels the metric."""

    def __init__(self, reason: str, detail: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after_s = retry_after_s
