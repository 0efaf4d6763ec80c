"""Token buckets, the sign-in lockout and the memory bound, on a fake clock."""

from __future__ import annotations

import pytest

from soc.security.ratelimit import Decision, LoginGuard, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_burst_then_refused_with_retry_after(clock: Clock) -> None:
    limiter = RateLimiter(burst=3, per_second=0.5, clock=clock)
    assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, True]
    refused = await limiter.hit("k")
    assert refused == Decision(False, 2.0, "rate")
    assert refused.retry_after_header == "2"
    assert (await limiter.hit("other")).allowed


async def test_refill_at_the_rate_and_no_further_than_the_burst(clock: Clock) -> None:
    limiter = RateLimiter(burst=2, per_second=1.0, clock=clock)
    await limiter.hit("k")
    await limiter.hit("k")
    clock.advance(0.5)
    assert (await limiter.hit("k")).retry_after == pytest.approx(0.5)
    clock.advance(0.5)
    assert (await limiter.hit("k")).allowed
    clock.advance(3600)
    assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]


async def test_a_cost_above_the_burst_waits_for_a_full_bucket_then_owes(clock: Clock) -> None:
    limiter = RateLimiter(burst=100, per_second=10, clock=clock)
    assert (await limiter.hit("connector", cost=250)).allowed
    refused = await limiter.hit("connector", cost=1)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(15.1)  # 150 owed + 1, at 10 a second


def test_retry_after_header_is_a_whole_second_at_least() -> None:
    assert Decision(False, 0.01, "rate").retry_after_header == "1"
    assert Decision(False, 2.2, "rate").retry_after_header == "3"


async def test_idle_keys_are_evicted_least_recently_used_first(clock: Clock) -> None:
    limiter = RateLimiter(burst=1, per_second=0.001, max_keys=2, clock=clock)
    await limiter.hit("a")
    await limiter.hit("b")
    assert not (await limiter.hit("a")).allowed  # touches a: b is now the oldest
    await limiter.hit("c")
    assert len(limiter) == 2
    assert (await limiter.hit("b")).allowed  # forgotten, so a fresh bucket
    assert not (await limiter.hit("c")).allowed


async def test_login_lockout_after_ten_failures_in_the_window(clock: Clock) -> None:
    guard = LoginGuard(burst=100, clock=clock)
    for _ in range(9):
        assert (await guard.check("analyst.hoa", "10.0.0.5")).allowed
        assert (await guard.failed("analyst.hoa", "10.0.0.5")).allowed
    assert (await guard.check("analyst.hoa", "10.0.0.5")).allowed
    locked = await guard.failed("analyst.hoa", "10.0.0.5")
    assert locked == Decision(False, 900.0, "locked")
    clock.advance(60)
    refused = await guard.check("ANALYST.HOA", "10.0.0.5")
    assert refused == Decision(False, 840.0, "locked")
    assert refused.retry_after_header == "840"
    assert (await guard.check("analyst.hoa", "10.0.0.6")).allowed  # the user's own desk still works
    clock.advance(840)
    assert (await guard.check("analyst.hoa", "10.0.0.5")).allowed
    assert not await guard.is_locked("analyst.hoa", "10.0.0.5")


async def test_failures_outside_the_window_do_not_count(clock: Clock) -> None:
    guard = LoginGuard(burst=100, clock=clock)
    for _ in range(9):
        await guard.failed("analyst.hoa", "10.0.0.5")
    clock.advance(15 * 60)
    assert (await guard.failed("analyst.hoa", "10.0.0.5")).allowed
    assert not await guard.is_locked("analyst.hoa", "10.0.0.5")


async def test_a_success_clears_the_failures(clock: Clock) -> None:
    guard = LoginGuard(burst=100, clock=clock)
    for _ in range(9):
        await guard.failed("analyst.hoa", "10.0.0.5")
    await guard.succeeded("analyst.hoa", "10.0.0.5")
    for _ in range(9):
        assert (await guard.failed("analyst.hoa", "10.0.0.5")).allowed
    assert not (await guard.failed("analyst.hoa", "10.0.0.5")).allowed


async def test_attempts_per_user_and_ip_are_rate_limited(clock: Clock) -> None:
    guard = LoginGuard(burst=5, per_second=0.1, clock=clock)
    assert all([(await guard.check("analyst.hoa", "10.0.0.5")).allowed for _ in range(5)])
    refused = await guard.check("analyst.hoa", "10.0.0.5")
    assert refused.reason == "rate"
    assert refused.retry_after == pytest.approx(10.0)
    assert (await guard.check("lead.minh", "10.0.0.5")).allowed
    clock.advance(10)
    assert (await guard.check("analyst.hoa", "10.0.0.5")).allowed


async def test_spraying_many_usernames_from_one_ip_is_limited(clock: Clock) -> None:
    guard = LoginGuard(ip_burst=30, ip_per_second=1.0, clock=clock)
    results = [(await guard.check(f"user{i}", "203.0.113.9")).allowed for i in range(31)]
    assert results == [True] * 30 + [False]
    assert (await guard.check("user0", "10.0.0.5")).allowed


async def test_unknown_and_long_usernames_are_keyed_the_same_bounded_way(clock: Clock) -> None:
    guard = LoginGuard(max_failures=1, clock=clock)
    await guard.failed("x" * 10_000, "10.0.0.5")
    assert await guard.is_locked("x" * 256 + "different tail", "10.0.0.5")


async def test_the_guard_holds_a_bounded_number_of_keys(clock: Clock) -> None:
    guard = LoginGuard(max_keys=50, ip_burst=10_000, clock=clock)
    for i in range(1000):
        await guard.check(f"user{i}", f"10.0.{i // 250}.{i % 250}")
        await guard.failed(f"user{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(guard) <= 150
