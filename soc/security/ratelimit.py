"""Rate limits for sign-in and ingest: token buckets, and a lockout after failed sign-ins.

A :class:`RateLimiter` holds one token bucket per key: ``burst`` requests at
once, then ``per_second`` on average. A refused request gets ``retry_after``,
the seconds until it would pass, for a 429's ``Retry-After`` header.

:class:`LoginGuard` puts three limits in front of the password check:

1. a lockout per (username, client IP) after ``max_failures`` failed sign-ins
   within ``window_s`` of the first of them, for ``lockout_s``; a successful
   sign-in clears it;
2. a bucket per client IP (password spraying across usernames);
3. a bucket per (username, client IP) (guessing one password).

Keying the lockout by username *and* IP means an attacker elsewhere cannot
lock a user out of their own workstation. Unknown usernames are limited
exactly as known ones, so the answers tell nothing about which exist.

For ingest, one :class:`RateLimiter` keyed by the API key's name, with
``cost`` the number of lines, bounds each connector's event rate.

**Shared across processes.** The state lives in :class:`~soc.store.counters.Counters`:
the service hands in its store, so every API process on the same SQLite file or
OpenSearch cluster sees the same buckets and failure counts, and each decision is
one atomic update there (no in-process front: the limits hold exactly, whatever the
number of processes). The keys are hashes (no username is stored), each counter
expires once it holds nothing (a full bucket, a window and lockout past), and the
limiter deletes the expired ones at most every ``sweep_s``. When the store
fails, a decision falls back to this process's own counters (the limit then holds
per process, as before) and a warning is logged. Without a store (unit tests,
one process) the counters are :class:`~soc.store.counters.MemoryCounters`, bounded by
``max_keys``, least recently used dropped first. Times are wall-clock seconds
(shared counters need one clock; the processes' clocks must agree, e.g. by NTP);
the clock is injectable.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from soc.errors import StoreError
from soc.log import get_logger
from soc.store.counters import Change, Counter, Counters, MemoryCounters, T

if TYPE_CHECKING:
    from soc.settings import IngestLimitSettings, LoginLimitSettings

log = get_logger(__name__)

Clock = Callable[[], float]
Reason = Literal["ok", "rate", "locked"]
MAX_USERNAME_KEY = 256
"""A username longer than this is cut for the key, so a huge one costs no memory."""
SWEEP_S = 60.0
"""Expired counters are deleted at most this often (per limiter, per process)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0
    """Seconds until a retry can pass (0 when allowed)."""
    reason: Reason = "ok"

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, at least 1, for ``Retry-After``."""
        return str(max(1, math.ceil(self.retry_after)))


ALLOWED = Decision(True)


def counter_key(table: str, *parts: str) -> str:
    """``table:`` and a hash of the parts: bounded, and no username in the store."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]
    return f"{table}:{digest}"


class _Shared:
    """Counters in the store, falling back to this process's own when the store fails."""

    def __init__(
        self, counters: Counters | None, *, max_keys: int, clock: Clock, sweep_s: float
    ) -> None:
        self.local = MemoryCounters(max_keys)
        self.shared = counters
        self.clock = clock
        self.sweep_s = sweep_s
        self._swept = clock()

    async def update(self, key: str, change: Change[T]) -> T:
        if self.shared is None:
            return self.local.update(key, change)
        try:
            answer = await self.shared.update_counter(key, change)
        except StoreError as e:
            log.warning(
                "rate limit counters unreachable; this process limits alone",
                extra={"error": str(e)},
            )
            return self.local.update(key, change)
        await self._sweep()
        return answer

    async def _sweep(self) -> None:
        now = self.clock()
        if now - self._swept < self.sweep_s or self.shared is None:
            return
        self._swept = now
        try:
            await self.shared.expire_counters(now)
            await self.local.expire_counters(now)
        except StoreError as e:
            log.warning("expired rate limit counters not deleted", extra={"error": str(e)})

    def __len__(self) -> int:
        return len(self.local)


class RateLimiter:
    """Token buckets by key: ``burst`` at once, refilled at ``per_second``."""

    def __init__(
        self,
        *,
        burst: float,
        per_second: float,
        counters: Counters | None = None,
        table: str = "bucket",
        max_keys: int = 10_000,
        clock: Clock = time.time,
        sweep_s: float = SWEEP_S,
        _state: _Shared | None = None,
    ) -> None:
        if burst <= 0 or per_second <= 0:
            raise ValueError("burst and per_second must be positive")
        self.burst = burst
        self.per_second = per_second
        self.table = table
        self._clock = clock
        self._state = _state or _Shared(counters, max_keys=max_keys, clock=clock, sweep_s=sweep_s)

    def _take(self, now: float, cost: float) -> Change[Decision]:
        def change(stored: Counter | None) -> tuple[Counter | None, Decision]:
            tokens = self.burst
            if stored is not None and stored.expires > now:
                at = stored.values.get("at", now)
                tokens = min(self.burst, stored.values.get("t", 0.0) + (now - at) * self.per_second)
            needed = min(cost, self.burst)
            if tokens < needed:
                decision = Decision(False, (needed - tokens) / self.per_second, "rate")
            else:
                tokens -= cost
                decision = ALLOWED
            full_at = now + (self.burst - tokens) / self.per_second
            return Counter(values={"t": tokens, "at": now}, expires=full_at), decision

        return change

    async def hit(self, key: str, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket, or say how long to wait.

        A cost above ``burst`` passes once the bucket is full and leaves it in
        debt, so a large ingest batch is delayed, never refused for ever.
        """
        now = self._clock()
        return await self._state.update(counter_key(self.table, key), self._take(now, cost))

    @classmethod
    def for_ingest(
        cls, s: IngestLimitSettings, counters: Counters | None = None
    ) -> RateLimiter | None:
        """The per-key ingest limiter of these settings (cost: lines); ``None`` when off."""
        if not s.enabled:
            return None
        return cls(burst=s.burst, per_second=s.per_second, counters=counters, table="ingest")

    async def reset(self, key: str) -> None:
        await self._state.update(counter_key(self.table, key), lambda _: (None, None))

    def __len__(self) -> int:
        """Keys held in this process (its fallback, or all of them without a store)."""
        return len(self._state)


class LoginGuard:
    """Rate limits and lockout around one sign-in route.

    Call :meth:`check` before verifying the password (refuse with 429 and
    ``Retry-After`` when it says no), then :meth:`failed` or :meth:`succeeded`.
    """

    def __init__(
        self,
        *,
        burst: float = 5,
        per_second: float = 0.1,
        ip_burst: float = 30,
        ip_per_second: float = 1.0,
        max_failures: int = 10,
        window_s: float = 15 * 60,
        lockout_s: float = 15 * 60,
        counters: Counters | None = None,
        max_keys: int = 100_000,
        clock: Clock = time.time,
        sweep_s: float = SWEEP_S,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock
        self._state = _Shared(counters, max_keys=max_keys, clock=clock, sweep_s=sweep_s)
        self._attempts = RateLimiter(
            burst=burst, per_second=per_second, table="login-pair", clock=clock, _state=self._state
        )
        self._per_ip = RateLimiter(
            burst=ip_burst,
            per_second=ip_per_second,
            table="login-ip",
            clock=clock,
            _state=self._state,
        )

    @classmethod
    def from_settings(
        cls,
        s: LoginLimitSettings,
        counters: Counters | None = None,
        *,
        clock: Clock = time.time,
    ) -> LoginGuard:
        return cls(
            burst=s.burst,
            per_second=s.per_second,
            ip_burst=s.ip_burst,
            ip_per_second=s.ip_per_second,
            max_failures=s.max_failures,
            window_s=s.window_s,
            lockout_s=s.lockout_s,
            counters=counters,
            clock=clock,
        )

    @staticmethod
    def _pair(username: str, ip: str) -> str:
        return "\x00".join((username.strip().casefold()[:MAX_USERNAME_KEY], ip))

    def _failures_key(self, username: str, ip: str) -> str:
        return counter_key("login-fail", self._pair(username, ip))

    async def _locked_for(self, username: str, ip: str) -> float:
        now = self._clock()

        def read(stored: Counter | None) -> tuple[Counter | None, float]:
            until = stored.values.get("until", 0.0) if stored is not None else 0.0
            return stored, until - now

        return await self._state.update(self._failures_key(username, ip), read)

    async def check(self, username: str, ip: str) -> Decision:
        """Whether this attempt may go on to the password check (uses one token)."""
        left = await self._locked_for(username, ip)
        if left > 0:
            return Decision(False, left, "locked")
        decision = await self._per_ip.hit(ip)
        if not decision.allowed:
            return decision
        return await self._attempts.hit(self._pair(username, ip))

    async def failed(self, username: str, ip: str) -> Decision:
        """Count a failed sign-in; the answer says whether the pair is now locked."""
        now = self._clock()

        def count(stored: Counter | None) -> tuple[Counter | None, Decision]:
            v = dict(stored.values) if stored is not None else {}
            until = v.get("until", 0.0)
            if not v or v.get("since", 0.0) + self.window_s <= now:
                v["n"], v["since"] = 0.0, now
            v["n"] += 1
            if v["n"] >= self.max_failures:
                v["n"], v["since"] = 0.0, now
                until = now + self.lockout_s
            v["until"] = until
            kept = Counter(values=v, expires=max(until, v["since"] + self.window_s))
            if until > now:
                return kept, Decision(False, until - now, "locked")
            return kept, ALLOWED

        return await self._state.update(self._failures_key(username, ip), count)

    async def succeeded(self, username: str, ip: str) -> None:
        """A right password: forget the pair's failures and refill its bucket."""
        await self._state.update(self._failures_key(username, ip), lambda _: (None, None))
        await self._attempts.reset(self._pair(username, ip))

    async def is_locked(self, username: str, ip: str) -> bool:
        return await self._locked_for(username, ip) > 0

    def __len__(self) -> int:
        """Keys held in this process across the three tables (the memory bound's tests)."""
        return len(self._state)
