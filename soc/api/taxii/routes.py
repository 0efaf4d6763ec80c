"""The TAXII 2.1 endpoints under ``/taxii2/``: read-only, one collection per tenant.

Every answer is ``application/taxii+json;version=2.1``; every error is a TAXII error
message (title, description, http_status), not a problem document: :class:`TaxiiRoute`
turns this package's errors, FastAPI's and the store's into one. Writes (adding or
deleting objects) answer 403, as TAXII does for a collection with ``can_write`` false.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response

from soc.api.deps import ServiceDep
from soc.api.taxii.access import Reader, ReaderDep
from soc.api.taxii.resources import (
    API_ROOT,
    MAX_CONTENT_LENGTH,
    MAX_PAGE,
    STIX_MEDIA_TYPE,
    TAXII_MEDIA_TYPE,
    ApiRootInfo,
    Collection,
    Collections,
    Discovery,
    Envelope,
    Manifest,
    ManifestRecord,
    TaxiiError,
    TaxiiResponse,
    Versions,
    answer,
)
from soc.errors import AuthError, BackendError, QueryError
from soc.log import get_logger
from soc.sharing.objects import (
    ObjectFilter,
    ObjectPage,
    StixObjects,
    format_timestamp,
    parse_timestamp,
)

log = get_logger(__name__)


class TaxiiRoute(APIRoute):
    """A route whose every error answers as a TAXII error message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except TaxiiError as e:
                return e.response()
            except RequestValidationError as e:
                where = ", ".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
                return TaxiiError(400, "Bad Request", f"invalid parameters: {where}").response()
            except QueryError as e:
                return TaxiiError(400, "Bad Request", str(e)).response()
            except AuthError as e:
                return TaxiiError(403, "Forbidden", str(e)).response()
            except HTTPException as e:
                return TaxiiError(e.status_code, "Error", str(e.detail)).response()
            except BackendError as e:
                log.warning("taxii read failed: %s", e)
                return TaxiiError(
                    503,
                    "Service Unavailable",
                    "the store is unavailable",
                    headers={"Retry-After": "5"},
                ).response()

        return route


router = APIRouter(
    prefix="/taxii2", tags=["taxii"], route_class=TaxiiRoute, default_response_class=TaxiiResponse
)
ROOT = f"/{API_ROOT}"
COLLECTION = ROOT + "/collections/{collection_id}"

_taxii: dict[str, Any] = {"content": {TAXII_MEDIA_TYPE: {}}}
_errors: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter was refused (limit, added_after, next, a version)"},
    401: {"description": "No API key, or a wrong one (WWW-Authenticate: Basic)"},
    403: {"description": "The key's role may not read TAXII (taxii:read)"},
    406: {"description": "The Accept header does not name TAXII 2.1"},
    "4XX": {"description": "A TAXII error message (title, description, http_status)", **_taxii},
}
_collection_errors = {**_errors, 404: {"description": "Not a collection of the key's tenants"}}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _filters(
    added_after: Annotated[
        str | None, Query(description="Only versions added after this time (RFC 3339)")
    ] = None,
    match_id: Annotated[
        str | None, Query(alias="match[id]", description="STIX ids, comma-separated")
    ] = None,
    match_type: Annotated[
        str | None, Query(alias="match[type]", description="STIX types, comma-separated")
    ] = None,
    match_version: Annotated[
        str | None,
        Query(alias="match[version]", description="last (default), first, all, or timestamps"),
    ] = None,
    match_spec_version: Annotated[
        str | None, Query(alias="match[spec_version]", description="e.g. 2.1")
    ] = None,
) -> ObjectFilter:
    return ObjectFilter(
        ids=_split(match_id),
        types=_split(match_type),
        versions=_split(match_version) or ["last"],
        spec_versions=_split(match_spec_version),
        added_after=parse_timestamp(added_after) if added_after else None,
    )


Filters = Annotated[ObjectFilter, Depends(_filters)]
Limit = Annotated[
    int | None, Query(ge=1, description=f"At most this many (the server's most: {MAX_PAGE})")
]
Next = Annotated[str | None, Query(max_length=512, description="The `next` of the page before")]


def _objects(service: ServiceDep) -> StixObjects:
    return StixObjects(service.store)


ObjectsDep = Annotated[StixObjects, Depends(_objects)]


def _date_headers(page: ObjectPage) -> dict[str, str]:
    if not page.items:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_timestamp(page.items[0].date_added),
        "X-TAXII-Date-Added-Last": format_timestamp(page.items[-1].date_added),
    }


def _collection(tenant: str, cid: str) -> Collection:
    return Collection(
        id=cid,
        title=f"Shared by {tenant}",
        description=f"What the sharing policy of tenant {tenant} lets leave the SOC (STIX 2.1)",
        alias=tenant,
        can_read=True,
        can_write=False,
        media_types=[STIX_MEDIA_TYPE],
    )


async def _page(
    objects: StixObjects, tenant: str, flt: ObjectFilter, limit: int | None, after: str | None
) -> ObjectPage:
    return await objects.page(tenant, flt, limit=min(limit or MAX_PAGE, MAX_PAGE), after=after)


@router.get("/", responses={200: _taxii, **_errors}, summary="TAXII server discovery")
async def discovery(reader: ReaderDep, request: Request) -> Response:
    root = f"{str(request.base_url).rstrip('/')}/taxii2{ROOT}/"
    return answer(
        Discovery(
            title="SOC TAXII 2.1 server",
            description="Each tenant's shared STIX 2.1 objects, read-only",
            default=root,
            api_roots=[root],
        )
    )


@router.get(ROOT + "/", responses={200: _taxii, **_errors}, summary="TAXII API root")
async def api_root(reader: ReaderDep) -> Response:
    return answer(
        ApiRootInfo(
            title="SOC shared intelligence",
            description="One collection per tenant of the key",
            versions=[TAXII_MEDIA_TYPE],
            max_content_length=MAX_CONTENT_LENGTH,
        )
    )


@router.get(
    ROOT + "/status/{status_id}/", responses={200: _taxii, **_errors}, summary="TAXII status"
)
async def status(reader: ReaderDep, status_id: str) -> Response:
    """This server accepts no writes, so it has no status resource to show."""
    raise TaxiiError(404, "Not Found", f"status {status_id[:64]!r} not found")


@router.get(ROOT + "/collections/", responses={200: _taxii, **_errors}, summary="TAXII collections")
async def collections(reader: ReaderDep) -> Response:
    return answer(
        Collections(collections=[_collection(t, cid) for cid, t in reader.collections.items()])
    )


@router.get(COLLECTION + "/", responses={200: _taxii, **_collection_errors}, summary="A collection")
async def collection(reader: ReaderDep, collection_id: str) -> Response:
    return answer(_collection(reader.tenant_of(collection_id), collection_id))


@router.get(
    COLLECTION + "/manifest/",
    responses={200: _taxii, **_collection_errors},
    summary="A collection's manifest",
)
async def manifest(
    reader: ReaderDep,
    objects: ObjectsDep,
    collection_id: str,
    flt: Filters,
    limit: Limit = None,
    next: Next = None,
) -> Response:
    page = await _page(objects, reader.tenant_of(collection_id), flt, limit, next)
    entries = [
        ManifestRecord(
            id=s.id,
            date_added=format_timestamp(s.date_added),
            version=s.version,
            media_type=s.media_type,
        )
        for s in page.items
    ]
    body = Manifest(more=page.more, next=page.next, objects=entries or None)
    return answer(body, _date_headers(page))


@router.get(
    COLLECTION + "/objects/",
    responses={200: _taxii, **_collection_errors},
    summary="A collection's objects",
)
async def get_objects(
    reader: ReaderDep,
    objects: ObjectsDep,
    collection_id: str,
    flt: Filters,
    limit: Limit = None,
    next: Next = None,
) -> Response:
    page = await _page(objects, reader.tenant_of(collection_id), flt, limit, next)
    body = Envelope(more=page.more, next=page.next, objects=[s.object for s in page.items] or None)
    return answer(body, _date_headers(page))


def _read_only(reader: Reader, collection_id: str) -> TaxiiError:
    reader.tenant_of(collection_id)  # 404 first for a collection not the key's
    return TaxiiError(403, "Forbidden", f"collection {collection_id!r} is read-only")


@router.post(
    COLLECTION + "/objects/",
    responses={**_collection_errors, 403: {"description": "Always: the collections are read-only"}},
    summary="Add objects (refused)",
)
async def add_objects(reader: ReaderDep, collection_id: str) -> Response:
    raise _read_only(reader, collection_id)


async def _versions_of(objects: StixObjects, tenant: str, object_id: str) -> None:
    probe = await objects.page(tenant, ObjectFilter(ids=[object_id], versions=["all"]), limit=1)
    if not probe.items:
        raise TaxiiError(404, "Not Found", f"object {object_id[:80]!r} not found")


@router.get(
    COLLECTION + "/objects/{object_id}/",
    responses={200: _taxii, **_collection_errors},
    summary="An object",
)
async def get_object(
    reader: ReaderDep,
    objects: ObjectsDep,
    collection_id: str,
    object_id: str,
    flt: Filters,
    limit: Limit = None,
    next: Next = None,
) -> Response:
    tenant = reader.tenant_of(collection_id)
    await _versions_of(objects, tenant, object_id)
    flt = flt.model_copy(update={"ids": [object_id], "types": []})
    page = await _page(objects, tenant, flt, limit, next)
    body = Envelope(more=page.more, next=page.next, objects=[s.object for s in page.items] or None)
    return answer(body, _date_headers(page))


@router.delete(
    COLLECTION + "/objects/{object_id}/",
    responses={**_collection_errors, 403: {"description": "Always: the collections are read-only"}},
    summary="Delete an object (refused)",
)
async def delete_object(reader: ReaderDep, collection_id: str, object_id: str) -> Response:
    raise _read_only(reader, collection_id)


@router.get(
    COLLECTION + "/objects/{object_id}/versions/",
    responses={200: _taxii, **_collection_errors},
    summary="An object's versions",
)
async def object_versions(
    reader: ReaderDep,
    objects: ObjectsDep,
    collection_id: str,
    object_id: str,
    flt: Filters,
    limit: Limit = None,
    next: Next = None,
) -> Response:
    tenant = reader.tenant_of(collection_id)
    await _versions_of(objects, tenant, object_id)
    flt = flt.model_copy(update={"ids": [object_id], "types": [], "versions": ["all"]})
    page = await _page(objects, tenant, flt, limit, next)
    body = Versions(
        more=page.more, next=page.next, versions=[s.version for s in page.items] or None
    )
    return answer(body, _date_headers(page))
