"""A hash chain over audit entries.

Each entry's ``hash`` is SHA-256 over its canonical JSON (every field but the
hash itself), and that JSON includes ``prev``, the hash of the entry before it.
Changing any byte of an entry changes its hash, which no longer matches the
``prev`` of the next entry; removing an entry leaves a gap in ``seq`` and a
broken link; reordering breaks both. :func:`verify` finds the first such break.

The chain proves integrity, not authorship: whoever can rewrite the whole
chain from some entry on can forge it. Anchor the head hash elsewhere (e.g.
print it daily into the shift log, or send it to another agency) to close that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from soc.models import UtcDatetime, canonical_json

GENESIS = "0" * 64
"""``prev`` of the first entry."""


class AuditEntry(BaseModel):
    """Who did what, when, to what, with the state before and after."""

    seq: int = Field(ge=1)
    time: UtcDatetime
    actor: str
    """The principal's name (user or API key)."""
    tenant: str | None
    action: str
    """E.g. ``alert.status``, ``incident.handoff``, ``key.create``."""
    target: str
    """E.g. ``alert:<id>``, ``incident:<id>``."""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    prev: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    def computed_hash(self) -> str:
        body = self.model_dump(mode="json", exclude={"hash"})
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()


class ChainReport(BaseModel):
    ok: bool
    entries: int
    """Entries checked."""
    head: str
    """Hash of the last good entry (GENESIS when none)."""
    broken_at: int | None = None
    """``seq`` of the first entry that fails, when one does."""
    reason: str | None = None


def seal(
    prev: AuditEntry | None,
    *,
    time: datetime,
    actor: str,
    tenant: str | None,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """The entry after ``prev`` (or the first one), with its hash."""
    draft = AuditEntry(
        seq=prev.seq + 1 if prev else 1,
        time=time,
        actor=actor,
        tenant=tenant,
        action=action,
        target=target,
        before=before,
        after=after,
        prev=prev.hash if prev else GENESIS,
        hash=GENESIS,
    )
    return draft.model_copy(update={"hash": draft.computed_hash()})


def verify(entries: Iterable[AuditEntry]) -> ChainReport:
    """Check the chain from its first entry, in ``seq`` order as given."""
    head = GENESIS
    expected_seq = 1
    count = 0
    for entry in entries:
        count += 1
        reason = None
        if entry.seq != expected_seq:
            reason = f"expected entry {expected_seq}, found {entry.seq}: an entry is missing"
        elif entry.prev != head:
            reason = "its link to the entry before does not match: that entry was altered"
        elif entry.computed_hash() != entry.hash:
            reason = "its content does not match its hash: it was altered"
        if reason:
            return ChainReport(
                ok=False, entries=count, head=head, broken_at=entry.seq, reason=reason
            )
        head = entry.hash
        expected_seq += 1
    return ChainReport(ok=True, entries=count, head=head)
