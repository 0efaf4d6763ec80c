"""What a share is made of: one job per (reason, incident, target), until it is sent."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from soc.models import UtcDatetime, digest
from soc.settings import Tlp

Trigger = Literal["handoff", "close", "approval", "update"]
"""Why a share was made: the policy's moment, a lead's approval, or a change to an incident
already shared (sent again as new versions)."""


class ShareState(StrEnum):
    pending = "pending"
    """Waiting to be sent, or to be tried again after a failure (``last_error``)."""
    sending = "sending"
    """Claimed by a sender until ``next_at``; taken over after that (the sender died)."""
    shared = "shared"
    """The server accepted every object of the bundle."""
    withheld = "withheld"
    """Not sent, and never will be: the incident is TLP:RED, the target or the incident
    is gone (``last_error`` says which)."""


class ShareJob(BaseModel):
    id: str
    key: str
    """Names the reason once: ``audit:<seq>`` or ``updated:<incident>:<micros>``."""
    trigger: Trigger
    tenant: str
    incident: str
    target: str
    requested_by: str
    """Who caused it: the user who handed off, closed or approved; ``system:sharing`` for
    an update."""
    state: ShareState = ShareState.pending
    attempts: int = 0
    created: UtcDatetime
    next_at: UtcDatetime
    claimed_by: str | None = None
    shared_at: UtcDatetime | None = None
    last_error: str | None = Field(None, max_length=1000)
    tlp: Tlp | None = None
    redacted: bool | None = None
    bundle_sha256: str | None = None
    """SHA-256 of the (redacted) bundle as built at the last attempt (canonical JSON)."""
    status_id: str | None = None
    """The TAXII status resource of the last push."""
    objects: int = 0
    """Objects in the bundle."""
    sent: int = 0
    """Object versions pushed (not accepted by this target before), over every attempt."""
    accepted: int = 0
    """Of those, how many the server accepted (or already held)."""
    version: int = Field(0, ge=0)

    @staticmethod
    def make_id(key: str, incident: str, target: str) -> str:
        return digest("share", key, incident, target)


class ShareView(BaseModel):
    """A share as the incident's API and view show it."""

    job: ShareJob
    target_name: str
    """The target's display name ("the national platform")."""
    target_name_vi: str
    """Its Vietnamese name ("Nền tảng quốc gia")."""
