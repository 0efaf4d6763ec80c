"""Threat intelligence posted or imported (``POST /api/v1/indicators/import``,
soc.intel.parse.parse): a STIX 2.1 bundle, a MISP export or a plain list, sniffed or
named; a Taken (indicators and per-item rejects) or IntelFormatError."""

from __future__ import annotations

from soc.errors import IntelFormatError
from soc.intel.parse import Intake, parse
from tests.fuzz.targets._common import pick

INTAKE = Intake(source="fuzz", tenant="t1")


def fuzz_one(data: bytes) -> None:
    format, rest = pick(data, (None, None, "stix", "misp", "plain"))
    try:
        taken = parse(rest, INTAKE, format=format)
    except IntelFormatError:
        return
    taken.model_dump_json()
