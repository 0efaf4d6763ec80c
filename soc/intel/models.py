"""Indicators as the SOC keeps them: one observable value each, with where it came from.

An :class:`Indicator` is one value to match (an address, a network, a domain, a URL or a
file hash), not a STIX pattern: a STIX indicator whose pattern names several values
becomes several of them, each keeping the STIX id it came from. Its id is deterministic
from (source, type, value), so taking the same feed in twice stores each value once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from soc.models import UtcDatetime, utcnow
from soc.settings import ALL_TENANTS, Tlp

__all__ = ["Indicator", "IndicatorType", "Tlp"]


class IndicatorType(StrEnum):
    ip = "ip"
    """One IPv4 or IPv6 address (compressed form)."""
    cidr = "cidr"
    """A network (``10.0.0.0/8``), matched by containment."""
    domain = "domain"
    """Lower case, without a trailing dot."""
    url = "url"
    hash = "hash"
    """MD5, SHA-1 or SHA-256, lower-case hex."""


class Indicator(BaseModel):
    id: str
    tenant: str = ALL_TENANTS
    """The tenant whose events it is matched against; ``*`` (a national feed): every one."""
    type: IndicatorType
    value: str = Field(min_length=1, max_length=4096)
    source: str = Field(min_length=1, max_length=200)
    """Where it came from: a feed's name, ``file:<name>`` or ``paste:<user>``."""
    stix_id: str | None = None
    """The STIX indicator it was taken from, if any."""
    name: str = ""
    description: str = ""
    confidence: int | None = Field(None, ge=0, le=100)
    tlp: Tlp = "amber"
    labels: list[str] = Field(default_factory=list)
    valid_from: UtcDatetime
    valid_until: UtcDatetime | None = None
    revoked: bool = False
    created: UtcDatetime = Field(default_factory=utcnow)
    modified: UtcDatetime = Field(default_factory=utcnow)
    """When the SOC last changed it (taken in again with changes, revoked...)."""

    @staticmethod
    def make_id(source: str, type: IndicatorType, value: str) -> str:
        raw = f"{source}\x1f{type.value}\x1f{value}".encode()
        return "ind-" + hashlib.sha256(raw).hexdigest()[:32]

    def live(self, now: datetime) -> bool:
        """Matchable at ``now``: not revoked and within its validity."""
        if self.revoked or now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until
