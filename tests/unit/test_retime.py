"""Replays re-timed to now: gaps kept, the latest record at the end, records untouched."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime, timedelta
from importlib import resources

from soc.ingest.normalize import recorded_time
from soc.ingest.retime import retimed

END = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)


def sample_records(n: int) -> list[dict[str, object]]:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    return [json.loads(line) for line in gzip.decompress(data).splitlines()[:n]]


def test_the_latest_lands_on_the_end_and_the_gaps_stay() -> None:
    records = sample_records(300)
    before = copy.deepcopy(records)
    pairs = retimed(records, end=END)
    recorded = [recorded_time(r) for r in records]
    assert all(t is not None for t in recorded)
    assert max(t for _, t in pairs) == END
    shift = pairs[0][1] - recorded[0]  # type: ignore[operator]
    assert shift > timedelta(days=365)  # recorded in 2023
    assert all(new - old == shift for (_, new), old in zip(pairs, recorded, strict=True))  # type: ignore[operator]
    assert [r for r, _ in pairs] == before, "the records themselves are not touched"


def test_a_record_without_a_time_or_with_a_broken_one_takes_the_end() -> None:
    records = [{"message": "no time here"}, {"@timestamp": "not a time"}]
    assert [t for _, t in retimed(records, end=END)] == [END, END]
