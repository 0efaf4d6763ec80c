"""Taking indicators in at feed scale on each store: batched writes, one generation bump per
intake, revisions revoking the values they dropped, and the per-source counts following
every change (they are kept per generation)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from soc.intel.intake import counts_by_source, take_in
from soc.intel.models import Indicator, IndicatorType
from soc.intel.parse import Intake
from soc.intel.store import Indicators
from soc.store import Store
from tests.stores import BACKENDS, fresh_store

T0 = "2026-11-01T00:00:00.000Z"


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


def _indicator(n: int, pattern: str, modified: str = T0) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": T0,
        "modified": modified,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": T0,
    }


def _bundle(objects: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}).encode()


async def test_a_feed_of_thousands_is_stored_in_batches_and_counted(store: Store) -> None:
    indicators = Indicators(store)
    before = await indicators.generation()
    objects = [
        _indicator(n, f"[ipv4-addr:value = '10.{n // 250}.{n % 250}.1']") for n in range(2500)
    ]
    objects += [
        _indicator(
            9000,
            "[domain-name:value = 'c2.evil.example'] OR [url:value = 'http://c2.evil.example/x']",
        )
    ]
    intake = Intake(source="national-feed", tlp="green")
    report = await take_in(indicators, _bundle(objects), intake, format="stix")
    assert (report.indicators, report.stored) == (2502, 2502)
    assert await indicators.generation() == before + 1
    counts = await counts_by_source(indicators, ["tenant-a"])
    assert [(c.source, c.tenant, c.active, c.revoked) for c in counts] == [
        ("national-feed", "*", {"domain": 1, "ip": 2500, "url": 1}, 0)
    ]
    # the same again changes nothing and bumps nothing
    again = await take_in(indicators, _bundle(objects), intake, format="stix")
    assert again.stored == 0 and await indicators.generation() == before + 1

    # a revision of the two-value indicator names only the domain: the URL is revoked
    revised = _indicator(
        9000, "[domain-name:value = 'c2.evil.example']", "2026-11-02T00:00:00.000Z"
    )
    report = await take_in(indicators, _bundle([revised]), intake, format="stix")
    assert report.stored == 1  # the URL revoked (the domain is as it was)
    counts = await counts_by_source(indicators, None)
    assert [(c.active, c.revoked) for c in counts] == [({"domain": 1, "ip": 2500}, 1)]
    url_id = Indicator.make_id("national-feed", IndicatorType.url, "http://c2.evil.example/x")
    assert (await indicators.get(url_id)).revoked  # type: ignore[union-attr]


async def test_put_keeps_created_and_stores_only_what_changed(store: Store) -> None:
    indicators = Indicators(store)
    first = datetime(2026, 11, 1, tzinfo=UTC)
    later = datetime(2026, 11, 5, tzinfo=UTC)
    items = [
        Indicator(
            id=Indicator.make_id("isac", IndicatorType.domain, f"d{n}.example"),
            type=IndicatorType.domain,
            value=f"d{n}.example",
            source="isac",
            valid_from=first,
        )
        for n in range(1500)
    ]
    assert await indicators.put(items, now=first) == 1500
    changed = [i.model_copy(update={"confidence": 90}) for i in items[::3]]
    assert await indicators.put([*items[1::3], *changed], now=later) == len(changed)
    stored = await indicators.get(items[3].id)
    assert stored is not None and stored.confidence == 90
    assert (stored.created, stored.modified) == (first, later)
    untouched = await indicators.get(items[1].id)
    assert untouched is not None and untouched.modified == first
    tenant_counts = await counts_by_source(indicators, ["tenant-b"])
    assert [(c.source, c.active) for c in tenant_counts] == [("isac", {"domain": 1500})]
