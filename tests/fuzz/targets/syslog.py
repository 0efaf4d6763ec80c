"""Syslog RFC 3164 and RFC 5424 lines (connectors.parse, format syslog)."""

from __future__ import annotations

from tests.fuzz.targets._lines import fuzz_lines


def fuzz_one(data: bytes) -> None:
    fuzz_lines(data, "syslog")
