"""The other line formats and the sniffing one: auto, CEF, FortiGate, auditd
(connectors.parse); the first byte chooses the format."""

from __future__ import annotations

from tests.fuzz.targets._common import pick
from tests.fuzz.targets._lines import fuzz_lines

FORMATS = ("auto", "cef", "fortigate", "auditd", "syslog", "auth")


def fuzz_one(data: bytes) -> None:
    format, rest = pick(data, FORMATS)
    fuzz_lines(rest, format)
