"""taxii2-client reads every endpoint of the SOC's own TAXII 2.1 API (issue 15).

The real API is served on loopback on each store backend, with TAXII keys of two tenants;
the objects are added as the sharing job adds them (:meth:`StixObjects.add`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
import stix2
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from soc.api.taxii.resources import TAXII_MEDIA_TYPE, collection_id
from tests.stores import BACKENDS
from tests.taxii._soc import T0, A, B, Soc, as_dict, indicators, key, soc_on

ACCEPT = {"Accept": TAXII_MEDIA_TYPE}


@pytest.fixture(params=BACKENDS)
async def soc(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Soc]:
    async with soc_on(request, tmp_path, unique_name) as running:
        yield running


def _status(call: Any) -> int:
    with pytest.raises(requests.HTTPError) as refused:
        call()
    response = refused.value.response
    assert response.headers["Content-Type"] == TAXII_MEDIA_TYPE, response.headers
    body = response.json()
    assert body["http_status"] == str(response.status_code) and body["title"], body
    return int(response.status_code)


async def _shared(soc: Soc) -> dict[str, Any]:
    """A's collection: an indicator in two versions, a malware, an SCO; B's: one indicator."""
    first = stix2.Indicator(
        name="SSH brute force from a recorded source",
        pattern="[ipv4-addr:value = '203.0.113.7']",
        pattern_type="stix",
        valid_from=T0,
        created=T0,
        modified=T0,
    )
    second = first.new_version(name="SSH brute force (confirmed)", confidence=85)
    malware = stix2.Malware(name="Mimikatz", is_family=True, created=T0, modified=T0)
    address = stix2.IPv4Address(value="203.0.113.7")
    await soc.objects.add(A, [as_dict(first), as_dict(malware), as_dict(address)])
    await soc.objects.add(A, [as_dict(second)])
    (b_indicator,) = indicators(1, tenant=B, start=900)
    await soc.objects.add(B, [b_indicator])
    return {
        "first": as_dict(first),
        "second": as_dict(second),
        "malware": as_dict(malware),
        "address": as_dict(address),
        "b": b_indicator,
    }


async def test_taxii2_client_reads_every_endpoint(soc: Soc) -> None:
    shared = await _shared(soc)
    await asyncio.to_thread(_reads_every_endpoint, soc, shared)


def _reads_every_endpoint(soc: Soc, shared: dict[str, Any]) -> None:
    user, password = "taxii-ioc", key("taxii-ioc")
    server = Server(soc.discovery_url, user=user, password=password)
    assert server.title == "SOC TAXII 2.1 server"
    assert len(server.api_roots) == 1 and server.default is not None
    root: ApiRoot = server.api_roots[0]
    assert root.url == f"{soc.url}/taxii2/soc/"
    assert root.versions == [TAXII_MEDIA_TYPE] and root.max_content_length > 0
    # only its own tenant's collection
    assert [(c.id, c.alias) for c in root.collections] == [(collection_id(A), A)]
    listed = root.collections[0]
    assert listed.can_read and not listed.can_write
    assert listed.media_types == ["application/stix+json;version=2.1"]

    collection = Collection(soc.collection_url(A), user=user, password=password)
    assert collection.id == collection_id(A) and collection.alias == A

    ind = shared["first"]["id"]
    # objects: the last version of each by default
    envelope = collection.get_objects()
    assert envelope["more"] is False and "next" not in envelope
    got = {o["id"]: o for o in envelope["objects"]}
    assert set(got) == {ind, shared["malware"]["id"], shared["address"]["id"]}
    assert got[ind]["name"] == "SSH brute force (confirmed)"
    every = collection.get_objects(version="all")["objects"]
    assert sorted(o.get("modified", "") for o in every if o["id"] == ind) == sorted(
        [shared["first"]["modified"], shared["second"]["modified"]]
    )
    firsts = collection.get_objects(version="first", type="indicator")["objects"]
    assert [o["name"] for o in firsts] == ["SSH brute force from a recorded source"]
    at = collection.get_objects(version=shared["first"]["modified"], id=ind)["objects"]
    assert [o["modified"] for o in at] == [shared["first"]["modified"]]
    assert collection.get_objects(type="malware")["objects"] == [shared["malware"]]
    assert "objects" not in collection.get_objects(spec_version="2.0")
    # one object, its versions
    assert collection.get_object(ind)["objects"] == [shared["second"]]
    assert len(collection.get_object(ind, version="all")["objects"]) == 2
    versions = collection.object_versions(ind)
    assert versions["versions"] == [shared["first"]["modified"], shared["second"]["modified"]]
    assert _status(lambda: collection.get_object(shared["b"]["id"])) == 404
    # the manifest: one entry per object (last versions), with date_added and media type
    manifest = collection.get_manifest()["objects"]
    assert {m["id"] for m in manifest} == set(got)
    entry = next(m for m in manifest if m["id"] == ind)
    assert entry["version"] == shared["second"]["modified"]
    assert entry["media_type"] == "application/stix+json;version=2.1"
    assert entry["date_added"].endswith("Z")
    # status: this server accepts nothing, so no status exists
    assert _status(lambda: root.get_status("2d086da7-4bdc-4f91-900e-d77486753710")) == 404
    # writes are refused, as for any collection with can_write false
    bundle = {"objects": [shared["malware"]]}
    with pytest.raises(TAXIIServiceException):  # the client checks can_write first
        collection.add_objects(bundle)
    url = soc.collection_url(A)
    auth = (user, password)
    headers = {**ACCEPT, "Content-Type": TAXII_MEDIA_TYPE}
    r = requests.post(url + "objects/", json=bundle, headers=headers, auth=auth, timeout=10)
    assert r.status_code == 403 and r.json()["http_status"] == "403"
    r = requests.delete(f"{url}objects/{ind}/", headers=ACCEPT, auth=auth, timeout=10)
    assert r.status_code == 403
    assert collection.get_object(ind)["objects"] == [shared["second"]]
    # the other tenant's collection answers as if it did not exist
    other = Collection(soc.collection_url(B), user=user, password=password)
    assert _status(lambda: other.refresh()) == 404
    r = requests.get(soc.collection_url(B) + "objects/", headers=ACCEPT, auth=auth, timeout=10)
    assert r.status_code == 404 and B not in r.text
    # and B's key sees B's collection only
    theirs = Server(soc.discovery_url, user="taxii-dof", password=key("taxii-dof"))
    assert [c.alias for c in theirs.api_roots[0].collections] == [B]


async def test_refused_without_a_taxii_key(soc: Soc) -> None:
    await _shared(soc)
    await asyncio.to_thread(_refusals, soc)


def _refusals(soc: Soc) -> None:
    objects = soc.collection_url(A) + "objects/"
    for url in (soc.discovery_url, f"{soc.url}/taxii2/soc/collections/", objects):

        def get(
            auth: Any = None, headers: dict[str, str] | None = None, url: str = url
        ) -> requests.Response:
            return requests.get(url, auth=auth, headers=headers or ACCEPT, timeout=10)

        for refused in (
            get(),
            get(("taxii-ioc", "not-the-key")),
            get(("taxii-dof", key("taxii-ioc"))),  # the name is not the key's
            get(headers={**ACCEPT, "Authorization": "Bearer not-the-key"}),
            get(headers={**ACCEPT, "Authorization": "Basic !!"}),
        ):
            assert refused.status_code == 401, (url, refused.text)
            assert refused.headers["WWW-Authenticate"] == 'Basic realm="taxii"'
            assert refused.headers["Content-Type"] == TAXII_MEDIA_TYPE
            assert refused.json()["http_status"] == "401"
        # a key without taxii:read (an analyst's)
        analyst = get(("analyst-ioc", key("analyst-ioc")))
        assert analyst.status_code == 403 and analyst.json()["title"] == "Forbidden"
        # a bearer key is taken as well as Basic
        bearer = get(headers={**ACCEPT, "Authorization": f"Bearer {key('taxii-ioc')}"})
        assert bearer.status_code == 200, bearer.text
        assert bearer.headers["Content-Type"] == TAXII_MEDIA_TYPE
        # an Accept header not naming TAXII 2.1: 406
        basic = ("taxii-ioc", key("taxii-ioc"))
        for accept in ("application/json", "application/taxii+json;version=2.0", ""):
            r = get(basic, {"Accept": accept})
            assert r.status_code == 406 and r.json()["http_status"] == "406", accept
        assert get(basic, {"Accept": "application/taxii+json"}).status_code == 200
    token = base64.b64encode(f"taxii-ioc:{key('taxii-ioc')}".encode()).decode()
    r = requests.get(objects, headers={**ACCEPT, "Authorization": f"Basic {token}"}, timeout=10)
    assert r.status_code == 200
    bad = requests.get(objects, params={"limit": "0"}, auth=basic_of("taxii-ioc"), headers=ACCEPT)
    assert bad.status_code == 400 and bad.json()["http_status"] == "400"
    bad = requests.get(
        objects, params={"added_after": "yesterday"}, auth=basic_of("taxii-ioc"), headers=ACCEPT
    )
    assert bad.status_code == 400
    bad = requests.get(objects, params={"next": "junk"}, auth=basic_of("taxii-ioc"), headers=ACCEPT)
    assert bad.status_code == 400


def basic_of(name: str) -> tuple[str, str]:
    return name, key(name)


async def test_pages_through_5000_objects(soc: Soc) -> None:
    made = indicators(5000, tenant=A)
    for start in range(0, len(made), 1000):
        await soc.objects.add(A, made[start : start + 1000])
    await soc.objects.add(B, indicators(10, tenant=B))
    later = [
        as_dict(stix2.parse(o, allow_custom=False).new_version(confidence=90)) for o in made[:3]
    ]
    await asyncio.to_thread(_pages, soc, {o["id"] for o in made}, [])
    mark = await asyncio.to_thread(_last_added, soc)
    await soc.objects.add(A, later)
    await asyncio.to_thread(_pages, soc, {o["id"] for o in made}, later, mark)


def _last_added(soc: Soc) -> str:
    r = requests.get(
        soc.collection_url(A) + "manifest/",
        params={"match[version]": "all"},
        auth=basic_of("taxii-ioc"),
        headers=ACCEPT,
        timeout=30,
    )
    assert r.status_code == 200 and len(r.json()["objects"]) == 1000  # the server's page size
    assert r.json()["more"] is True
    first = r.headers["X-TAXII-Date-Added-First"]
    last = r.headers["X-TAXII-Date-Added-Last"]
    assert first < last
    # the last of every version, by paging the manifest to its end
    collection = Collection(soc.collection_url(A), user="taxii-ioc", password=key("taxii-ioc"))
    entries = [
        m
        for page in as_pages(collection.get_manifest, per_request=700, version="all")
        for m in page.get("objects", [])
    ]
    assert len(entries) == len({(m["id"], m["version"]) for m in entries}) == 5000
    return str(entries[-1]["date_added"])


def _pages(soc: Soc, ids: set[str], later: list[dict[str, Any]], mark: str | None = None) -> None:
    collection = Collection(soc.collection_url(A), user="taxii-ioc", password=key("taxii-ioc"))
    seen: list[str] = []
    pages = 0
    for envelope in as_pages(collection.get_objects, per_request=450):
        pages += 1
        seen.extend(o["id"] for o in envelope.get("objects", []))
    assert pages == 12  # 11 full pages of 450 and one of 50
    assert len(seen) == len(set(seen)) == 5000 and set(seen) == ids  # each exactly once
    if mark is None:
        return
    # what was added after the mark: the new versions only
    newer = [
        o
        for envelope in as_pages(collection.get_objects, per_request=2, added_after=mark)
        for o in envelope.get("objects", [])
    ]
    assert [(o["id"], o["modified"]) for o in newer] == [(o["id"], o["modified"]) for o in later]
    # and the last versions replaced the first ones in the collection's pages above
    latest = collection.get_objects(id=[o["id"] for o in later])["objects"]
    assert {o.get("confidence") for o in latest} == {90}
