"""What a tenant's policy lets out is published in its collection of the SOC's own TAXII
2.1 server, read with taxii2-client from the real API on loopback, on each store: with no
push target at all, a handed-off incident's objects appear in the tenant's collection,
marked with its TLP and without personal data, once; the incident lists the share as
"the SOC's TAXII collection"; a TLP:RED incident never appears; a tenant whose policy does
not publish has an empty collection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from taxii2client.v21 import Collection as TaxiiCollection

from soc.evidence.stix import TLP2_IDS
from soc.incidents.lifecycle import HandOffTo, Triage
from soc.settings import LOCAL_TARGET
from soc.sharing.models import ShareState
from tests.api._backends import backend_values
from tests.taxii._soc import A, B, Soc, key, soc_server
from tests.taxii.test_share import (
    ACCOUNT,
    ANALYST,
    ATTACKER_IP,
    LEAD,
    OWN_PUBLIC_IP,
    PRIVATE_IP,
    TENANT,
    UNIT,
    hand_off,
    open_incident,
)

assert TENANT == A


@pytest.fixture(params=["sqlite", "opensearch"])
async def soc(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Soc]:
    async with backend_values(request, tmp_path, unique_name) as values:
        values["sharing"] = {
            "tenants": {
                A: {"when": "handoff", "internal_networks": ["113.160.10.0/24"]},
                B: {"when": "handoff", "publish": False},
            },
            "watch_s": 0.2,
            "send_s": 0.2,
        }
        async with soc_server(values) as server:
            yield server


def _objects(soc: Soc, tenant: str, name: str) -> list[dict[str, Any]]:
    collection = TaxiiCollection(soc.collection_url(tenant), user=name, password=key(name))
    objects: list[dict[str, Any]] = collection.get_objects().get("objects", [])
    return objects


async def _until_shared(soc: Soc, incident: str, tenant: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await soc.service.cases.incidents.get(incident, tenants=[tenant])
        assert found is not None
        views = await soc.service.sharing.shares(found)
        done = [v for v in views if v.job.state is ShareState.shared]
        if done:
            return done
        await asyncio.sleep(0.2)
    raise AssertionError("not shared in 60 s")


async def test_a_handed_off_incident_is_published_in_the_tenants_collection(soc: Soc) -> None:
    service = soc.service
    incident = await open_incident(service.cases)
    incident = await service.desk.set_tlp(ANALYST, incident.id, "green", version=incident.version)
    await hand_off(service.desk, incident)
    [view] = await _until_shared(soc, incident.id, A)
    assert view.job.target == LOCAL_TARGET and view.target_name == "the SOC's TAXII collection"
    assert view.target_name_vi == "Kho TAXII của SOC"

    held = await asyncio.to_thread(_objects, soc, A, "taxii-ioc")
    [inc] = [o for o in held if o["type"] == "incident"]
    assert inc["object_marking_refs"] == [TLP2_IDS["green"]]
    text = str(held)
    for secret in (ACCOUNT.split("\\")[1], PRIVATE_IP, OWN_PUBLIC_IP, "srv-web-01"):
        assert secret not in text, secret
    assert [o["value"] for o in held if o["type"] == "ipv4-addr"] == [ATTACKER_IP]
    assert len({o["id"] for o in held}) == len(held), "each object once"
    assert view.job.sent == len(held) == view.job.objects

    # RED never leaves, also not to the SOC's own server
    red = await open_incident(service.cases)
    red = await service.desk.set_tlp(ANALYST, red.id, "red", version=red.version)
    await hand_off(service.desk, red)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = await service.shares.of_incident(red.id, tenants=[A])
        if jobs and jobs[0].state is ShareState.withheld:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the RED incident's share was not withheld")
    after = await asyncio.to_thread(_objects, soc, A, "taxii-ioc")
    assert {o["id"] for o in after} == {o["id"] for o in held}


async def test_a_policy_that_does_not_publish_leaves_the_collection_empty(soc: Soc) -> None:
    service = soc.service
    ours = await open_incident(service.cases)
    theirs = ours.model_copy(update={"id": f"{ours.id}-b", "tenant": B, "version": 0})
    theirs = await service.cases.incidents.put(theirs)
    lead_b = LEAD.__class__(name="lead.b", role="lead", tenants=(B,))
    triaged = await service.desk.act(lead_b, theirs.id, Triage(), version=theirs.version)
    await service.desk.act(lead_b, theirs.id, HandOffTo(to_unit=UNIT), version=triaged.version)
    # A's hand-off after B's: once A's is shared, the watch has read past B's entry
    await hand_off(service.desk, ours)
    await _until_shared(soc, ours.id, A)
    assert await service.shares.of_incident(theirs.id, tenants=[B]) == []
    assert await asyncio.to_thread(_objects, soc, B, "taxii-dof") == []
