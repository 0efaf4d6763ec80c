"""Polling a real TAXII 2.1 server (medallion, tests/taxii/medallion.py) for indicators,
on each store: the first poll stores the collection's indicators; the next reads only what
was added since, also after the stage is made again (a restart); a refused server is an
error on the feed's record and loses nothing; a collection of several pages is read whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import stix2
from taxii2client.v21 import Collection as TaxiiCollection

from soc.intel.feeds import Feeds
from soc.intel.models import IndicatorType
from soc.intel.store import Indicators
from soc.settings import FeedSettings, IntelSettings
from soc.stages.intel_poll import IntelPoll
from soc.store import Store
from tests.stores import BACKENDS, fresh_store
from tests.taxii.medallion import Collection, Medallion, medallion

ALIAS = "national-feed"


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


def _ip(n: int, **extra: Any) -> dict[str, Any]:
    indicator = stix2.Indicator(
        name=f"scanner {n}",
        pattern=f"[ipv4-addr:value = '198.18.{n // 250}.{n % 250 + 1}']",
        pattern_type="stix",
        valid_from="2026-11-01T00:00:00Z",
        object_marking_refs=[stix2.TLP_GREEN],
        **extra,
    )
    out: dict[str, Any] = json.loads(indicator.serialize())
    return out


def _add(server: Medallion, objects: list[dict[str, Any]]) -> None:
    collection = TaxiiCollection(
        server.collection_url(ALIAS), user=server.user, password=server.password
    )
    status = collection.add_objects(json.dumps({"objects": objects}))
    assert status.success_count == len(objects), status


def _stage(server: Medallion, store: Store, **feed: Any) -> IntelPoll:
    settings = IntelSettings(
        feeds=[
            FeedSettings(
                name="national",
                collection_url=server.collection_url(ALIAS),
                user=server.user,
                password=server.password,
                tenant="*",
                tlp="amber",
                page_size=100,
                **feed,
            )
        ]
    )
    return IntelPoll(records=store, indicators=Indicators(store), settings=settings)


async def _values(store: Store) -> set[str]:
    return {i.value async for i in Indicators(store).all()}


async def test_polls_store_new_objects_only_and_remember_across_restarts(store: Store) -> None:
    first = [_ip(n) for n in range(3)]
    with medallion([Collection(ALIAS, "National feed", objects=first)]) as server:
        stage = _stage(server, store)
        (poller,) = stage.pollers
        state = await poller.poll()
        assert state.last_error is None, state
        assert await _values(store) == {"198.18.0.1", "198.18.0.2", "198.18.0.3"}
        assert state.last_counts["objects"] == 3 and state.last_counts["stored"] == 3
        assert state.added_after is not None
        (stored,) = [i async for i in Indicators(store).all() if i.value == "198.18.0.1"]
        assert stored.source == "national" and stored.tlp == "green"
        assert stored.stix_id == first[0]["id"]

        _add(server, [_ip(10), _ip(11)])
        state = await poller.poll()
        assert state.last_error is None, state
        assert state.last_counts["objects"] == 2  # only what was added since
        assert len(await _values(store)) == 5

        # a restart: the stage made again reads where the last one stopped
        _add(server, [_ip(20)])
        again = _stage(server, store)
        await again.tick()
        state2 = await Feeds(store).get("national")
        assert state2 is not None and state2.last_counts["objects"] == 1
        assert state2.polls == 3 and state2.objects == 6 and state2.indicators == 6
        assert len(await _values(store)) == 6

        # a revocation arrives as a new version of the same STIX id
        revoked = json.loads(stix2.parse(first[0]).new_version(revoked=True).serialize())
        _add(server, [revoked])
        state = await poller.poll()
        assert state.last_counts["objects"] == 1
        gone = [i async for i in Indicators(store).all() if i.value == "198.18.0.1"]
        assert [i.revoked for i in gone] == [True]

        # a new version naming another value: the value it no longer names is revoked
        moved = stix2.parse(first[1]).new_version(pattern="[ipv4-addr:value = '198.18.9.9']")
        _add(server, [json.loads(moved.serialize())])
        state = await poller.poll()
        assert state.last_counts["objects"] == 1
        held = {i.value: i.revoked async for i in Indicators(store).all()}
        assert held["198.18.0.2"] is True and held["198.18.9.9"] is False
        assert held["198.18.0.3"] is False


async def test_a_refused_server_is_an_error_and_loses_nothing(store: Store) -> None:
    with medallion([Collection(ALIAS, "National feed", objects=[_ip(1)])]) as server:
        stage = _stage(server, store)
        (poller,) = stage.pollers
        ok = await poller.poll()
        assert ok.last_error is None
        server.stop()
        failed = await poller.poll()
        assert failed.last_error and "cannot connect" in failed.last_error
        assert failed.added_after == ok.added_after and failed.failures == 1
        assert await _values(store) == {"198.18.0.2"}
        stored = await Feeds(store).get("national")
        assert stored is not None and stored.last_error == failed.last_error
        await stage.tick()  # the stage itself goes on (the failure is on the record)

    # wrong password: the server refuses with 401, on the record too
    with medallion([Collection(ALIAS, "National feed", objects=[_ip(2)])]) as server:
        stage = _stage(server, store)
        stage.pollers[0].feed = stage.pollers[0].feed.model_copy(
            update={"password": None, "collection_url": server.collection_url(ALIAS)}
        )
        refused = await stage.pollers[0].poll()
        assert refused.last_error and "401" in refused.last_error
        assert await _values(store) == {"198.18.0.2"}


async def test_a_collection_of_several_pages_is_read_whole(store: Store) -> None:
    objects = [_ip(n) for n in range(260)]  # medallion sends at most 100 per page
    with medallion([Collection(ALIAS, "National feed", objects=objects)]) as server:
        (poller,) = _stage(server, store).pollers
        state = await poller.poll()
        assert state.last_error is None, state
        assert state.last_counts["objects"] == 260
        found = [i async for i in Indicators(store).all(types=[IndicatorType.ip])]
        assert len(found) == 260
