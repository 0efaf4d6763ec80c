"""Recorded events and indicators taken from them, for the indicator matching tests.

The SSH brute force of the recorded auth.log (tests.correlating: its attacker's address)
and the bundled slice of the recorded LSASS campaign (the SHA-256 of the ``whoami.exe``
the attacker ran, from Sysmon's ``Hashes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc.ingest.ndjson import parse_ndjson
from soc.intel.models import Indicator, IndicatorType, Tlp
from soc.models import Event
from tests.correlating import ATTACKER, TENANT, auth_events
from tests.e2e.harness import sample_lines

__all__ = [
    "ATTACKER",
    "TENANT",
    "Recorded",
    "auth_events",
    "indicator",
    "recorded",
    "whoami_sha256",
    "windows_events",
]

RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)


def windows_events() -> list[Event]:
    """The bundled slice of the recorded campaign, as tenant ``TENANT``'s events."""
    parsed = parse_ndjson(
        b"\n".join(sample_lines()),
        tenant=TENANT,
        source="replay",
        received=RECEIVED,
        max_line_bytes=1 << 20,
    )
    return list({e.id: e for e in parsed.events}.values())


def whoami_sha256(events: list[Event]) -> str:
    """The SHA-256 of the first ``whoami.exe`` the campaign started (Sysmon event 1)."""
    for e in events:
        f = e.fields
        if str(f.get("Image", "")).lower().endswith("\\whoami.exe") and "Hashes" in f:
            for part in str(f["Hashes"]).split(","):
                alg, _, value = part.partition("=")
                if alg == "SHA256":
                    return value.lower()
    raise AssertionError("no whoami.exe with hashes in the recorded slice")


def indicator(
    type: IndicatorType,
    value: str,
    *,
    source: str = "national-feed",
    tenant: str = "*",
    tlp: Tlp = "amber",
    confidence: int | None = 90,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> Indicator:
    ident = Indicator.make_id(source, type, value)
    return Indicator(
        id=ident,
        tenant=tenant,
        type=type,
        value=value,
        source=source,
        stix_id=f"indicator--{ident[4:12]}-0000-4000-8000-000000000000",
        confidence=confidence,
        tlp=tlp,
        valid_from=valid_from or datetime.now(UTC) - timedelta(days=1),
        valid_until=valid_until,
    )


@dataclass
class Recorded:
    """What the indicator tests match: the brute force of the recorded auth.log and the
    ``whoami.exe`` of the recorded campaign's slice."""

    auth: list[Event]
    attacks: list[Event]
    """The attacker's events."""
    others: list[str]
    """The log's other source addresses, sorted."""
    windows: list[Event]
    sha256: str
    """The SHA-256 of ``whoami.exe``."""
    with_hash: list[Event]
    """The campaign's events that hold it."""


def recorded(shared_dir: Path) -> Recorded:
    auth = auth_events(shared_dir)
    attacks = [e for e in auth if e.fields.get("src_ip") == ATTACKER]
    others = sorted({str(e.fields["src_ip"]) for e in auth if "src_ip" in e.fields} - {ATTACKER})
    windows = windows_events()
    sha256 = whoami_sha256(windows)
    with_hash = [e for e in windows if sha256 in str(e.fields.get("Hashes", "")).lower()]
    assert len(attacks) > 100 and with_hash and len(others) >= 2
    return Recorded(auth, attacks, others, windows, sha256, with_hash)
