"""A source's state, judged at read time from its last heartbeat and its interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.sources.book import SourceState, state_of

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age_s", "interval_s", "state"),
    [
        (0, 30, SourceState.healthy),
        (59.9, 30, SourceState.healthy),  # one heartbeat missed: still healthy
        (60, 30, SourceState.late),  # two intervals without one
        (149.9, 30, SourceState.late),
        (150, 30, SourceState.silent),  # five
        (86_400, 30, SourceState.silent),
        (1.0, 0.5, SourceState.late),
        (2.5, 0.5, SourceState.silent),
        (-5, 30, SourceState.healthy),  # a clock a little behind the heartbeat's
    ],
)
def test_state_by_intervals_without_a_heartbeat(
    age_s: float, interval_s: float, state: SourceState
) -> None:
    assert state_of(T0, interval_s, T0 + timedelta(seconds=age_s)) == state
