"""NDJSON posted to ``POST /api/v1/ingest`` (soc.ingest.ndjson.parse_ndjson): each line an
event (normalized, soc.ingest.normalize) or a dead letter with its reason; never raises.

Checks: every non-blank line is accounted for, as one event or one dead letter.
"""

from __future__ import annotations

from soc.ingest.ndjson import iter_lines, parse_ndjson
from tests.fuzz.targets._common import NOW, Finding


def fuzz_one(data: bytes) -> None:
    parsed = parse_ndjson(data, tenant="t1", source="fuzz", received=NOW, max_line_bytes=4096)
    lines = sum(1 for _ in iter_lines(data))
    if len(parsed.events) + len(parsed.dead) != lines:
        raise Finding(f"{lines} lines gave {len(parsed.events)} events, {len(parsed.dead)} dead")
    for event in parsed.events:
        event.model_dump_json()  # what the bus carries must serialize
