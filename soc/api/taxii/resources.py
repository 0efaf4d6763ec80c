"""TAXII 2.1 resources (OASIS TAXII 2.1, sections 3.6, 4 and 5) and the error answer."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse

from soc.errors import SocError

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
API_ROOT = "soc"
"""The one API root: ``/taxii2/soc/``."""
MAX_PAGE = 1000
"""The most objects (or versions, or manifest entries) one answer holds; the default too."""
MAX_CONTENT_LENGTH = 10 * 1024 * 1024
"""Announced by the API root; nothing is accepted anyway (the collections are read-only)."""

COLLECTIONS = uuid.UUID("5b1c3a4e-1f0d-5a8e-9c6d-2f7e0a9b4c31")
"""The namespace of the collection ids: ``uuid5(COLLECTIONS, tenant)``."""


def collection_id(tenant: str) -> str:
    """The stable id of ``tenant``'s collection."""
    return str(uuid.uuid5(COLLECTIONS, tenant))


class TaxiiResponse(JSONResponse):
    media_type = TAXII_MEDIA_TYPE


class Discovery(BaseModel):
    title: str
    description: str | None = None
    contact: str | None = None
    default: str | None = None
    api_roots: list[str]


class ApiRootInfo(BaseModel):
    title: str
    description: str | None = None
    versions: list[str]
    max_content_length: int


class Collection(BaseModel):
    id: str
    title: str
    description: str | None = None
    alias: str | None = None
    can_read: bool
    can_write: bool
    media_types: list[str]


class Collections(BaseModel):
    collections: list[Collection] = []


class Envelope(BaseModel):
    more: bool = False
    next: str | None = None
    objects: list[dict[str, Any]] | None = None


class ManifestRecord(BaseModel):
    id: str
    date_added: str
    version: str
    media_type: str


class Manifest(BaseModel):
    more: bool = False
    next: str | None = None
    objects: list[ManifestRecord] | None = None


class Versions(BaseModel):
    more: bool = False
    next: str | None = None
    versions: list[str] | None = None


class ErrorBody(BaseModel):
    """TAXII's error message (3.6.1); ``http_status`` is a string, as medallion sends it."""

    title: str
    description: str | None = None
    error_id: str | None = None
    error_code: str | None = None
    http_status: str
    external_details: str | None = None
    details: dict[str, Any] | None = None


class TaxiiError(SocError):
    """An error answered as a TAXII error message, with its status and headers."""

    def __init__(
        self, status: int, title: str, description: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}

    def response(self) -> TaxiiResponse:
        body = ErrorBody(
            title=self.title, description=self.description, http_status=str(self.status)
        )
        return TaxiiResponse(
            body.model_dump(exclude_none=True), status_code=self.status, headers=self.headers
        )


def answer(resource: BaseModel, headers: dict[str, str] | None = None) -> TaxiiResponse:
    return TaxiiResponse(resource.model_dump(mode="json", exclude_none=True), headers=headers)
