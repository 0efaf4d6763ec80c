"""What an excerpt of the audit chain shows on its own."""

from __future__ import annotations

from soc.audit import GENESIS, AuditEntry
from soc.evidence import verify_excerpt
from tests.unit.evidence.conftest import Case


def mine(case: Case) -> list[AuditEntry]:
    return [e for e in case.audit if e.target == f"incident:{case.incident.id}"]


def test_an_excerpt_verifies_and_an_empty_one_too(case: Case) -> None:
    entries = mine(case)
    report = verify_excerpt(entries)
    assert report.ok and report.entries == 12 and report.head == entries[-1].hash
    assert verify_excerpt([]).ok and verify_excerpt([]).head == GENESIS


def test_reordered_entries_fail(case: Case) -> None:
    entries = mine(case)
    swapped = [entries[0], entries[2], entries[1], *entries[3:]]
    report = verify_excerpt(swapped)
    assert not report.ok and "out of order" in (report.reason or "")
    assert report.broken_at == entries[1].seq


def test_a_forged_entry_with_a_recomputed_hash_breaks_the_next_consecutive_link(
    case: Case,
) -> None:
    entries = mine(case)
    i = next(i for i in range(len(entries) - 1) if entries[i + 1].seq == entries[i].seq + 1)
    forged = entries[i].model_copy(update={"actor": "intruder"})
    entries[i] = forged.model_copy(update={"hash": forged.computed_hash()})
    report = verify_excerpt(entries)
    assert not report.ok and report.broken_at == entries[i + 1].seq
    assert "link" in (report.reason or "")
