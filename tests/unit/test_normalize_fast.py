"""The per-event shortcuts of normalizing build the very events the general path builds.

``normalize`` constructs the Event without pydantic's generic ``model_construct`` loop, a
bare record (a file's line) skips the envelope model, and ``infer_logsource`` hands out
one LogSource per triple: on recorded records, each result must equal the slow path's.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soc import fastjson
from soc.ingest.ndjson import object_event
from soc.ingest.normalize import infer_logsource, normalize
from soc.models import Event, LogSource

RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)


def records(shared_dir: Path, count: int = 2000) -> list[dict[str, Any]]:
    path = next((shared_dir / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        return [fastjson.loads(line) for _, line in zip(range(count), f, strict=False)]


def test_the_event_is_model_constructs(shared_dir: Path) -> None:
    for record in records(shared_dir):
        event = normalize(record, tenant="t", source="s", received=RECEIVED)
        slow = Event.model_construct(**{name: getattr(event, name) for name in Event.model_fields})
        assert list(event.__dict__) == list(slow.__dict__)
        assert event.__dict__ == slow.__dict__
        assert event.model_fields_set == slow.model_fields_set
        assert event.__pydantic_extra__ is None and event.__pydantic_private__ is None
        assert event.model_dump_json() == slow.model_dump_json()
        assert Event.model_validate_json(event.model_dump_json()) == event
        event.host = "changed"  # the fields set is the event's own, as pydantic's is
        assert "host" in event.model_fields_set


def test_a_bare_record_is_the_envelope_of_itself(shared_dir: Path) -> None:
    for record in records(shared_dir, 500):
        bare = object_event(record, tenant="t", source="s", received=RECEIVED)
        enveloped = object_event({"record": record}, tenant="t", source="s", received=RECEIVED)
        assert bare == enveloped


def test_inferred_logsources_equal_new_ones(shared_dir: Path) -> None:
    seen: set[LogSource] = set()
    for record in records(shared_dir, 20000):
        found = infer_logsource(record)
        fresh = LogSource(product=found.product, category=found.category, service=found.service)
        assert found == fresh and found.model_fields_set == fresh.model_fields_set
        seen.add(found)
    assert len(seen) > 5
