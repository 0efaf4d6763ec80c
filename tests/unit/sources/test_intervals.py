"""IntervalSet against a plain set of ints: same members, same holes, same counts."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soc.sources.intervals import IntervalSet


def holes(members: set[int], upto: int) -> list[tuple[int, int]]:
    """The naive answer: runs of 0..upto not in ``members``."""
    out: list[tuple[int, int]] = []
    for n in range(upto + 1):
        if n in members:
            continue
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def test_in_order_adds_make_one_range_and_repeats_are_refused() -> None:
    s = IntervalSet()
    assert all(s.add(n) for n in range(1000))
    assert len(s) == 1 and s.count == 1000 and s.max == 999
    assert s.add(500) is False and s.add(0) is False and s.add(999) is False
    assert s.count == 1000
    assert s.missing(1002) == [(1000, 1002)]


def test_holes_merge_as_they_fill() -> None:
    s = IntervalSet()
    for n in (0, 1, 5, 9, 3):
        s.add(n)
    assert s.to_pairs() == [(0, 1), (3, 3), (5, 5), (9, 9)]
    assert s.missing(10) == [(2, 2), (4, 4), (6, 8), (10, 10)]
    assert s.missing(10, limit=2) == [(2, 2), (4, 4)]
    assert s.missing_count(10) == 6
    s.add(2)
    s.add(4)
    assert s.to_pairs() == [(0, 5), (9, 9)]
    assert s.add_range(6, 12) == 6  # 9 was there
    assert s.to_pairs() == [(0, 12)] and s.count == 13
    assert s.covers(0, 12) and not s.covers(0, 13)
    assert 7 in s and 13 not in s and -1 not in s


def test_missing_below_the_first_member_and_of_an_empty_set() -> None:
    s = IntervalSet()
    assert s.missing(-1) == [] and s.missing(3) == [(0, 3)] and s.max == -1
    s.add(4)
    assert s.missing(2) == [(0, 2)] and s.missing(4) == [(0, 3)]


def test_negative_members_and_bad_ranges_are_refused() -> None:
    s = IntervalSet()
    with pytest.raises(ValueError):
        s.add(-1)
    s.add(3)
    with pytest.raises(ValueError):
        s.add(-2)
    with pytest.raises(ValueError):
        s.add_range(5, 4)


def test_pairs_round_trip_and_normalise() -> None:
    s = IntervalSet.from_pairs([[7, 9], [0, 2], [3, 4], [8, 12]])
    assert s.to_pairs() == [(0, 4), (7, 12)] and s.count == 11
    assert IntervalSet.from_pairs(s.to_pairs()) == s


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 300), st.just(0)),
        st.tuples(st.just("range"), st.integers(0, 300), st.integers(0, 20)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(ops, st.integers(-1, 350))
def test_behaves_as_a_set(operations: list[tuple[str, int, int]], upto: int) -> None:
    s, model = IntervalSet(), set()
    for op, n, width in operations:
        if op == "add":
            assert s.add(n) is (n not in model)
            model.add(n)
        else:
            new = set(range(n, n + width + 1))
            assert s.add_range(n, n + width) == len(new - model)
            model |= new
    assert s.count == len(model)
    assert s.max == max(model, default=-1)
    pairs = s.to_pairs()
    assert all(a <= b for a, b in pairs)
    assert all(b + 1 < c for (_, b), (c, _) in pairwise(pairs))  # disjoint
    assert {n for a, b in pairs for n in range(a, b + 1)} == model
    assert s.missing(upto) == holes(model, upto)
    assert s.missing_count(upto) == sum(b - a + 1 for a, b in holes(model, upto))
    assert IntervalSet.from_pairs(pairs) == s
    for n in range(0, 330, 7):
        assert (n in s) is (n in model)


@settings(max_examples=300, deadline=None)
@given(ops, st.integers(-1, 350), st.integers(-1, 350))
def test_dropping_a_prefix_and_holes_from_a_start(
    operations: list[tuple[str, int, int]], cut: int, upto: int
) -> None:
    s, model = IntervalSet(), set()
    for _, n, width in operations:
        s.add_range(n, n + width)
        model |= set(range(n, n + width + 1))
    assert s.drop_upto(cut) == len({n for n in model if n <= cut})
    model = {n for n in model if n > cut}
    assert s.count == len(model)
    assert {n for a, b in s.to_pairs() for n in range(a, b + 1)} == model
    # The holes above the cut, as a ledger settled up to it asks for them.
    expected = [(a, b) for a, b in holes(model, upto) if b > cut]
    expected = [(max(a, cut + 1), b) for a, b in expected]
    assert s.missing(upto, start=cut + 1) == expected
