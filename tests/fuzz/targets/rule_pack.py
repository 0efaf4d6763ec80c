"""A zip of rule files uploaded as a pack (``POST /api/v1/rules/pack``,
soc.detect.imports.read_pack): QueryError when the zip as a whole is unusable or over the
limits; a member that cannot be taken comes with its reason. (What a text then goes
through is the sigma_* targets'.)"""

from __future__ import annotations

from soc.detect.imports import MAX_RULE_TEXT, read_pack
from soc.errors import QueryError
from tests.fuzz.targets._common import Finding


def fuzz_one(data: bytes) -> None:
    try:
        texts, _skipped = read_pack(data)
    except QueryError:
        return
    for _name, body, reason in texts:
        if (body is None) == (reason is None):
            raise Finding("a pack member with both a text and a refusal, or neither")
        if body is not None and len(body.encode()) > MAX_RULE_TEXT:
            raise Finding(f"a member of {len(body.encode())} bytes let through")
