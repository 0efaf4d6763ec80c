"""ATT&CK coverage of the rule catalog: tactics as columns, techniques as cells.

No ATT&CK data ships with the service (pySigma's ``sigma.data.mitre_attack`` downloads
MITRE's bundle at run time, which an air-gapped SOC cannot do, and no installed package
carries it), so the matrix is drawn from the rules' own tags, as SigmaHQ writes them:
``attack.t1003.001`` names a technique, ``attack.credential-access`` a tactic. A rule's
techniques are placed under every tactic the same rule is tagged with; a technique whose
rules name no tactic goes under :data:`UNKNOWN_TACTIC`. Sub-techniques are counted in
their technique's cell (T1003.001 and T1003.002 both shade T1003), which lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pydantic import BaseModel, Field

from soc.detect.catalog import RuleEntry

TACTICS = (
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "stealth",
    "defense-impairment",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
)
"""ATT&CK Enterprise's tactics in the matrix's order; ATT&CK v18 split defense-evasion into
stealth and defense-impairment, and SigmaHQ's rules carry both generations of tags."""
UNKNOWN_TACTIC = "unknown"
_TECHNIQUE = re.compile(r"^(T\d{4})(?:\.\d{3})?$")


class CoverageRule(BaseModel):
    id: str
    title: str
    level: str | None
    enabled: bool
    """On for the tenants asked about (any of them)."""
    techniques: list[str]
    alerts: int = 0
    """Its alerts in the period, in the tenants asked about."""


class CoverageCell(BaseModel):
    technique: str
    """The technique (T1003); its sub-techniques' rules count here too."""
    subtechniques: list[str]
    """The sub-techniques tagged on its rules (T1003.001...), sorted."""
    rules: list[str]
    """Ids of the rules tagged with it or one of its sub-techniques."""
    enabled_rules: int
    alerts: int


class CoverageColumn(BaseModel):
    tactic: str
    """One of :data:`TACTICS`, or :data:`UNKNOWN_TACTIC`."""
    cells: list[CoverageCell] = Field(default_factory=list)


def tactics_of(tags: Iterable[str]) -> list[str]:
    """The ATT&CK tactics among a rule's tags (``attack.credential_access`` is read too)."""
    found = {t.removeprefix("attack.").replace("_", "-") for t in tags if t.startswith("attack.")}
    return [t for t in TACTICS if t in found]


def matrix(
    entries: Iterable[RuleEntry], enabled: Callable[[RuleEntry], bool], alerts: dict[str, int]
) -> tuple[list[CoverageColumn], list[CoverageRule]]:
    """The columns (every tactic, in order, then the unknown one if used) and the rules that
    fill them; ``enabled`` tells whether a rule is on where the caller looks."""
    rules: dict[str, CoverageRule] = {}
    cells: dict[tuple[str, str], set[str]] = {}
    subs: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        techniques = [t for t in entry.techniques if _TECHNIQUE.match(t)]
        if not techniques:
            continue
        rules[entry.id] = CoverageRule(
            id=entry.id,
            title=entry.title,
            level=entry.level,
            enabled=enabled(entry),
            techniques=techniques,
            alerts=alerts.get(entry.id, 0),
        )
        for tactic in tactics_of(entry.tags) or [UNKNOWN_TACTIC]:
            for technique in techniques:
                parent = technique.split(".")[0]
                cells.setdefault((tactic, parent), set()).add(entry.id)
                if parent != technique:
                    subs.setdefault((tactic, parent), set()).add(technique)
    columns = []
    for tactic in (*TACTICS, UNKNOWN_TACTIC):
        column = CoverageColumn(tactic=tactic)
        for (where, technique), ids in sorted(cells.items()):
            if where != tactic:
                continue
            column.cells.append(
                CoverageCell(
                    technique=technique,
                    subtechniques=sorted(subs.get((tactic, technique), ())),
                    rules=sorted(ids, key=lambda i: (rules[i].title, i)),
                    enabled_rules=sum(rules[i].enabled for i in ids),
                    alerts=sum(rules[i].alerts for i in ids),
                )
            )
        if tactic != UNKNOWN_TACTIC or column.cells:
            columns.append(column)
    return columns, sorted(rules.values(), key=lambda r: (r.title, r.id))
