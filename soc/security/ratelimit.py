"""Rate limits for sign-in and ingest: token buckets, and a lockout after failed sign-ins.

A :class:`RateLimiter` holds one token bucket per key: ``burst`` requests at
once, then ``per_second`` on average. A refused request gets ``retry_after``,
the seconds until it would pass, for a 429's ``Retry-After`` header.

:class:`LoginGuard` puts three limits in front of the password check:

1. a lockout per (username, client IP) after ``max_failures`` failed sign-ins
   within ``window_s``, for ``lockout_s``; a successful sign-in clears it;
2. a bucket per client IP (password spraying across usernames);
3. a bucket per (username, client IP) (guessing one password).

Keying the lockout by username *and* IP means an attacker elsewhere cannot
lock a user out of their own workstation. Unknown usernames are limited
exactly as known ones, so the answers tell nothing about which exist.

For ingest, one :class:`RateLimiter` keyed by the API key's name, with
``cost`` the number of lines, bounds each connector's event rate.

State is per process and bounded: at most ``max_keys`` keys per table, the
least recently used dropped first (a full bucket carries no state, so
dropping an idle key loses nothing). Behind several API processes the limits
apply per process. The clock is injectable (monotonic seconds).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from soc.settings import IngestLimitSettings, LoginLimitSettings

Clock = Callable[[], float]
Reason = Literal["ok", "rate", "locked"]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
MAX_USERNAME_KEY = 256
"""A username longer than this is cut for the key, so a huge one costs no memory."""


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


class _Lru(Generic[K, V]):
    """A dict that forgets its least recently used key beyond ``max_keys``."""

    def __init__(self, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._d: OrderedDict[K, V] = OrderedDict()
        self._max = max_keys

    def get(self, key: K) -> V | None:
        value = self._d.get(key)
        if value is not None:
            self._d.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self._max:
            self._d.popitem(last=False)

    def pop(self, key: K) -> None:
        self._d.pop(key, None)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key: ``burst`` at once, refilled at ``per_second``."""

    def __init__(
        self,
        *,
        burst: float,
        per_second: float,
        max_keys: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if burst <= 0 or per_second <= 0:
            raise ValueError("burst and per_second must be positive")
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._buckets: _Lru[Hashable, _Bucket] = _Lru(max_keys)

    def hit(self, key: Hashable, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket, or say how long to wait.

        A cost above ``burst`` passes once the bucket is full and leaves it in
        debt, so a large ingest batch is delayed, never refused for ever.
        """
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_second)
            bucket.at = now
        needed = min(cost, self.burst)
        if bucket.tokens >= needed:
            bucket.tokens -= cost
            allowed = ALLOWED
        else:
            allowed = Decision(False, (needed - bucket.tokens) / self.per_second, "rate")
        self._buckets.put(key, bucket)
        return allowed

    @classmethod
    def for_ingest(cls, s: IngestLimitSettings) -> RateLimiter | None:
        """The per-key ingest limiter of these settings (cost: lines); ``None`` when off."""
        return cls(burst=s.burst, per_second=s.per_second) if s.enabled else None

    def reset(self, key: Hashable) -> None:
        self._buckets.pop(key)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


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
        max_keys: int = 100_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock
        self._attempts = RateLimiter(
            burst=burst, per_second=per_second, max_keys=max_keys, clock=clock
        )
        self._per_ip = RateLimiter(
            burst=ip_burst, per_second=ip_per_second, max_keys=max_keys, clock=clock
        )
        self._failures: _Lru[tuple[str, str], _Failures] = _Lru(max_keys)

    @classmethod
    def from_settings(cls, s: LoginLimitSettings, *, clock: Clock = time.monotonic) -> LoginGuard:
        return cls(
            burst=s.burst,
            per_second=s.per_second,
            ip_burst=s.ip_burst,
            ip_per_second=s.ip_per_second,
            max_failures=s.max_failures,
            window_s=s.window_s,
            lockout_s=s.lockout_s,
            clock=clock,
        )

    @staticmethod
    def _key(username: str, ip: str) -> tuple[str, str]:
        return username.strip().casefold()[:MAX_USERNAME_KEY], ip

    def check(self, username: str, ip: str) -> Decision:
        """Whether this attempt may go on to the password check (uses one token)."""
        key = self._key(username, ip)
        state = self._failures.get(key)
        if state is not None:
            left = state.locked_until - self._clock()
            if left > 0:
                return Decision(False, left, "locked")
        decision = self._per_ip.hit(ip)
        if not decision.allowed:
            return decision
        return self._attempts.hit(key)

    def failed(self, username: str, ip: str) -> Decision:
        """Count a failed sign-in; the answer says whether the pair is now locked."""
        key = self._key(username, ip)
        now = self._clock()
        state = self._failures.get(key) or _Failures()
        times = state.times
        times.append(now)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.max_failures:
            times.clear()
            state.locked_until = now + self.lockout_s
        self._failures.put(key, state)
        if state.locked_until > now:
            return Decision(False, state.locked_until - now, "locked")
        return ALLOWED

    def succeeded(self, username: str, ip: str) -> None:
        """A right password: forget the pair's failures and refill its bucket."""
        key = self._key(username, ip)
        self._failures.pop(key)
        self._attempts.reset(key)

    def is_locked(self, username: str, ip: str) -> bool:
        state = self._failures.get(self._key(username, ip))
        return state is not None and state.locked_until > self._clock()

    def __len__(self) -> int:
        """Keys held across the three tables (for the memory bound's tests and metrics)."""
        return len(self._attempts) + len(self._per_ip) + len(self._failures)
