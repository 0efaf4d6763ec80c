"""A correlation alert (Alert.correlation set) round-trips through both stores."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.engine import Engine
from soc.detect.rules import load_rule_text
from soc.ingest.ndjson import as_event_in
from soc.ingest.normalize import normalize
from soc.models import AlertQuery, Event
from soc.settings import CorrelationSettings
from soc.store import Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "soc/sample/otrf_lsass_slice.ndjson.gz"
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
CORRELATION = """title: Windows events in numbers on one host
id: 6c0f3e8e-2b7a-4d7f-9d0e-3f7b1b8a9c11
level: critical
tags:
    - attack.t1003.001
correlation:
    type: event_count
    rules:
        - base
    group-by:
        - Hostname
    timespan: 1d
    condition:
        gte: 3
---
title: Any Sysmon event
id: 2b1a6b7e-0d7c-4c1c-9d5e-8f0e2d4b6a10
name: base
logsource:
    product: windows
detection:
    selection:
        Hostname|exists: true
    condition: selection
"""


def sample_events(n: int) -> list[Event]:
    out = []
    with gzip.open(SAMPLE, "rt") as f:
        for line in f:
            envelope = as_event_in(json.loads(line))
            out.append(
                normalize(
                    envelope.record,
                    tenant="tenant-a",
                    source="otrf",
                    received=RECEIVED,
                    host=envelope.host,
                    time=envelope.time,
                    logsource=envelope.logsource,
                )
            )
            if len(out) == n:
                break
    return out


async def test_a_correlation_alert_round_trips_through_the_store(store: Store) -> None:
    ruleset = load_rule_text(CORRELATION, name="mr_contract.yml")
    assert ruleset.errors == ()
    engine = Engine.from_ruleset(ruleset)
    catalog = Correlations(ruleset.correlations)
    evaluator = Evaluator(catalog, CorrelationSettings(), now=lambda: RECEIVED)
    events = sample_events(40)
    alerts = []
    for event in events:
        alerts += evaluator.feed(
            catalog.matches_of_rules([r.id for r in engine.match(event)], event)
        )
    alerts += evaluator.finish()
    assert alerts and all(a.correlation is not None for a in alerts)
    await store.put_events(events)
    await store.put_alerts(alerts)
    await store.put_alerts(alerts)  # a replay: same ids, nothing new
    got = await store.get_alerts([a.id for a in alerts], tenants=["tenant-a"])
    assert sorted(got, key=lambda a: a.id) == sorted(alerts, key=lambda a: a.id)
    first = await store.get_alert(alerts[0].id, tenants=["tenant-a"])
    assert first == alerts[0]
    assert first is not None and first.correlation is not None
    assert first.correlation.event_ids and set(first.correlation.event_ids) <= {
        e.id for e in events
    }
    page = await store.search_alerts(
        AlertQuery(
            tenants=["tenant-a"], rule_id=["6c0f3e8e-2b7a-4d7f-9d0e-3f7b1b8a9c11"], limit=500
        )
    )
    assert sorted(a.id for a in page.items) == sorted(a.id for a in alerts)
