"""The reads the TAXII server makes of a tenant's shared objects (StixObjects.page), on
each store: version selection over every stored version (versions added out of order
too), filters, ``added_after`` and cursors that never skip nor repeat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import stix2

from soc.errors import QueryError
from soc.sharing.objects import ObjectFilter, StixObjects
from soc.store import Store
from tests.stores import BACKENDS, fresh_store
from tests.taxii._soc import T0, as_dict, indicators

A, B = "hue-ioc", "hue-dof"


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


def _versions(n: int) -> list[dict[str, Any]]:
    """``n`` versions of one malware, a day apart."""
    first = stix2.Malware(name="Emotet", is_family=True, created=T0, modified=T0)
    return [
        as_dict(first.new_version(modified=T0 + timedelta(days=i)) if i else first)
        for i in range(n)
    ]


async def _all(objects: StixObjects, flt: ObjectFilter, limit: int) -> list[Any]:
    seen, after = [], None
    while True:
        page = await objects.page(A, flt, limit=limit, after=after)
        assert len(page.items) == limit or not page.more  # full pages until the last
        seen.extend(page.items)
        if not page.more:
            assert page.next is None
            return seen
        after = page.next


async def test_versions_first_last_all_and_a_timestamp(store: Store) -> None:
    objects = StixObjects(store)
    v0, v1, v2 = _versions(3)
    # the middle version arrives last: first and last are over every stored version
    await objects.add(A, [v0])
    await objects.add(A, [v2])
    await objects.add(A, [v1])
    await objects.add(A, indicators(3, tenant=A))
    await objects.add(B, [v0])  # the same object, shared by B too
    malware = ObjectFilter(types=["malware"])
    last = await objects.page(A, malware, limit=10)
    assert [s.object["modified"] for s in last.items] == [v2["modified"]]
    first = await objects.page(A, malware.model_copy(update={"versions": ["first"]}), limit=10)
    assert [s.object["modified"] for s in first.items] == [v0["modified"]]
    both = await objects.page(
        A, malware.model_copy(update={"versions": ["first", "last"]}), limit=10
    )
    assert [s.object["modified"] for s in both.items] == [v0["modified"], v2["modified"]]
    every = await objects.page(A, malware.model_copy(update={"versions": ["all"]}), limit=10)
    assert [s.object["modified"] for s in every.items] == [
        v0["modified"],
        v2["modified"],
        v1["modified"],
    ]  # in the order added
    at = await objects.page(A, malware.model_copy(update={"versions": [v1["modified"]]}), limit=5)
    assert [s.version for s in at.items] == [v1["modified"]]
    # ids and types
    ind = (await objects.page(A, ObjectFilter(types=["indicator"]), limit=10)).items
    assert len(ind) == 3
    two = ObjectFilter(ids=[ind[0].id, v0["id"]], versions=["all"])
    assert {s.id for s in (await objects.page(A, two, limit=10)).items} == {ind[0].id, v0["id"]}
    assert (await objects.page(A, ObjectFilter(spec_versions=["2.0"]), limit=10)).items == []
    # B's version of the same id is B's alone
    assert len((await objects.page(B, ObjectFilter(versions=["all"]), limit=10)).items) == 1
    with pytest.raises(QueryError):
        await objects.page(A, ObjectFilter(versions=["yesterday"]), limit=1)
    with pytest.raises(QueryError):
        await objects.page(A, ObjectFilter(), limit=1, after="not-a-cursor")


async def test_pages_and_added_after_never_skip_nor_repeat(store: Store) -> None:
    objects = StixObjects(store)
    made = indicators(23, tenant=A)
    for start in range(0, 23, 5):
        await objects.add(A, made[start : start + 5])
    # later versions of two, and a page under a filter rejecting most records
    await objects.add(A, [as_dict(stix2.parse(o).new_version(confidence=70)) for o in made[:2]])
    seen = await _all(objects, ObjectFilter(), limit=4)
    assert [s.id for s in seen] == [o["id"] for o in made[2:]] + [o["id"] for o in made[:2]]
    every = await _all(objects, ObjectFilter(versions=["all"]), limit=7)
    assert len(every) == len({(s.id, s.version) for s in every}) == 25
    firsts = await _all(objects, ObjectFilter(versions=["first"]), limit=3)
    assert [s.id for s in firsts] == [o["id"] for o in made]
    # added_after: strictly later than a version's date_added
    mark = every[9].date_added
    after = await _all(objects, ObjectFilter(versions=["all"], added_after=mark), limit=6)
    assert [(s.id, s.version) for s in after] == [(s.id, s.version) for s in every[10:]]
