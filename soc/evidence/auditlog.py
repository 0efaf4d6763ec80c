"""Audit entries as NDJSON files, and their verification.

    audit_ndjson(entries) -> bytes              # one entry per line, hash and prev included
    verify_audit_file(data) -> ChainReport      # the whole chain, from its genesis
    verify_audit_file(data, excerpt=True)       # an excerpt, e.g. a bundle's audit.ndjson

An excerpt (the entries of one incident) skips the entries of other targets,
so it cannot be verified as a chain from the genesis. What it can show alone:
each entry's content matches its own hash, its ``seq`` numbers ascend, and
where two entries are consecutive in the chain the link between them holds.
What it cannot show alone is that no entry of the incident was left out: for
that, someone holding the full chain verifies it (``soc audit verify``) and
finds each excerpt entry's ``seq`` and ``hash`` in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import ValidationError

from soc.audit import GENESIS, AuditEntry, ChainReport, verify


def audit_ndjson(entries: Iterable[AuditEntry]) -> bytes:
    return b"".join(e.model_dump_json().encode() + b"\n" for e in entries)


def read_audit_file(data: bytes) -> tuple[list[AuditEntry], ChainReport | None]:
    """The entries of an NDJSON file, or those before the first bad line and its report."""
    entries: list[AuditEntry] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(AuditEntry.model_validate_json(line))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            return entries, ChainReport(
                ok=False,
                entries=len(entries),
                head=entries[-1].hash if entries else GENESIS,
                reason=f"line {number} is not an audit entry: {where}: {first['msg']}",
            )
    return entries, None


def verify_audit_file(data: bytes, *, excerpt: bool = False) -> ChainReport:
    """Verify an NDJSON file of audit entries: a whole chain, or an excerpt of one."""
    entries, refused = read_audit_file(data)
    if refused is not None:
        return refused
    return verify_excerpt(entries) if excerpt else verify(entries)


def verify_excerpt(entries: Sequence[AuditEntry]) -> ChainReport:
    """Check what an excerpt can show alone; see the module docstring."""
    previous: AuditEntry | None = None
    for count, entry in enumerate(entries, start=1):
        reason = None
        if previous is not None and entry.seq <= previous.seq:
            reason = f"entry {entry.seq} follows entry {previous.seq}: out of order"
        elif previous is not None and entry.seq == previous.seq + 1 and entry.prev != previous.hash:
            reason = "its link to the entry before does not match: that entry was altered"
        elif entry.computed_hash() != entry.hash:
            reason = "its content does not match its hash: it was altered"
        if reason is not None:
            head = previous.hash if previous is not None else GENESIS
            return ChainReport(
                ok=False, entries=count, head=head, broken_at=entry.seq, reason=reason
            )
        previous = entry
    return ChainReport(
        ok=True, entries=len(entries), head=previous.hash if previous is not None else GENESIS
    )
