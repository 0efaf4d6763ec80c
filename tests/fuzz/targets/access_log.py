"""Web access log lines, Apache and nginx combined format (connectors.parse)."""

from __future__ import annotations

from tests.fuzz.targets._common import pick
from tests.fuzz.targets._lines import fuzz_lines


def fuzz_one(data: bytes) -> None:
    format, rest = pick(data, ("apache", "nginx"))
    fuzz_lines(rest, format)
