"""Issue 15's acceptance, end to end on both pairs: indicators polled from a real TAXII 2.1
server (medallion) match recorded events in the stream and raise alerts; a revocation
published on the feed stops the matching; an indicator outside its validity never matches.

The feed holds STIX 2.1 indicators: the attacker's address of the recorded auth.log's SSH
brute force (TLP:GREEN), the SHA-256 of the ``whoami.exe`` of the recorded LSASS campaign,
one expired and one not valid yet (other addresses of the same log). The service's own
stages run: the feed poller (soc.stages.intel_poll), the detector with its live matcher,
the matcher's reloader and the grouping stage.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import stix2
from taxii2client.v21 import Collection as TaxiiCollection

from soc.detect.load import load_engine
from soc.incidents.cases import Cases
from soc.intel.alerts import RULE_ID
from soc.intel.live import LiveIndicators
from soc.intel.store import Indicators
from soc.models import Alert, AlertQuery, utcnow
from soc.settings import FeedSettings, IntelSettings, Settings
from soc.stages.detect import Detector
from soc.stages.group import Grouper
from soc.stages.indicators import IndicatorReloader
from soc.stages.intel_poll import IntelPoll
from tests.correlating import ATTACKER
from tests.e2e.test_indicator_match import backends, eventually, send
from tests.intel_data import recorded
from tests.taxii.medallion import Collection, Medallion, medallion

FEED = "national"
ALIAS = "national-iocs"


def _stix(pattern: str, name: str, **extra: Any) -> stix2.Indicator:
    return stix2.Indicator(
        name=name,
        pattern=pattern,
        pattern_type="stix",
        confidence=85,
        object_marking_refs=[stix2.TLP_GREEN],
        **extra,
    )


def _plain(obj: stix2.Indicator) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(obj.serialize())
    return out


def _publish(server: Medallion, objects: list[stix2.Indicator]) -> None:
    collection = TaxiiCollection(
        server.collection_url(ALIAS), user=server.user, password=server.password
    )
    status = collection.add_objects(json.dumps({"objects": [_plain(o) for o in objects]}))
    assert status.success_count == len(objects), status


async def test_indicators_polled_from_taxii_match_in_the_stream(
    settings: Settings, shared_dir: Path
) -> None:
    r = recorded(shared_dir)
    auth, attacks, others, windows = r.auth, r.attacks, r.others, r.windows
    sha256, with_hash = r.sha256, r.with_hash
    first, rest = attacks[: len(attacks) // 2], attacks[len(attacks) // 2 :]

    now = utcnow()
    attacker = _stix(
        f"[ipv4-addr:value = '{ATTACKER}']", "SSH brute force", valid_from=now - timedelta(days=2)
    )
    tool = _stix(
        f"[file:hashes.'SHA-256' = '{sha256}']", "whoami.exe", valid_from=now - timedelta(days=2)
    )
    expired = _stix(
        f"[ipv4-addr:value = '{others[0]}']",
        "expired",
        valid_from=now - timedelta(days=9),
        valid_until=now - timedelta(days=1),
    )
    not_yet = _stix(
        f"[ipv4-addr:value = '{others[1]}']", "not yet", valid_from=now + timedelta(days=1)
    )

    feed = [attacker, tool, expired, not_yet]
    with medallion([Collection(ALIAS, "National IoCs", objects=[_plain(o) for o in feed])]) as m:
        intel_settings = IntelSettings(
            feeds=[
                FeedSettings(
                    name=FEED,
                    collection_url=m.collection_url(ALIAS),
                    user=m.user,
                    password=m.password,
                    interval_s=0.5,
                )
            ]
        )
        async with backends(settings) as (bus, store):
            intel = Indicators(store)
            live = LiveIndicators(
                intel, settings.detect.indicators.model_copy(update={"poll_s": 0.2})
            )
            await live.load()
            stages = (
                IntelPoll(records=store, indicators=intel, settings=intel_settings),
                Detector(
                    engine=load_engine(settings.detect),
                    indicators=live,
                    bus=bus,
                    store=store,
                    settings=settings.detect,
                ),
                IndicatorReloader(live),
                Grouper(bus=bus, store=store, cases=Cases(store), settings=settings.incidents),
            )
            tasks = [asyncio.create_task(s.run()) for s in stages]
            try:
                # polled, stored and built into the detector's matcher
                async def polled() -> bool:
                    stored = [i async for i in intel.all()]
                    return len(stored) == 4 and live.current.live_count == 2

                await eventually(polled)

                await send(
                    bus,
                    [*first, *windows, *[e for e in auth if e.fields.get("src_ip") != ATTACKER]],
                )

                by_event: dict[str, Alert] = {}

                async def grouped() -> bool:
                    found = await store.search_alerts(
                        AlertQuery(tenants=None, rule_id=[RULE_ID], limit=500)
                    )
                    by_event.clear()
                    by_event.update({a.event_id: a for a in found.items})
                    return all(
                        e.id in by_event and by_event[e.id].incident_id
                        for e in [*first, *with_hash]
                    )

                await eventually(grouped)
                one = by_event[first[0].id]
                assert one.indicator is not None
                assert (one.indicator.value, one.indicator.source) == (ATTACKER, FEED)
                assert one.indicator.tlp == "green" and one.indicator.stix_id == attacker.id
                hashed = by_event[with_hash[0].id]
                assert hashed.indicator is not None and hashed.indicator.value == sha256
                # outside their validity: no event of theirs matched
                assert {a.indicator.value for a in by_event.values() if a.indicator} == {
                    ATTACKER,
                    sha256,
                }

                # the feed revokes the attacker's indicator (a new version, revoked)
                _publish(m, [attacker.new_version(revoked=True)])

                async def revoked() -> bool:
                    return live.current.live_count == 1

                await eventually(revoked)
                await send(bus, rest)
                await asyncio.sleep(1)
                found = await store.search_alerts(
                    AlertQuery(tenants=None, rule_id=[RULE_ID], limit=500)
                )
                late = {a.event_id for a in found.items} & {e.id for e in rest}
                assert late == set()
            finally:
                for s in stages:
                    s.stop()
                await asyncio.gather(*tasks)
