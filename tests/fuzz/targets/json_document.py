"""JSON formats of the connector: CloudTrail files, Kubernetes audit, Windows JSON and any
JSON, as one document or one value a line (connectors.parse, JSON formats)."""

from __future__ import annotations

from connectors.parse import parse
from tests.fuzz.targets._common import DEFAULTS, check_events, pick

FORMATS = ("json", "cloudtrail", "k8s-audit", "windows-json", "auto")


def fuzz_one(data: bytes) -> None:
    format, rest = pick(data, FORMATS)
    check_events(parse(rest, format=format, defaults=DEFAULTS))
