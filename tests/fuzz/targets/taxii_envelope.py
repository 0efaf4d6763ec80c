"""A TAXII 2.1 server's answer to a feed poll (soc.stages.intel_poll): the envelope's
objects, page by page, read as STIX with the TLP markings of earlier pages
(soc.intel.parse.parse_stix, marking_tlp). A bad answer is IntelFormatError (the feed's
poll fails with its reason); the first byte cuts the objects into pages."""

from __future__ import annotations

import json
from typing import Any

from soc.errors import IntelFormatError
from soc.intel.parse import Intake, marking_tlp, parse_stix
from soc.settings import Tlp
from tests.fuzz.targets._common import pick

INTAKE = Intake(source="feed:fuzz", tenant="t1")


def fuzz_one(data: bytes) -> None:
    size, rest = pick(data, range(1, 9))
    try:
        envelope = json.loads(rest)
    except (ValueError, RecursionError):
        return  # taxii2-client's own refusal: the poll fails
    if not isinstance(envelope, dict):
        return
    objects: Any = envelope.get("objects") or []
    if not isinstance(objects, list):
        return  # taxii2-client pages only lists
    markings: dict[str, Tlp] = {}
    for at in range(0, len(objects), size):
        page = objects[at : at + size]
        try:
            parse_stix(page, INTAKE, markings=markings)
        except IntelFormatError:
            return
        for obj in page:
            if isinstance(obj, dict) and obj.get("type") == "marking-definition":
                tlp = marking_tlp(obj)
                if tlp:
                    markings[str(obj.get("id"))] = tlp
