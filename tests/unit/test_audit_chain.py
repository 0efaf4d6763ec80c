"""The audit chain detects an altered, removed or reordered entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.audit import GENESIS, AuditEntry, seal, verify

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for i in range(n):
        out.append(
            seal(
                out[-1] if out else None,
                time=T0 + timedelta(minutes=i),
                actor="analyst.hoa",
                tenant="hue-ioc",
                action="alert.status",
                target=f"alert:{i:032x}",
                before={"status": "open"},
                after={"status": "acknowledged"},
            )
        )
    return out


def test_an_intact_chain_verifies() -> None:
    entries = chain(5)
    report = verify(entries)
    assert report.ok and report.entries == 5 and report.head == entries[-1].hash
    assert entries[0].prev == GENESIS and entries[1].prev == entries[0].hash
    assert verify([]).ok and verify([]).head == GENESIS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "someone.else"),
        ("after", {"status": "closed"}),
        ("tenant", "hue-dof"),
        ("time", T0 + timedelta(days=1)),
        ("target", "alert:" + "f" * 32),
    ],
)
def test_an_altered_entry_is_found(field: str, value: object) -> None:
    entries = chain(5)
    entries[2] = entries[2].model_copy(update={field: value})
    report = verify(entries)
    assert not report.ok and report.broken_at == 3 and "altered" in (report.reason or "")
    assert report.head == entries[1].hash


def test_an_altered_entry_with_a_recomputed_hash_breaks_the_next_link() -> None:
    entries = chain(5)
    forged = entries[2].model_copy(update={"actor": "intruder"})
    entries[2] = forged.model_copy(update={"hash": forged.computed_hash()})
    report = verify(entries)
    assert not report.ok and report.broken_at == 4


def test_a_removed_or_reordered_entry_is_found() -> None:
    entries = chain(5)
    report = verify(entries[:2] + entries[3:])
    assert not report.ok and report.broken_at == 4 and "missing" in (report.reason or "")
    swapped = [entries[0], entries[2], entries[1], *entries[3:]]
    assert verify(swapped).broken_at == 3
    assert not verify(entries[1:]).ok, "a chain must start at its first entry"
