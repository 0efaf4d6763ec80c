"""A service's start steps outlast a backend's passing errors, and stop at a lasting one."""

from __future__ import annotations

import pytest

from soc.app import while_starting
from soc.errors import StoreError


class Flaky:
    """Fails ``times`` times with ``error``, then succeeds."""

    def __init__(self, times: int, error: StoreError) -> None:
        self.times = times
        self.error = error
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error


async def test_a_passing_error_is_tried_again_until_the_step_succeeds() -> None:
    # An index another process has just created: 503 until its shard starts.
    step = Flaky(2, StoreError("opensearch: no_shard_available_action_exception", retriable=True))
    await while_starting("rule files", step)
    assert step.calls == 3


async def test_a_lasting_error_stops_the_start_at_once() -> None:
    step = Flaky(1, StoreError("opensearch: mapping conflict", retriable=False))
    with pytest.raises(StoreError, match="mapping conflict"):
        await while_starting("rule files", step)
    assert step.calls == 1
