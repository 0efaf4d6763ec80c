"""A blind drill looks real to analysts until it ends: the marks taken out of what they read,
and out of the live feed, on SQLite and a real OpenSearch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from soc.api.feed import Feed, Listener
from soc.drills.book import DrillBook
from soc.drills.marks import DrillMarks, require_drill_query
from soc.drills.models import Drill, DrillState
from soc.incidents.cases import Cases
from soc.models import AlertPage, AlertRead, utcnow
from soc.security.principal import Principal
from soc.security.roles import Forbidden
from soc.store import Store
from tests.contract.test_drill_alerts import alerts_of, replayed, sample_records

LEAD = Principal(name="lee", role="lead", tenants=("*",))
ANALYST = Principal(name="ana", role="analyst", tenants=("hue-ioc",))


def drill(drill_id: str, *, blind: bool, state: DrillState) -> Drill:
    return Drill(
        id=drill_id,
        scenario="web-portal-attack",
        title="t",
        tenant="hue-ioc",
        blind=blind,
        speed=10,
        state=state,
        created_by="lee",
        created=datetime(2026, 12, 5, tzinfo=UTC),
    )


async def test_only_a_running_blind_drill_is_hidden_and_only_from_non_leads(store: Store) -> None:
    book = DrillBook(store)
    await book.create(drill("blind-1", blind=True, state=DrillState.running))
    await book.create(drill("open-1", blind=False, state=DrillState.running))
    await book.create(drill("blind-over", blind=True, state=DrillState.ended))
    records = sample_records(6)
    alerts = []
    for name in ("blind-1", "open-1", "blind-over"):
        events = replayed(records[:2], tenant="hue-ioc", drill=name)
        alerts += [
            AlertRead(**a.model_dump(), event=e)
            for a, e in zip(alerts_of(events), events, strict=True)
        ]
    page = AlertPage(items=list(alerts))
    marks = DrillMarks(store)

    assert await marks.scrub(LEAD, page) is page
    seen = await marks.scrub(ANALYST, page)
    by_drill = {a.id: a.drill for a in seen.items}
    for original, shown in zip(page.items, seen.items, strict=True):
        hidden = original.drill == "blind-1"
        assert shown.drill == (None if hidden else original.drill)
        assert shown.event is not None and shown.event.origin is not None
        assert shown.event.origin.drill == (None if hidden else original.drill)
    assert sorted(set(by_drill.values()), key=str) == sorted(
        {None, "open-1", "blind-over"}, key=str
    )
    assert page.items[0].drill == "blind-1", "the page given is not changed"

    await marks.check_filters(ANALYST, "open-1", "include")
    with pytest.raises(Forbidden):
        await marks.check_filters(ANALYST, "blind-1", None)
    with pytest.raises(Forbidden):
        await marks.check_filters(ANALYST, None, "only")
    await marks.check_filters(LEAD, "blind-1", "only")
    with pytest.raises(Forbidden):
        require_drill_query(ANALYST, 'origin.drill:"blind-1"')
    require_drill_query(ANALYST, "Image:*lsass*")
    require_drill_query(LEAD, "origin.drill:*")

    # the drill ends: its marking shows to everyone (after the marks forget it)
    await book.update("blind-1", lambda d: d.model_copy(update={"state": DrillState.ended}))
    marks.forget("blind-1")
    seen = await marks.scrub(ANALYST, page)
    assert [a.drill for a in seen.items] == [a.drill for a in page.items]


async def test_the_live_feed_hides_a_blind_drill_from_analysts_not_from_leads(
    store: Store,
) -> None:
    await DrillBook(store).create(drill("blind-2", blind=True, state=DrillState.running))
    events = replayed(sample_records(2), tenant="hue-ioc", drill="blind-2")
    now = utcnow()
    alerts = [a.model_copy(update={"time": now, "created": now}) for a in alerts_of(events)]
    feed = Feed(store, Cases(store), interval_s=3600, marks=DrillMarks(store))
    lead = Listener(tenants=None, alerts=True, unit=None, drills=True)
    analyst = Listener(tenants=["hue-ioc"], alerts=True, unit=None)
    feed._listeners = {lead, analyst}
    await feed._poll(announce=False)
    await store.put_alerts(alerts)
    await feed._poll(announce=True)
    got_lead = [lead.queue.get_nowait() for _ in range(lead.queue.qsize())]
    got_analyst = [analyst.queue.get_nowait() for _ in range(analyst.queue.qsize())]
    assert sorted(i["id"] for _, i in got_lead) == sorted(a.id for a in alerts)
    assert {i["drill"] for _, i in got_lead} == {"blind-2"}
    assert sorted(i["id"] for _, i in got_analyst) == sorted(a.id for a in alerts)
    assert {i["drill"] for _, i in got_analyst} == {None}
