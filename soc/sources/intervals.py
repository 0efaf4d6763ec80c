"""A set of non-negative integers kept as sorted, disjoint, closed ranges.

    s = IntervalSet()
    s.add(0); s.add(1); s.add(5)        # True each time: new members
    s.add(5)                            # False: already there (a duplicate)
    s.missing(upto=6)                   # [(2, 4), (6, 6)]
    s.to_pairs()                        # [(0, 1), (5, 5)]

Two parallel lists hold the ranges' starts and (inclusive) ends; adjacent ranges
are merged as members are added, so a stream read in order is one range whatever
its length. Adding the next number after the last range (the common case: a
stream's records arriving in order) is O(1); any other add is a binary search
plus, when a range is created or two are merged, a list insert or delete (linear
in the number of ranges, which is the number of holes plus one).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator


class IntervalSet:
    __slots__ = ("_count", "_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._count = 0

    # -- reading ------------------------------------------------------------------

    @property
    def count(self) -> int:
        """How many integers the set holds."""
        return self._count

    @property
    def max(self) -> int:
        """The largest member, -1 when empty."""
        return self._ends[-1] if self._ends else -1

    def __len__(self) -> int:
        """The number of ranges."""
        return len(self._starts)

    def __contains__(self, n: object) -> bool:
        if not isinstance(n, int):
            return False
        i = bisect_right(self._starts, n) - 1
        return i >= 0 and self._ends[i] >= n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    def __repr__(self) -> str:
        return f"IntervalSet({self.to_pairs()!r})"

    def covers(self, lo: int, hi: int) -> bool:
        """Whether every integer of ``lo..hi`` is a member."""
        i = bisect_right(self._starts, lo) - 1
        return i >= 0 and self._ends[i] >= hi

    def missing(
        self, upto: int, *, limit: int | None = None, start: int = 0
    ) -> list[tuple[int, int]]:
        """The holes in ``start..upto`` as (from, to) ranges, in order; at most ``limit``."""
        out: list[tuple[int, int]] = []
        nxt = start
        for s, e in zip(self._starts, self._ends, strict=True):
            if e < start:
                continue
            if s > upto:
                break
            if s > nxt:
                out.append((nxt, s - 1))
                if limit is not None and len(out) >= limit:
                    return out
            nxt = e + 1
        if nxt <= upto:
            out.append((nxt, upto))
        return out[:limit] if limit is not None else out

    def missing_count(self, upto: int) -> int:
        """How many integers of ``0..upto`` are not members."""
        if upto < 0:
            return 0
        held = 0
        for s, e in zip(self._starts, self._ends, strict=True):
            if s > upto:
                break
            held += min(e, upto) - s + 1
        return upto + 1 - held

    # -- adding -------------------------------------------------------------------

    def add(self, n: int) -> bool:
        """Add ``n``; False when it was already a member (nothing changes)."""
        ends = self._ends
        if ends:
            last = ends[-1]
            if n == last + 1:  # in order: extend the last range
                ends[-1] = n
                self._count += 1
                return True
            if n > last + 1:  # a jump forward: a new last range
                self._starts.append(n)
                ends.append(n)
                self._count += 1
                return True
        else:
            if n < 0:
                raise ValueError(f"negative member: {n}")
            self._starts.append(n)
            ends.append(n)
            self._count = 1
            return True
        if n < 0:
            raise ValueError(f"negative member: {n}")
        starts = self._starts
        i = bisect_right(starts, n)  # starts[i - 1] <= n < starts[i]
        if i > 0 and ends[i - 1] >= n:
            return False
        joins_left = i > 0 and ends[i - 1] == n - 1
        joins_right = i < len(starts) and starts[i] == n + 1
        if joins_left and joins_right:
            ends[i - 1] = ends[i]
            del starts[i], ends[i]
        elif joins_left:
            ends[i - 1] = n
        elif joins_right:
            starts[i] = n
        else:
            starts.insert(i, n)
            ends.insert(i, n)
        self._count += 1
        return True

    def add_range(self, lo: int, hi: int) -> int:
        """Add every integer of ``lo..hi``; returns how many were not members yet."""
        if lo < 0 or hi < lo:
            raise ValueError(f"bad range: {lo}..{hi}")
        starts, ends = self._starts, self._ends
        # Ranges that overlap or touch lo..hi: from the first ending at or after lo - 1
        # to the last starting at or before hi + 1.
        i = bisect_right(ends, lo - 2)
        j = bisect_right(starts, hi + 1)
        merged = sum(ends[k] - starts[k] + 1 for k in range(i, j))
        if i < j:
            lo, hi = min(lo, starts[i]), max(hi, ends[j - 1])
        starts[i:j] = [lo]
        ends[i:j] = [hi]
        added = (hi - lo + 1) - merged
        self._count += added
        return added

    def drop_upto(self, n: int) -> int:
        """Remove every member up to ``n``; returns how many were removed."""
        starts, ends = self._starts, self._ends
        if not starts or starts[0] > n:
            return 0
        i = bisect_right(ends, n)  # ranges 0..i-1 end at or before n: all gone
        removed = sum(ends[k] - starts[k] + 1 for k in range(i))
        del starts[:i], ends[:i]
        if starts and starts[0] <= n:  # a range across n: cut at n + 1
            removed += n + 1 - starts[0]
            starts[0] = n + 1
        self._count -= removed
        return removed

    def update(self, numbers: Iterable[int]) -> int:
        """Add each number; returns how many were new."""
        return sum(1 for n in numbers if self.add(n))

    # -- persisting ---------------------------------------------------------------

    def to_pairs(self) -> list[tuple[int, int]]:
        """The ranges as (from, to) pairs, for JSON."""
        return list(zip(self._starts, self._ends, strict=True))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[int, int] | list[int]]) -> IntervalSet:
        """The set back from :meth:`to_pairs` (pairs in any order, overlapping or not)."""
        s = cls()
        for lo, hi in sorted((int(a), int(b)) for a, b in pairs):
            s.add_range(lo, hi)
        return s
