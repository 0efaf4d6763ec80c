"""Linux auth.log lines: sshd, sudo, su, logind, cron (connectors.parse, format auth)."""

from __future__ import annotations

from tests.fuzz.targets._lines import fuzz_lines


def fuzz_one(data: bytes) -> None:
    fuzz_lines(data, "auth")
