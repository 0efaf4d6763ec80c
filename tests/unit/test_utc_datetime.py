"""UtcDatetime: every time is stored in UTC; one that leaves the calendar once converted
is a validation error (a 422 at the API), never an OverflowError (a 500). Found by the
schema fuzzer: ``"until": "0001-01-01T00:00:00+00:01"`` on POST /api/v1/indicators/hunt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError

from soc.models import UtcDatetime


class Timed(BaseModel):
    at: UtcDatetime


def test_times_are_converted_to_utc() -> None:
    plus7 = timezone(timedelta(hours=7))
    assert Timed(at=datetime(2026, 12, 6, 7, 0, tzinfo=plus7)).at == datetime(
        2026, 12, 6, 0, 0, tzinfo=UTC
    )
    assert Timed(at=datetime(2026, 12, 6, 7, 0)).at.tzinfo is UTC


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_a_time_outside_the_calendar_in_utc_is_a_validation_error(text: str) -> None:
    with pytest.raises(ValidationError, match="out of range once converted to UTC"):
        Timed.model_validate({"at": text})
