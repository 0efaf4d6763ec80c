"""The ATT&CK matrix of soc.detect.coverage, drawn from rules' tags: the bundled rules as
they are, and one of them as a site's own copy that names no tactic."""

from __future__ import annotations

from pathlib import Path

from soc.detect.catalog import RuleEntry
from soc.detect.coverage import TACTICS, UNKNOWN_TACTIC, matrix, tactics_of
from soc.detect.ruletext import describe
from soc.models import utcnow

BUNDLED = Path(__file__).resolve().parents[2] / "soc/detections/rules"
HIVES = BUNDLED / "windows/process_creation/proc_creation_win_reg_dumping_sensitive_hives.yml"
GETSYSTEM = BUNDLED / "windows/process_creation/proc_creation_win_hktl_meterpreter_getsystem.yml"


def entry(text: str, *, enabled: bool = True) -> RuleEntry:
    (doc,) = describe(text)
    assert doc.id is not None
    now = utcnow()
    return RuleEntry(
        id=doc.id,
        kind=doc.kind,
        revision=1,
        yaml=text,
        sha256="0" * 64,
        origin="file",
        title=doc.title,
        level=doc.level,
        tags=doc.tags,
        techniques=doc.techniques,
        enabled=enabled,
        created=now,
        created_by="test",
        updated=now,
        updated_by="test",
    )


def test_techniques_sit_under_their_rules_tactics_and_sub_techniques_under_the_technique() -> None:
    hives = entry(HIVES.read_text("utf-8"))
    getsystem = entry(GETSYSTEM.read_text("utf-8"), enabled=False)
    columns, rules = matrix([hives, getsystem], lambda e: e.enabled, {hives.id: 4})
    assert [c.tactic for c in columns] == list(TACTICS), "no unknown column when unused"
    cells = {(c.tactic, cell.technique): cell for c in columns for cell in c.cells}
    assert set(cells) == {
        ("credential-access", "T1003"),
        ("privilege-escalation", "T1134"),
        ("stealth", "T1134"),
    }
    t1003 = cells["credential-access", "T1003"]
    assert t1003.subtechniques == ["T1003.002", "T1003.004", "T1003.005"]
    assert (t1003.rules, t1003.enabled_rules, t1003.alerts) == ([hives.id], 1, 4)
    assert cells["stealth", "T1134"].enabled_rules == 0
    assert [r.title for r in rules] == [hives.title, getsystem.title], "by title"
    assert [r.enabled for r in rules] == [True, False]


def test_a_rule_naming_no_tactic_goes_under_the_unknown_column() -> None:
    text = HIVES.read_text("utf-8").replace("    - attack.credential-access\n", "")
    own = entry(text)
    assert tactics_of(own.tags) == []
    columns, _ = matrix([own], lambda e: True, {})
    assert columns[-1].tactic == UNKNOWN_TACTIC
    assert [c.technique for c in columns[-1].cells] == ["T1003"]
    assert all(not c.cells for c in columns[:-1])


def test_older_tactic_tags_with_underscores_are_read() -> None:
    assert tactics_of(["attack.credential_access", "attack.t1003", "attack.g0007"]) == [
        "credential-access"
    ]
