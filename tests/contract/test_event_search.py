"""The event search contract, on the embedded SQLite store and on a real OpenSearch.

Every query form of soc/store/eventquery.py is run over the 2,430 recorded
OTRF events (tests/contract/_events.py) and must return exactly the events the
query's meaning accepts, evaluated directly over each event; a few figures are
also pinned from the recording itself (27 Security 4688 process creations).
Pages, ranges, tenants, the histogram, top values and the retro-hunt's scan
are checked the same way.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from soc.models import Event
from soc.store import Store, decode_cursor
from soc.store.eventquery import EventQuery, parse
from soc.store.terms import micros
from tests.contract._events import A, B, matches, recorded
from tests.stores import BACKENDS, fresh_store

EVENTS = recorded()
OF_A = [e for e in EVENTS if e.tenant == A]
FIRST = min(e.time for e in EVENTS)
LAST = max(e.time for e in EVENTS)


# One store per backend for the whole module: the tests only read (a write of events
# already stored adds nothing), so the recording is loaded once, not once per test.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    async for store in fresh_store(request, tmp_path_factory.mktemp("events"), prefix):
        for i in range(0, len(EVENTS), 500):
            await store.put_events(EVENTS[i : i + 500])
        yield store


async def every(store: Store, query: EventQuery) -> list[Event]:
    """Every page of ``query``, in order."""
    out: list[Event] = []
    cursor = None
    while True:
        page = await store.search_events(query.model_copy(update={"cursor": cursor}))
        out += page.items
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def newest_first(events: list[Event]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (micros(e.time), e.id), reverse=True)]


QUERIES = [
    "EventID:4688",
    "eventid:4688",
    "EventID:10 AND TargetImage:*lsass.exe",
    'Hostname:"MKT01.PANDALAB.COM"',
    "hostname:mkt01.pandalab.com",
    "Hostname:mkt0?.pandalab.com",
    "Channel:*sysmon*",
    'Channel:"Sysmon/Oper"',
    'Message:"unable to read the header"',
    '"unable to read the header"',
    "srujet",
    "sruj*",
    "svchost",
    "rundll32 svchost",
    "powershell OR rundll32",
    "lsass.exe",
    '"authority system"',
    "svch*",
    "Image:*\\\\svchost.exe",
    'Image:"\\\\windows\\\\system32"',
    "ProcessId:[1000 TO 2000]",
    "EventID:[4600 TO 4700]",
    "EventID:{4656 TO 4690}",
    "EventID:>=5000",
    "EventID:<13",
    "Level:[0 TO 2]",
    "SourceName:[a TO f]",
    "_exists_:CommandLine",
    "_exists_:commandline AND NOT Channel:Security",
    "-Channel:Security",
    "(EventID:4688 OR EventID:4689) AND Hostname:mkt01*",
    "EventID:(4688 OR 4689)",
    "EventID:10 AND NOT GrantedAccess:0x1400",
    "logsource.product:windows AND logsource.category:process_access",
    "host:mkt01*",
    "origin.stream:lsass",
    '"--"',
    'Message:"\'; DROP TABLE events; --"',
    'EventID:10 OR Hostname:"x\') OR 1=1 --"',
]


@pytest.mark.parametrize("text", QUERIES)
async def test_each_query_form_returns_exactly_the_events_it_means(
    loaded: Store, text: str
) -> None:
    node = parse(text)
    found = await every(loaded, EventQuery(tenants=[A], where=node, limit=500))
    expected = [e for e in OF_A if matches(node, e)]
    assert [e.id for e in found] == newest_first(expected), text


async def test_figures_of_the_recording(loaded: Store) -> None:
    """Anchors independent of the oracle: counted from the recording by hand."""

    async def count(text: str) -> int:
        return len(await every(loaded, EventQuery(tenants=[A], where=parse(text), limit=500)))

    assert await count("EventID:4688") == 27
    assert await count("EventID:4688 OR EventID:4689") == 27 + 25
    assert await count("Channel:Application AND EventID:412") == 81
    assert await count("NOT _exists_:EventID") == 0


async def test_without_a_query_every_event_of_the_range_newest_first_in_pages(
    loaded: Store,
) -> None:
    found = await every(loaded, EventQuery(tenants=[A], limit=97))
    assert [e.id for e in found] == newest_first(OF_A)
    assert found[0].model_dump() == next(e for e in OF_A if e.id == found[0].id).model_dump()
    mid = FIRST + (LAST - FIRST) / 2
    window = await every(loaded, EventQuery(tenants=[A], since=FIRST, until=mid, limit=500))
    assert [e.id for e in window] == newest_first([e for e in OF_A if FIRST <= e.time < mid])


async def test_a_page_cursor_names_the_last_item(loaded: Store) -> None:
    page = await loaded.search_events(EventQuery(tenants=[A], limit=10))
    assert len(page.items) == 10 and page.next_cursor is not None
    assert decode_cursor(page.next_cursor) == (page.items[-1].time, page.items[-1].id)
    last = await loaded.search_events(EventQuery(tenants=[A], where=parse("EventID:4688")))
    assert len(last.items) == 27 and last.next_cursor is None


async def test_tenants_see_only_their_own_events(loaded: Store) -> None:
    of_b = await every(loaded, EventQuery(tenants=[B], limit=500))
    assert {e.tenant for e in of_b} == {B}
    assert len(of_b) == len([e for e in EVENTS if e.tenant == B])
    both = await every(loaded, EventQuery(tenants=None, where=parse("EventID:4688"), limit=500))
    assert Counter(e.tenant for e in both) == Counter(
        e.tenant for e in EVENTS if matches(parse("EventID:4688"), e)
    )
    assert await every(loaded, EventQuery(tenants=[], limit=500)) == []


async def test_storing_again_adds_nothing(loaded: Store) -> None:
    await loaded.put_events(EVENTS[:1000])
    found = await every(loaded, EventQuery(tenants=[A], limit=500))
    assert len(found) == len(OF_A) == len({e.id for e in found})


async def test_histogram_counts_the_matching_events_per_bucket(loaded: Store) -> None:
    node = parse("Channel:*sysmon*")
    query = EventQuery(tenants=[A], where=node, since=FIRST, until=LAST + timedelta(seconds=1))
    buckets = await loaded.event_histogram(query, bucket_s=60)
    expected = Counter(e.time.replace(second=0, microsecond=0) for e in OF_A if matches(node, e))
    assert buckets == dict(expected)


async def test_stats_give_the_top_values_of_a_field(loaded: Store) -> None:
    node = parse("Channel:Security")
    stats = await loaded.event_stats(EventQuery(tenants=[A], where=node), field="EventID", size=3)
    counts = Counter(str(e.fields["EventID"]) for e in OF_A if matches(node, e))
    assert [(v.value, v.count) for v in stats.values] == counts.most_common(3)
    assert stats.events == sum(counts.values())
    assert stats.other == sum(counts.values()) - sum(n for _, n in counts.most_common(3))


async def test_scan_reads_every_matching_event_newest_first_in_bounded_batches(
    loaded: Store,
) -> None:
    batches = [b async for b in loaded.scan_events(EventQuery(tenants=[A]), batch=400)]
    assert all(0 < len(b) <= 400 for b in batches)
    assert [e.id for b in batches for e in b] == newest_first(OF_A)
    node = parse("EventID:10")
    only = [e async for b in loaded.scan_events(EventQuery(tenants=[A], where=node)) for e in b]
    assert [e.id for e in only] == newest_first([e for e in OF_A if matches(node, e)])
