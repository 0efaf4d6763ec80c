"""Counters: small states several processes change atomically (the shared rate limits).

A counter is a key (at most :data:`MAX_KEY` characters; :mod:`soc.security.ratelimit`
hashes what it keys by) and a :class:`Counter`: a few named numbers and the time,
in Unix seconds, after which it means nothing any more. :meth:`Counters.update_counter`
hands the stored counter (``None`` when there is none) to a pure function and stores what
it answers, as one atomic step across every process on the same store:

- SQLite: read and ``INSERT ... ON CONFLICT DO UPDATE`` in one ``BEGIN IMMEDIATE``
  transaction (the database's write lock orders the processes);
- OpenSearch: a real-time get, then a write with the ``if_seq_no``/``if_primary_term``
  it read (or a ``create`` when there was none); on 409 the function runs again on the
  newer state. No refresh: a get by id is real-time.

The function may run more than once (OpenSearch retries), so it must not act outside;
its second result is handed back to the caller. Answering ``None`` deletes the counter;
answering the very counter it was handed (``is``) writes nothing (a read).
A counter past its ``expires`` is still handed over until :meth:`Counters.expire_counters`
deletes it; the function judges it by its own clock. :class:`MemoryCounters` is the same
in one process, bounded by a number of keys.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field

T = TypeVar("T")
MAX_KEY = 128
CONFLICT_RETRIES = 50
"""Times an OpenSearch update reads again after a 409 before it gives up (StoreError)."""


class Counter(BaseModel):
    values: dict[str, float] = Field(default_factory=dict)
    expires: float
    """Unix seconds after which the counter holds nothing worth keeping."""


Change = Callable[[Counter | None], tuple[Counter | None, T]]
"""The stored counter -> (what to store, ``None`` to delete; what to answer)."""


@runtime_checkable
class Counters(Protocol):
    async def update_counter(self, key: str, change: Change[T]) -> T:
        """Apply ``change`` to ``key``'s counter atomically; its answer."""
        ...

    async def expire_counters(self, now: float) -> int:
        """Delete the counters whose ``expires`` is at or before ``now``; how many."""
        ...


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY:
        raise ValueError(f"a counter key has 1 to {MAX_KEY} characters")
    return key


class MemoryCounters:
    """:class:`Counters` in one process, the least recently used dropped past ``max_keys``."""

    def __init__(self, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._d: OrderedDict[str, Counter] = OrderedDict()
        self._max = max_keys

    async def update_counter(self, key: str, change: Change[T]) -> T:
        return self.update(key, change)

    def update(self, key: str, change: Change[T]) -> T:
        """The same, without the event loop (it never waits)."""
        stored = self._d.get(check_key(key))
        new, answer = change(stored)
        if new is stored and new is not None:
            self._d.move_to_end(key)
        elif new is None:
            self._d.pop(key, None)
        else:
            self._d[key] = new
            self._d.move_to_end(key)
            while len(self._d) > self._max:
                self._d.popitem(last=False)
        return answer

    async def expire_counters(self, now: float) -> int:
        gone = [k for k, c in self._d.items() if c.expires <= now]
        for k in gone:
            del self._d[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._d)
