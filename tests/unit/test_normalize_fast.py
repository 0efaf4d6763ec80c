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

from hypothesis import given, settings
from hypothesis import strategies as st

from soc import fastjson
from soc.ingest.ndjson import object_event
from soc.ingest.normalize import identified, infer_logsource, normalize, parse_time
from soc.models import Event, LogSource, Origin

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


def test_an_event_identified_later_has_the_id_it_would_have_had(shared_dir: Path) -> None:
    origin = Origin(connector="c", source="s", stream="x", seq=7)
    for record in records(shared_dir, 300):
        for stamp in (None, origin):
            now = object_event(
                {"record": record, "origin": stamp.model_dump()} if stamp else record,
                tenant="t", source="s", received=RECEIVED,
            )  # fmt: skip
            later = object_event(
                {"record": record, "origin": stamp.model_dump()} if stamp else record,
                tenant="t", source="s", received=RECEIVED, identify=False,
            )  # fmt: skip
            assert later.id == "" and now.id
            assert identified(later) is later and later == now
            assert later.model_dump_json() == now.model_dump_json()


def test_inferred_logsources_equal_new_ones(shared_dir: Path) -> None:
    seen: set[LogSource] = set()
    for record in records(shared_dir, 20000):
        found = infer_logsource(record)
        fresh = LogSource(product=found.product, category=found.category, service=found.service)
        assert found == fresh and found.model_fields_set == fresh.model_fields_set
        seen.add(found)
    assert len(seen) > 5


def reference_time(value: str) -> datetime:
    """parse_time's general path for text, as it was before its fast path."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@settings(max_examples=500, derandomize=True)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)),
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+07:00", "-03:30", "", " ", "+0000"]),
    st.sampled_from(["T", " "]),
)
def test_text_times_parse_as_the_general_path_parses_them(
    when: datetime, zone: str, sep: str
) -> None:
    text = when.isoformat(sep=sep) + zone
    assert parse_time(text, name="t") == reference_time(text)
    assert parse_time(text, name="t").tzinfo is UTC


def test_a_record_read_as_flat_normalizes_as_any_record(shared_dir: Path, tmp_path: Path) -> None:
    from soc.ingest.readers import read_file

    lines = [fastjson.canonical_bytes(r) for r in records(shared_dir, 3000)]
    nested = b'{"a": {"b": 1}, "EventID": 1}'
    floats = b'{"a": 1.5, "Channel": "Security"}'
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join([*lines, nested, floats, b'{"winlog": {"channel": "x"}}']))
    items = list(read_file(path))
    assert [i.flat for i in items[-3:]] == [False, False, False]
    assert sum(i.flat for i in items) == len(lines)  # the recorded events are all flat
    for item in items:
        assert item.record is not None
        if item.flat:
            assert fastjson.PLAIN.issuperset(map(type, item.record.values()))
        fast = normalize(item.record, tenant="t", source="s", received=RECEIVED, flat=item.flat)
        slow = normalize(item.record, tenant="t", source="s", received=RECEIVED)
        assert fast == slow and fast.fields is not item.record
