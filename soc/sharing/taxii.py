"""Pushing objects to a TAXII 2.1 collection with taxii2-client (blocking: run in a thread).

:func:`push` adds the objects and polls the status resource until it is final (or
``status_wait_s`` passes), and reports, per (id, version), what the server accepted,
refused and left pending.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from typing import Any

from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection

from soc.errors import SocError
from soc.settings import SharingTarget

PRESENT = ("unable to process object", "already", "exists", "duplicate")
"""Words of a failure that says the server holds that version already (medallion:
"Unable to process object")."""


class PushFailed(SocError):
    """The TAXII server could not be reached, or answered with an error."""


@dataclass
class PushResult:
    status_id: str
    final: bool
    accepted: set[tuple[str, str]] = field(default_factory=set)
    present: set[tuple[str, str]] = field(default_factory=set)
    """Refused as already held."""
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    """Refused otherwise: (id, version) -> the server's message."""

    def _find(
        self, keys: set[tuple[str, str]] | dict[tuple[str, str], str], key: tuple[str, str]
    ) -> bool:
        """Whether ``key`` is among ``keys``; an immutable object (version "") by its id
        alone, the server naming its version by when it was added."""
        if key in keys:
            return True
        return not key[1] and any(k[0] == key[0] for k in keys)

    def was_accepted(self, key: tuple[str, str]) -> bool:
        return self._find(self.accepted, key)

    def was_present(self, key: tuple[str, str]) -> bool:
        return self._find(self.present, key)

    def failure(self, key: tuple[str, str]) -> str | None:
        if key in self.failed:
            return self.failed[key]
        if not key[1]:
            return next((m for k, m in self.failed.items() if k[0] == key[0]), None)
        return None


def _key(detail: dict[str, Any]) -> tuple[str, str]:
    return str(detail.get("id")), str(detail.get("version") or "")


def _push_blocking(target: SharingTarget, objects: list[dict[str, Any]], wait_s: float) -> Any:
    password = target.password.get_secret_value() if target.password else None
    collection = Collection(
        target.collection_url, user=target.user, password=password, verify=target.verify_tls
    )
    session = collection._conn.session  # every request within the target's timeout
    session.request = functools.partial(session.request, timeout=target.timeout_s)
    try:
        status = collection.add_objects({"objects": objects}, wait_for_completion=False)
        if status.status != "complete":
            status.wait_until_final(poll_interval=1, timeout=wait_s)
        return status
    finally:
        collection.close()


async def push(
    target: SharingTarget, objects: list[dict[str, Any]], *, wait_s: float
) -> PushResult:
    try:
        status = await asyncio.to_thread(_push_blocking, target, objects, wait_s)
    except (TAXIIServiceException, OSError, ValueError) as e:
        raise PushFailed(f"{type(e).__name__}: {e}"[:900]) from e
    except Exception as e:  # requests' errors (connection refused, HTTP 5xx)
        if type(e).__module__.startswith(("requests", "urllib3")):
            raise PushFailed(f"{type(e).__name__}: {e}"[:900]) from e
        raise
    result = PushResult(status_id=str(status.id), final=status.status == "complete")
    for detail in status.successes or []:
        result.accepted.add(_key(detail))
    for detail in status.failures or []:
        message = str(detail.get("message") or "")
        if any(w in message.lower() for w in PRESENT):
            result.present.add(_key(detail))
        else:
            result.failed[_key(detail)] = message or "refused"
    return result
