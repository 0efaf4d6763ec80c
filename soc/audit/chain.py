"""A hash chain over audit entries.

Each entry's ``hash`` is SHA-256 over its canonical JSON (every field but the
hash itself), and that JSON includes ``prev``, the hash of the entry before it.
Changing any byte of an entry changes its hash, which no longer matches the
``prev`` of the next entry; removing an entry leaves a gap in ``seq`` and a
broken link; reordering breaks both. :func:`verify` finds the first such break.

Retention may cut the chain at its start (:mod:`soc.audit.retention`): before
it deletes entries 1..N it appends a retention entry (action
:data:`RETENTION_ACTION`) whose ``after`` is a :class:`Cut`: N, the hash of
entry N, how many it deleted and their time range. :func:`verify` given that
entry starts at entry N + 1, whose ``prev`` must be the recorded hash, and
requires the retention entry itself further on in the chain, intact. Entries
missing past N, or a start cut without a retention entry, still fail.

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

RETENTION_ACTION = "audit.retention"
"""The action of the entry retention appends before it cuts the chain's start."""


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


class Cut(BaseModel):
    """What retention deleted from the chain's start: the ``after`` of its retention entry."""

    through_seq: int = Field(ge=1)
    """Every entry up to this one is deleted (the pass deletes from the oldest on)."""
    through_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The hash of that entry: the ``prev`` of the entry kept after it."""
    from_seq: int = Field(ge=1)
    """The first entry this pass deleted (the ones before went in earlier passes)."""
    deleted: int = Field(ge=1)
    first_time: UtcDatetime
    last_time: UtcDatetime
    """Times of the first and last entry this pass deleted."""


class ChainReport(BaseModel):
    ok: bool
    entries: int
    """Entries checked."""
    head: str
    """Hash of the last good entry (GENESIS when none)."""
    broken_at: int | None = None
    """``seq`` of the first entry that fails, when one does."""
    reason: str | None = None
    start: int = 1
    """``seq`` the check started from: 1, or the first entry retention kept."""
    cut_at: UtcDatetime | None = None
    """When retention deleted the entries before ``start`` (its retention entry's time)."""
    cut_by: int | None = None
    """``seq`` of that retention entry."""

    @property
    def summary(self) -> str:
        """One line for people: what was verified, from where."""
        if not self.ok:
            where = f"entry {self.broken_at}" if self.broken_at is not None else "the file"
            return f"broken at {where}: {self.reason}"
        line = f"ok: {self.entries} entries, head {self.head}"
        if self.cut_at is not None:
            line += (
                f"; verified from entry {self.start} (entries before were deleted by "
                f"retention on {self.cut_at.date().isoformat()}, entry {self.cut_by})"
            )
        return line


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


def verify(entries: Iterable[AuditEntry], *, cut: AuditEntry | None = None) -> ChainReport:
    """Check the chain in ``seq`` order as given: from its first entry, or, with ``cut``
    (the latest retention entry), from where that entry says retention cut it."""
    head, expected_seq = GENESIS, 1
    anchor = Cut.model_validate(cut.after) if cut is not None else None
    seen_cut = False
    count = 0
    for entry in entries:
        count += 1
        reason = None
        if anchor is not None and count == 1:
            head, expected_seq, reason = _start_after(anchor, entry)
        reason = reason or _fault(entry, expected_seq, head, cut)
        if reason:
            return ChainReport(
                ok=False, entries=count, head=head, broken_at=entry.seq, reason=reason
            )
        seen_cut = seen_cut or (cut is not None and entry.seq == cut.seq)
        head = entry.hash
        expected_seq += 1
    if cut is None or anchor is None:
        return ChainReport(ok=True, entries=count, head=head)
    if not seen_cut:
        return ChainReport(
            ok=False,
            entries=count,
            head=head,
            broken_at=cut.seq,
            reason=f"the retention entry that records the cut before entry "
            f"{anchor.through_seq + 1} is missing",
        )
    return ChainReport(
        ok=True,
        entries=count,
        head=head,
        start=anchor.through_seq + 1,
        cut_at=cut.time,
        cut_by=cut.seq,
    )


def _fault(entry: AuditEntry, expected_seq: int, head: str, cut: AuditEntry | None) -> str | None:
    if entry.seq != expected_seq:
        return f"expected entry {expected_seq}, found {entry.seq}: an entry is missing"
    if entry.prev != head:
        return "its link to the entry before does not match: that entry was altered"
    if entry.computed_hash() != entry.hash:
        return "its content does not match its hash: it was altered"
    if cut is not None and entry.seq == cut.seq and entry.hash != cut.hash:
        return "the retention entry read to find the chain's start is not this one"
    return None


def _start_after(anchor: Cut, first: AuditEntry) -> tuple[str, int, str | None]:
    """(head, expected seq, reason it fails) for the first entry kept after a cut.

    The entry right after the cut links to the recorded hash. A first entry inside
    the cut is one an interrupted pass had yet to delete: retention's own entry
    already records its deletion, so its link back is not checked.
    """
    if first.seq == anchor.through_seq + 1:
        return anchor.through_hash, first.seq, None
    if first.seq <= anchor.through_seq:
        return first.prev, first.seq, None
    missing = f"entries {anchor.through_seq + 1} to {first.seq - 1}"
    return (
        anchor.through_hash,
        anchor.through_seq + 1,
        f"{missing} are missing: retention deleted only up to entry {anchor.through_seq}",
    )
