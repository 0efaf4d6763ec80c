"""What notifications are made of: a notice, the message written for one channel, and
the outbox record that carries it until it is sent or given up."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from soc.models import Severity, UtcDatetime, digest
from soc.settings import ChannelSettings, Lang, RouteSettings, Trigger

INCIDENT_TRIGGERS: frozenset[Trigger] = frozenset(
    {"incident_new", "handoff", "rejected", "deadline_80", "deadline_breached"}
)
"""Triggers about one incident: a route's ``min_severity`` applies to them."""


class Notice(BaseModel):
    """One event worth telling. Holds what a message may say, never an event's content
    (events may hold personal data): the incident's id, title, severity, host and rule."""

    trigger: Trigger
    key: str = Field(min_length=1, max_length=300)
    """Names the event once, whoever sees it: e.g. ``audit:1234`` (an audit entry), or
    ``deadline_80:<incident>:<kind>:<due>``. The outbox id is made of it and the channel."""
    tenant: str
    time: UtcDatetime
    incident: str | None = None
    title: str | None = Field(None, max_length=500)
    severity: Severity | None = None
    host: str | None = None
    rule: str | None = None
    unit: str | None = None
    """The response unit it concerns: the unit handed to, or owning the incident."""
    by: str | None = None
    """Who acted (a user name, or ``system:...``)."""
    reason: str | None = Field(None, max_length=300)
    """A rejection's reason, a deadline's kind, a source's silence... (short)."""
    drill: str | None = None
    source: str | None = Field(None, max_length=300)
    """A silent source or a losing stream: ``connector/source/stream``."""
    count: int | None = None
    """Events lost, seconds silent."""


class Message(BaseModel):
    """A notice written for one channel, in one language."""

    subject: str
    text: str
    link: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    """The template fields of a chat channel (text, subject, link, severity...)."""


class OutboxState(StrEnum):
    pending = "pending"
    sending = "sending"
    """Claimed by a sender until ``next_at``; taken over after that (the sender died)."""
    sent = "sent"
    given_up = "given_up"


class OutboxItem(BaseModel):
    id: str
    key: str
    trigger: Trigger
    tenant: str
    channel: str
    channel_type: str
    lang: Lang
    message: Message
    incident: str | None = None
    state: OutboxState = OutboxState.pending
    attempts: int = 0
    created: UtcDatetime
    next_at: UtcDatetime
    """When it is due (pending), or when the claim ends (sending)."""
    claimed_by: str | None = None
    sent_at: UtcDatetime | None = None
    last_error: str | None = Field(None, max_length=1000)
    version: int = Field(0, ge=0)

    @staticmethod
    def make_id(key: str, channel: str) -> str:
        """One message per (event, recipient), whoever enqueues it."""
        return digest("notify", key, channel)


class ChannelView(BaseModel):
    """A channel as the API shows it: its settings with every secret masked."""

    name: str
    tenant: str
    origin: str
    """``settings`` (read-only here) or ``api``."""
    channel: dict[str, Any]


class StoredChannel(BaseModel):
    """A channel made through the API, kept in the store (secrets included: the store is
    the SOC's own; the API never returns them)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    tenant: str
    channel: ChannelSettings
    created_by: str
    updated: UtcDatetime


class StoredRoute(BaseModel):
    id: str
    route: RouteSettings
    created_by: str
    created: UtcDatetime
