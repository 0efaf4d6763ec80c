"""Who reads the TAXII API: an API key of the ``taxii`` role, and the collections it holds.

TAXII clients authenticate with HTTP Basic (taxii2-client's ``user``/``password``,
OpenCTI's TAXII feed) or a bearer token, so both are taken:

- ``Authorization: Basic base64(<key name>:<key>)``: the password is the key, and the
  user name must be the name the key is configured under,
- ``Authorization: Bearer <key>``.

Only API keys: a person's session token does not read the TAXII API. No credentials or
a wrong one answer 401 with ``WWW-Authenticate: Basic realm="taxii"``; a key whose role
lacks ``taxii:read`` (only the ``taxii`` role has it) answers 403. A key sees one
collection per tenant it names, and nothing of another tenant (404, as for a missing
collection).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from soc.api.deps import ServiceDep
from soc.api.taxii.resources import TaxiiError, collection_id
from soc.security.principal import Principal
from soc.security.roles import Forbidden, scope

CHALLENGE = {"WWW-Authenticate": 'Basic realm="taxii"'}
_ACCEPT = re.compile(r"^application/taxii\+json(;version=(\d\.\d))?$")


def _unauthorized(description: str) -> TaxiiError:
    return TaxiiError(401, "Unauthorized", description, headers=CHALLENGE)


def _key(authorization: str | None) -> tuple[str | None, str]:
    """The (claimed key name, key) of the header; raises 401 when unreadable."""
    if not authorization:
        raise _unauthorized("send an API key: HTTP Basic (key name, key) or Bearer <key>")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            name, sep, key = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed Basic credentials") from None
        if sep and key:
            return name, key
    raise _unauthorized("send an API key: HTTP Basic (key name, key) or Bearer <key>")


@dataclass(frozen=True)
class Reader:
    """An authenticated TAXII reader and its collections (collection id -> tenant)."""

    principal: Principal
    collections: dict[str, str]

    def tenant_of(self, collection: str) -> str:
        """The tenant of ``collection`` if the reader holds it, else 404."""
        tenant = self.collections.get(collection)
        if tenant is None:
            raise TaxiiError(404, "Not Found", f"collection {collection[:64]!r} not found")
        return tenant


def get_reader(
    service: ServiceDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Reader:
    name, key = _key(authorization)
    principal = service.keys.principal(key)
    if principal is None or (name is not None and not hmac.compare_digest(name, principal.name)):
        raise _unauthorized("unknown API key")
    try:
        tenants = scope(principal, "taxii:read")
    except Forbidden as e:
        raise TaxiiError(403, "Forbidden", str(e)) from e
    if tenants is None:  # no role with taxii:read may hold '*' (scope refuses it)
        raise TaxiiError(403, "Forbidden", "a TAXII key names its tenants")
    return Reader(principal, {collection_id(t): t for t in sorted(set(tenants))})


def check_accept(accept: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
    """406 unless the Accept header names TAXII 2.1 (as medallion: a missing one too)."""
    for item in (accept or "").replace(" ", "").split(","):
        found = _ACCEPT.match(item)
        if found:
            if found.group(2) not in (None, "2.1"):
                raise TaxiiError(
                    406, "Not Acceptable", f"this server speaks TAXII 2.1, not {found.group(2)}"
                )
            return
    raise TaxiiError(
        406, "Not Acceptable", "the Accept header must name application/taxii+json;version=2.1"
    )


def get_taxii_reader(
    reader: Annotated[Reader, Depends(get_reader)], _: Annotated[None, Depends(check_accept)]
) -> Reader:
    """The reader, once the Accept header is checked (after authentication, as medallion)."""
    return reader


ReaderDep = Annotated[Reader, Depends(get_taxii_reader)]
