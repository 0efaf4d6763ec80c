"""A body POSTed to the connector's HTTP source: the agent reads it as one document in the
source's format, with the peer's address as host (connectors.agent.Agent.parse_batch)."""

from __future__ import annotations

from connectors.parse import Defaults, parse
from tests.fuzz.targets._common import DEFAULTS, check_events, pick

FORMATS = ("json", "auto", "cloudtrail", "k8s-audit", "windows-json", "syslog", "cef")
PEER = Defaults(
    host="192.0.2.7",
    source=DEFAULTS.source,
    tz=DEFAULTS.tz,
    now=DEFAULTS.now,
    max_line_bytes=DEFAULTS.max_line_bytes,
)


def fuzz_one(data: bytes) -> None:
    format, body = pick(data, FORMATS)
    if not body.strip():
        return  # refused with 400 before parsing
    check_events(parse(body, format=format, defaults=PEER))
