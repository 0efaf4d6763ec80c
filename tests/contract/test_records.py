"""The case-records contract (:mod:`soc.store.records`), against SQLite and a real OpenSearch.

Every test gets a fresh store (see ``conftest.py``) and asserts behaviour only:
what a caller reads back, never how the store keeps it. The records are the
incidents an analyst would open on the OTRF LSASS campaign: a dump through
comsvcs.dll, remote access through WinRM, a generic hacking tool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from soc.errors import Conflict
from soc.store import Store
from soc.store.records import NO_TENANT, Kind, Record, RecordQuery
from soc.store.terms import words

A, B, C = "tenant-a", "tenant-b", "tenant-c"
T0 = 1_692_093_900_000_000
"""2023-08-15T10:05:00Z in microseconds."""
MINUTE = 60_000_000


def incident(
    rid: str,
    tenant: str = A,
    minute: int = 0,
    *,
    status: str = "open",
    unit: str = "soc-l1",
    assignee: tuple[str, ...] = (),
    watcher: tuple[str, ...] = (),
    title: str = "LSASS memory dump via comsvcs.dll on MKT01",
) -> Record:
    terms = {"status": [status], "unit": [unit]}
    if assignee:
        terms["assignee"] = list(assignee)
    if watcher:
        terms["watcher"] = list(watcher)
    return Record(
        kind=Kind.incident,
        id=rid,
        tenant=tenant,
        sort=T0 + minute * MINUTE,
        terms=terms,
        words=words(title),
        doc={
            "title": title,
            "status": status,
            "alerts": [f"{rid}-alert-{i}" for i in range(3)],
            "severity": {"level": "high", "rank": 4},
            "score": 0.1 + 0.2,
            "closed": None,
            "note": "Zugriff auf lsass.exe über WinRM — geprüft ✓",
        },
    )


CASES = [
    incident("inc-01", A, 0, assignee=("alice",)),
    incident(
        "inc-02", A, 0, status="triage", unit="soc-l2", assignee=("bob",), watcher=("alice",),
        title="Remote LSASS access through Windows Remote Management",
    ),
    incident(
        "inc-03", A, 5, status="closed", watcher=("bob",),
        title="Potentially suspicious GrantedAccess flags on LSASS",
    ),
    incident(
        "inc-04", B, 5, unit="soc-l2", assignee=("alice", "carol"),
        title="HackTool generic process access on DC01",
    ),
    incident(
        "inc-05", B, 9, assignee=("carol",), watcher=("alice", "bob"),
        title="Mimikatz sekurlsa::logonpasswords on MKT01",
    ),
    incident("inc-06", C, 9, status="triage", title="LSASS dump by procdump on WKS07"),
    incident("inc-07", A, 12, status="closed", unit="soc-l2", title="Comsvcs MiniDump on MKT01"),
    incident("inc-08", C, 12, assignee=("dave",), title="Remote WinRM session to DC01"),
]  # fmt: skip


def has(name: str, *values: str) -> Callable[[Record], bool]:
    return lambda r: any(v in r.terms.get(name, []) for v in values)


FINDS: dict[str, tuple[dict[str, Any], Callable[[Record], bool]]] = {
    "everything": ({}, lambda r: True),
    "tenant subset": ({"tenants": [B, "tenant-x"]}, lambda r: r.tenant == B),
    "tenants several": ({"tenants": [A, C]}, lambda r: r.tenant in (A, C)),
    "no tenants": ({"tenants": []}, lambda r: False),
    "term values are alternatives": (
        {"terms": {"status": ["open", "triage"]}},
        has("status", "open", "triage"),
    ),
    "term names are all required": (
        {"terms": {"status": ["open"], "unit": ["soc-l2"]}},
        lambda r: has("status", "open")(r) and has("unit", "soc-l2")(r),
    ),
    "a term of several values": ({"terms": {"assignee": ["carol"]}}, has("assignee", "carol")),
    "terms are exact": ({"terms": {"status": ["Open", "ope"]}}, lambda r: False),
    "a term name without values": ({"terms": {"status": []}}, lambda r: False),
    "an unknown term name": ({"terms": {"owner": ["alice"]}}, lambda r: False),
    "any term names are alternatives": (
        {"any_terms": {"assignee": ["alice"], "watcher": ["alice"]}},
        lambda r: has("assignee", "alice")(r) or has("watcher", "alice")(r),
    ),
    "any terms and terms": (
        {"terms": {"status": ["open"]}, "any_terms": {"assignee": ["bob"], "watcher": ["bob"]}},
        lambda r: has("status", "open")(r)
        and (has("assignee", "bob")(r) or has("watcher", "bob")(r)),
    ),
    "any terms skip a name without values": (
        {"any_terms": {"assignee": [], "watcher": ["bob"]}},
        has("watcher", "bob"),
    ),
    "any terms without any value": (
        {"any_terms": {"assignee": [], "watcher": []}},
        lambda r: False,
    ),
    "one word": ({"words": ["lsass"]}, lambda r: "lsass" in r.words),
    "every word is required": (
        {"words": ["remote", "dc01"]},
        lambda r: "remote" in r.words and "dc01" in r.words,
    ),
    "an unknown word": ({"words": ["kerberoast"]}, lambda r: False),
    "sort from is inclusive, to exclusive": (
        {"sort_from": T0 + 5 * MINUTE, "sort_to": T0 + 12 * MINUTE},
        lambda r: T0 + 5 * MINUTE <= r.sort < T0 + 12 * MINUTE,
    ),
    "sort from only": ({"sort_from": T0 + 9 * MINUTE}, lambda r: r.sort >= T0 + 9 * MINUTE),
    "sort to only": ({"sort_to": T0 + 5 * MINUTE}, lambda r: r.sort < T0 + 5 * MINUTE),
    "an empty sort range": ({"sort_from": T0 + MINUTE, "sort_to": T0 + MINUTE}, lambda r: False),
    "combined": (
        {"tenants": [A, B], "terms": {"status": ["open"]}, "words": ["mkt01"],
         "sort_to": T0 + 10 * MINUTE},
        lambda r: r.tenant in (A, B) and has("status", "open")(r) and "mkt01" in r.words
        and r.sort < T0 + 10 * MINUTE,
    ),
}  # fmt: skip


async def put_all(store: Store, records: list[Record]) -> list[Record]:
    return [await store.put_record(r, expect=0) for r in records]


def ordered(records: list[Record], order: str = "desc") -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (r.sort, r.id), reverse=order == "desc")]


async def find_ids(store: Store, **query: Any) -> list[str]:
    page = await store.find_records(
        RecordQuery(kind=query.pop("kind", Kind.incident), tenants=query.pop("tenants", None),
                    limit=query.pop("limit", 100), **query)
    )  # fmt: skip
    assert page.next is None
    return [r.id for r in page.items]


async def test_put_then_get_returns_the_record_as_put(store: Store) -> None:
    record = CASES[1]
    stored = await store.put_record(record, expect=0)
    assert stored == record.model_copy(update={"version": 1})
    assert await store.get_record(Kind.incident, record.id) == stored
    assert await store.get_record(Kind.incident, "inc-99") is None
    assert await store.get_record(Kind.comment, record.id) is None


async def test_every_write_increments_the_version(store: Store) -> None:
    first = CASES[0]
    assert (await store.put_record(first, expect=0)).version == 1
    triaged = first.model_copy(update={"terms": {"status": ["triage"]}, "doc": {"title": "x"}})
    second = await store.put_record(triaged, expect=1)
    assert second == triaged.model_copy(update={"version": 2})
    closed = second.model_copy(update={"terms": {"status": ["closed"]}, "words": []})
    assert (await store.put_record(closed, expect=2)).version == 3
    assert await store.get_record(Kind.incident, first.id) == closed.model_copy(
        update={"version": 3}
    )
    assert await find_ids(store, terms={"status": ["triage"]}) == []
    assert await find_ids(store, terms={"status": ["closed"]}) == [first.id]
    assert await find_ids(store, words=["lsass"]) == []


@pytest.mark.parametrize(("expect", "found"), [(0, 2), (1, 2), (3, 2)])
async def test_a_stale_write_conflicts_and_keeps_the_stored_record(
    store: Store, expect: int, found: int
) -> None:
    record = CASES[0]
    await store.put_record(record, expect=0)
    stored = await store.put_record(record.model_copy(update={"sort": T0 + 1}), expect=1)
    with pytest.raises(Conflict) as raised:
        await store.put_record(record.model_copy(update={"tenant": B, "sort": 0}), expect=expect)
    assert (raised.value.expected, raised.value.found) == (expect, found)
    assert await store.get_record(Kind.incident, record.id) == stored
    assert await find_ids(store, tenants=[B]) == []
    assert await find_ids(store) == [record.id]


async def test_a_write_expecting_a_version_of_a_missing_record_conflicts(store: Store) -> None:
    with pytest.raises(Conflict) as raised:
        await store.put_record(CASES[0], expect=1)
    assert (raised.value.expected, raised.value.found) == (1, 0)
    assert await store.get_record(Kind.incident, CASES[0].id) is None
    assert await find_ids(store) == []


@pytest.mark.parametrize("expect", [0, 1, 2])
async def test_of_concurrent_writers_of_one_version_exactly_one_wins(
    store: Store, expect: int
) -> None:
    base = CASES[0]
    for version in range(expect):
        await store.put_record(base, expect=version)
    writers = [
        base.model_copy(update={"terms": {"status": ["triage"], "assignee": [who]}})
        for who in ("alice", "bob", "carol", "dave", "erin")
    ]
    results = await asyncio.gather(
        *(store.put_record(w, expect=expect) for w in writers), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, Record)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == len(writers) - 1, results
    assert won[0].version == expect + 1
    assert all(c.expected == expect and c.found == expect + 1 for c in lost)
    assert await store.get_record(Kind.incident, base.id) == won[0]
    assert await find_ids(store, terms={"assignee": won[0].terms["assignee"]}) == [base.id]


async def test_records_of_each_kind_are_apart(store: Store) -> None:
    comment = Record(
        kind=Kind.comment, id=CASES[0].id, tenant=A, sort=T0, doc={"text": "dumped with comsvcs"}
    )
    await store.put_record(CASES[0], expect=0)
    await store.put_record(comment, expect=0)
    assert await find_ids(store, kind=Kind.comment) == [comment.id]
    assert await store.delete_record(Kind.comment, comment.id)
    assert await store.get_record(Kind.incident, CASES[0].id) is not None
    assert await find_ids(store, kind=Kind.comment) == []
    assert await find_ids(store, kind=Kind.user) == []


@pytest.mark.parametrize("case", FINDS, ids=str)
async def test_each_filter_finds_exactly_the_matching_records(store: Store, case: str) -> None:
    query, matches = FINDS[case]
    await put_all(store, CASES[::-1])
    expected = ordered([r for r in CASES if matches(r)])
    assert await find_ids(store, **query) == expected
    assert await find_ids(store, **query, order="asc") == expected[::-1]


async def test_records_of_no_tenant_are_found_by_the_empty_tenant(store: Store) -> None:
    user = Record(kind=Kind.user, id="alice", tenant=NO_TENANT, sort=T0, doc={"name": "Alice"})
    scoped = Record(kind=Kind.user, id="bob", tenant=A, sort=T0, doc={"name": "Bob"})
    await put_all(store, [user, scoped])
    assert await find_ids(store, kind=Kind.user, tenants=[NO_TENANT]) == ["alice"]
    assert await find_ids(store, kind=Kind.user, tenants=[A]) == ["bob"]
    assert await find_ids(store, kind=Kind.user) == ["bob", "alice"]


async def test_values_match_exactly_however_they_are_spelled(store: Store) -> None:
    long_value = "powershell -enc " + "SQBFAFgA" * 200
    odd = [
        incident("x-1").model_copy(update={"terms": {"x": ["a=b"]}}),
        incident("x-2").model_copy(update={"terms": {"x=a": ["b"]}}),
        incident("x-3").model_copy(update={"terms": {"cmd": [long_value]}, "words": ["w" * 900]}),
        incident("x-4").model_copy(update={"terms": {"cmd": [long_value + "A"]}, "words": ["w"]}),
        incident("x-5").model_copy(update={"terms": {"q": ['"quoted" \\ [x]', "ünï"]}}),
    ]
    await put_all(store, odd)
    assert await find_ids(store, terms={"x": ["a=b"]}) == ["x-1"]
    assert await find_ids(store, terms={"x=a": ["b"]}) == ["x-2"]
    assert await find_ids(store, terms={"x": ["a"]}) == []
    assert await find_ids(store, terms={"cmd": [long_value]}) == ["x-3"]
    assert await find_ids(store, words=["w" * 900]) == ["x-3"]
    assert await find_ids(store, words=["w"]) == ["x-4"]
    assert await find_ids(store, any_terms={"q": ["ünï"]}) == ["x-5"]
    assert await find_ids(store, terms={"q": ['"quoted" \\ [x]']}) == ["x-5"]


@pytest.mark.parametrize(
    "rid", ["#1", "a/b?c=d&e#f", "ü" * 400, "x" * 512, "inc 01", "_doc", ".", ".."]
)
async def test_any_valid_id_round_trips(store: Store, rid: str) -> None:
    record = incident(rid)
    stored = await store.put_record(record, expect=0)
    assert await store.get_record(Kind.incident, rid) == stored
    assert await store.put_record(record, expect=1) == record.model_copy(update={"version": 2})
    with pytest.raises(Conflict):
        await store.put_record(record, expect=0)
    assert await find_ids(store) == [rid]
    assert await store.delete_record(Kind.incident, rid)
    assert await store.get_record(Kind.incident, rid) is None


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_ties_in_sort_are_broken_by_id_in_the_same_direction(
    store: Store, order: str
) -> None:
    tied = [incident(f"inc-{i:02d}", minute=i // 3) for i in (7, 1, 4, 0, 8, 3, 5, 2, 6)]
    await put_all(store, tied)
    assert await find_ids(store, order=order) == ordered(tied, order)


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_keyset_pages_walk_every_record_once_in_order(store: Store, order: str) -> None:
    records = [incident(f"inc-{i:02d}", minute=i // 4) for i in range(23)]
    others = [incident(f"b-{i:02d}", B, minute=i // 4) for i in range(0, 23, 5)]
    await asyncio.gather(*(store.put_record(r, expect=0) for r in records[::-1] + others))
    seen: list[str] = []
    after: tuple[int, str] | None = None
    pages = 0
    while True:
        page = await store.find_records(
            RecordQuery(kind=Kind.incident, tenants=[A], order=order, limit=5, after=after)
        )
        pages += 1
        seen += [r.id for r in page.items]
        if page.next is None:
            break
        assert len(page.items) == 5
        assert page.next == (page.items[-1].sort, page.items[-1].id)
        after = page.next
    assert pages == 5
    assert seen == ordered(records, order)


async def test_a_page_holding_the_rest_has_no_next(store: Store) -> None:
    await put_all(store, CASES)
    page = await store.find_records(RecordQuery(kind=Kind.incident, tenants=None, limit=8))
    assert len(page.items) == 8 and page.next is None
    page = await store.find_records(RecordQuery(kind=Kind.incident, tenants=None, limit=7))
    assert len(page.items) == 7 and page.next == (page.items[-1].sort, page.items[-1].id)
    page = await store.find_records(RecordQuery(kind=Kind.incident, tenants=None, limit=10_000))
    assert [r.id for r in page.items] == ordered(CASES) and page.next is None


async def test_after_starts_below_a_position_that_is_not_stored(store: Store) -> None:
    await put_all(store, CASES)
    position = (T0 + 5 * MINUTE, "inc-035")
    expected = [r for r in CASES if (r.sort, r.id) < position]
    assert await find_ids(store, after=position) == ordered(expected)
    later = [r for r in CASES if (r.sort, r.id) > position]
    assert await find_ids(store, after=position, order="asc") == ordered(later, "asc")


async def test_delete_removes_the_record(store: Store) -> None:
    await put_all(store, CASES[:3])
    assert await store.delete_record(Kind.incident, "inc-02") is True
    assert await store.delete_record(Kind.incident, "inc-02") is False
    assert await store.get_record(Kind.incident, "inc-02") is None
    assert await find_ids(store) == ordered([CASES[0], CASES[2]])
    assert await find_ids(store, terms={"assignee": ["bob"]}) == []
    with pytest.raises(Conflict):
        await store.put_record(CASES[1], expect=1)
    assert (await store.put_record(CASES[1], expect=0)).version == 1
    assert await find_ids(store, terms={"assignee": ["bob"]}) == ["inc-02"]


async def test_delete_records_removes_those_given_in_one_write(store: Store) -> None:
    await put_all(store, CASES[:4])
    assert await store.delete_records(Kind.incident, ["inc-01", "inc-03", "no-such"]) == 2
    assert await store.delete_records(Kind.incident, ["inc-01"]) == 0
    assert await store.delete_records(Kind.incident, []) == 0
    assert await find_ids(store) == ordered([CASES[1], CASES[3]])
    assert await find_ids(store, terms={"watcher": ["bob"]}) == []  # its terms went with it
    assert (await store.put_record(CASES[0], expect=0)).version == 1


async def test_reads_before_any_write_find_nothing(store: Store) -> None:
    assert await store.get_record(Kind.audit, "1") is None
    assert await store.delete_record(Kind.audit, "1") is False
    page = await store.find_records(RecordQuery(kind=Kind.audit, tenants=None))
    assert page.items == [] and page.next is None


async def test_two_audit_trails_on_one_store_keep_one_unbroken_chain(store: Store) -> None:
    """As two processes appending: each trail remembers its own last entry, and a create
    on a head the other moved past conflicts, so the chain stays dense and verifies."""
    from soc.audit.trail import AuditTrail

    first, second = AuditTrail(store), AuditTrail(store)
    for i in range(3):  # interleaved: each trail's remembered head is stale every time
        await first.append(actor="analyst:an", tenant=A, action="incident.triage", target=f"i{i}")
        await second.append(actor="lead:le", tenant=A, action="incident.close", target=f"i{i}")
    await asyncio.gather(
        *(
            trail.append(actor="system:grouping", tenant=B, action="incident.open", target=f"j{i}")
            for i in range(5)
            for trail in (first, second)
        )
    )
    report = await first.verify()
    assert report.ok, report
    entries = [e async for e in second.each()]
    assert [e.seq for e in entries] == list(range(1, 17))
    assert {e.target for e in entries} == {f"i{i}" for i in range(3)} | {f"j{i}" for i in range(5)}


async def test_a_batch_of_writes_is_each_write_as_put_record_would_do_it(store: Store) -> None:
    first, second, third = CASES[0], CASES[1], CASES[2]
    await store.put_record(first, expect=0)
    await store.put_record(second, expect=0)
    await store.put_record(second, expect=1)  # second is at version 2
    triaged = first.model_copy(update={"terms": {"status": ["merged"]}, "doc": {"t": 1}})
    results = await store.put_records(
        [
            (triaged, 1),  # right version: written
            (second.model_copy(update={"tenant": B}), 1),  # stale: conflicts
            (third, 0),  # new: written
            (CASES[3], 2),  # missing, expected stored: conflicts
            (CASES[0].model_copy(update={"sort": 0}), 0),  # stored already: conflicts
        ]
    )
    assert results[0] == triaged.model_copy(update={"version": 2})
    assert results[2] == third.model_copy(update={"version": 1})
    conflicts = [(r.expected, r.found) for r in results if isinstance(r, Conflict)]
    assert conflicts == [(1, 2), (2, 0), (0, 2)]
    assert [isinstance(r, Conflict) for r in results] == [False, True, False, True, True]
    # visible at once, and the conflicting writes changed nothing
    assert await store.get_record(Kind.incident, first.id) == results[0]
    assert (await store.get_record(Kind.incident, second.id)).version == 2  # type: ignore[union-attr]
    assert await store.get_record(Kind.incident, CASES[3].id) is None
    assert await find_ids(store, terms={"status": ["merged"]}) == [first.id]
    assert await find_ids(store, tenants=[B]) == []
    assert await store.put_records([]) == []


async def test_a_record_named_twice_in_a_batch_is_written_in_order(store: Store) -> None:
    base = CASES[0]
    later = base.model_copy(update={"terms": {"status": ["closed"]}})
    results = await store.put_records([(base, 0), (later, 1), (base, 1), (base, 0)])
    assert [r.version if isinstance(r, Record) else (r.expected, r.found) for r in results] == [
        1,
        2,
        (1, 2),
        (0, 2),
    ]
    assert await store.get_record(Kind.incident, base.id) == later.model_copy(update={"version": 2})
    assert await find_ids(store, terms={"status": ["closed"]}) == [base.id]


async def test_get_records_reads_those_stored_by_id(store: Store) -> None:
    stored = await put_all(store, CASES[:3])
    found = await store.get_records(Kind.incident, [CASES[2].id, "no-such", CASES[0].id])
    assert found == {CASES[0].id: stored[0], CASES[2].id: stored[2]}
    assert await store.get_records(Kind.comment, [CASES[0].id]) == {}
    assert await store.get_records(Kind.incident, []) == {}


async def test_batches_longer_than_one_request_are_whole(store: Store) -> None:
    many = [incident(f"bulk-{n:04d}", minute=n % 7) for n in range(2_100)]
    results = await store.put_records([(r, 0) for r in many])
    assert all(isinstance(r, Record) and r.version == 1 for r in results)
    found = await store.get_records(Kind.incident, [r.id for r in many])
    assert len(found) == len(many)
    again = await store.put_records([(r, 1 if n % 2 else 0) for n, r in enumerate(many)])
    assert [isinstance(r, Conflict) for r in again] == [n % 2 == 0 for n in range(len(many))]
    assert sum(1 for r in (await store.get_records(Kind.incident, [m.id for m in many])).values()
               if r.version == 2) == len(many) // 2  # fmt: skip
    page = await store.find_records(RecordQuery(kind=Kind.incident, tenants=None, limit=10_000))
    assert len(page.items) == len(many)


async def test_of_concurrent_batches_writing_one_version_exactly_one_wins_each_record(
    store: Store,
) -> None:
    records = CASES[:4]
    await put_all(store, records)
    batches = [
        [(r.model_copy(update={"terms": {"assignee": [who]}}), 1) for r in records]
        for who in ("alice", "bob", "carol")
    ]
    results = await asyncio.gather(*(store.put_records(b) for b in batches))
    for n, record in enumerate(records):
        won = [r[n] for r in results if isinstance(r[n], Record)]
        assert len(won) == 1, results
        assert await store.get_record(Kind.incident, record.id) == won[0]
        assert all(
            isinstance(r[n], Conflict) and r[n].found == 2 for r in results if r[n] not in won
        )  # type: ignore[union-attr]
