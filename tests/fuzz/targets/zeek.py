"""Zeek logs, TSV with their #fields header or JSON, read with state: the connector's
``zeek`` format (connectors.parse) and the hunt's ZeekReader (soc.ingest.zeek), which
raises ZeekError for a line that is no record."""

from __future__ import annotations

import contextlib

from connectors.parse import parse
from soc.ingest.zeek import ZeekError, ZeekReader
from tests.fuzz.targets._common import DEFAULTS, check_events, pick


def fuzz_one(data: bytes) -> None:
    name, rest = pick(data, (None, "conn.log", "dns.00:00:00-01:00:00.log.gz", "weird"))
    check_events(parse(rest, format="zeek", defaults=DEFAULTS))
    reader = ZeekReader(name)
    for line in rest.decode("utf-8", "replace").split("\n"):
        with contextlib.suppress(ZeekError):
            reader.line(line)
