"""The rule catalog (soc.detect.catalog) on each store: versions, search, enablement, the
generation detectors poll, the import of rule files, and the alert counts per rule.

The rules are the project's bundled SigmaHQ rules (soc/detections/rules), copied to a
folder of the test's own where a file is changed as an operator would.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.audit.trail import AuditTrail
from soc.detect.catalog import FILE_ACTOR, RuleCatalog, RuleFilter, sync_files
from soc.detect.ruletext import describe
from soc.errors import Conflict, NotFound
from soc.models import Alert, LogSource, Severity
from soc.settings import DetectSettings
from soc.store import Store
from tests.bundled_rules import BUNDLED_IDS

BUNDLED = Path(__file__).resolve().parents[2] / "soc/detections/rules"
HIVES = "windows/process_creation/proc_creation_win_reg_dumping_sensitive_hives.yml"
HIVES_ID = "fd877b94-9bb5-4191-bb25-d79cbd93c167"
LEAD = "lead.minh"


def catalog_of(store: Store) -> RuleCatalog:
    return RuleCatalog(store, AuditTrail(store))


def hives_text() -> str:
    return (BUNDLED / HIVES).read_text(encoding="utf-8")


async def test_a_rule_gets_a_new_version_per_change_and_keeps_the_old(store: Store) -> None:
    catalog = catalog_of(store)
    text = hives_text()
    [doc] = describe(text)
    assert await catalog.generation() == 0

    first, changed = await catalog.save(LEAD, doc, text, origin="uploaded")
    assert changed and first.revision == 1 and first.created_by == LEAD
    assert first.techniques == ["T1003.002", "T1003.004", "T1003.005"]
    generation = await catalog.generation()
    assert generation > 0

    again, changed = await catalog.save(LEAD, doc, text, origin="uploaded")
    assert not changed and again.revision == 1
    assert await catalog.generation() == generation, "no change, no new generation"

    tuned = text.replace("level: high", "level: critical")
    [tuned_doc] = describe(tuned)
    second, changed = await catalog.save("lead.ioc", tuned_doc, tuned, origin="uploaded")
    assert changed and second.revision == 2 and second.level == "critical"
    assert (second.created_by, second.updated_by) == (LEAD, "lead.ioc")
    assert await catalog.generation() > generation

    versions = await catalog.revisions(HIVES_ID)
    assert [v.revision for v in versions] == [2, 1]
    assert (await catalog.revision(HIVES_ID, 1)).yaml == text
    assert (await catalog.get(HIVES_ID)).yaml == tuned
    with pytest.raises(NotFound):
        await catalog.revision(HIVES_ID, 3)
    with pytest.raises(Conflict):
        await catalog.save(LEAD, doc, text, origin="uploaded", expect_revision=1)

    actions = [
        (e.action, e.target, (e.after or {}).get("revision")) async for e in catalog.audit.each()
    ]
    assert actions == [
        ("rule.create", f"rule:{HIVES_ID}", 1),
        ("rule.update", f"rule:{HIVES_ID}", 2),
    ]


async def test_names_are_kept_and_read_from_the_text_of_entries_saved_without_them(
    store: Store,
) -> None:
    catalog = catalog_of(store)
    text = hives_text().replace("\nid:", "\nname: sensitive_hives\nid:", 1)
    [doc] = describe(text)
    assert doc.name == "sensitive_hives"
    await catalog.save(LEAD, doc, text, origin="uploaded")
    assert (await catalog.get(doc.id or "")).name == "sensitive_hives"
    assert await catalog.names() == {"sensitive_hives"}
    older = text.replace("name: sensitive_hives", "name: older_hives")
    [old] = describe(older)
    old = old.model_copy(update={"id": "11111111-2222-4333-8444-555555555555", "name": None})
    await catalog.save(LEAD, old, older.replace(doc.id or "", old.id or ""), origin="uploaded")
    assert (await catalog.get(old.id or "")).name is None  # as saved before names were kept
    assert await catalog.names() == {"sensitive_hives", "older_hives"}


async def test_enablement_is_a_default_with_per_tenant_overrides(store: Store) -> None:
    catalog = catalog_of(store)
    [doc] = describe(hives_text())
    await catalog.save(LEAD, doc, hives_text(), origin="uploaded")
    before = await catalog.generation()

    entry = await catalog.set_enabled(LEAD, HIVES_ID, False, tenants=["hue-ioc"])
    assert not entry.enabled_for("hue-ioc") and entry.enabled_for("hue-dof")
    assert await catalog.generation() > before

    entry = await catalog.set_enabled(LEAD, HIVES_ID, False, tenants=None)
    assert not entry.enabled_for("hue-dof") and not entry.anywhere
    entry = await catalog.set_enabled(LEAD, HIVES_ID, True, tenants=["hue-dof"])
    assert entry.enabled_for("hue-dof") and not entry.enabled_for("hue-ioc") and entry.anywhere
    # A version keeps the enablement.
    tuned = hives_text().replace("level: high", "level: medium")
    entry, _ = await catalog.save(LEAD, describe(tuned)[0], tuned, origin="uploaded")
    assert entry.revision == 2 and entry.tenants == {"hue-ioc": False, "hue-dof": True}
    with pytest.raises(NotFound):
        await catalog.set_enabled(LEAD, "no-such-rule", True, tenants=None)


async def test_rule_files_are_imported_once_and_changed_files_become_versions(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(BUNDLED, folder)
    settings = DetectSettings(rules=[folder], cache_dir=None)
    catalog = catalog_of(store)
    files = sorted(folder.rglob("*.yml"))

    first = await sync_files(catalog, settings)
    assert set(first.created) == BUNDLED_IDS and not first.refused
    assert len(files) <= len(BUNDLED_IDS)  # a file may hold several documents
    second = await sync_files(catalog, settings)
    assert (second.created, second.updated, second.unchanged) == ([], [], len(BUNDLED_IDS))

    # An operator edits a rule file: the next start makes it the next version.
    path = folder / HIVES
    path.write_text(hives_text().replace("level: high", "level: critical"), encoding="utf-8")
    third = await sync_files(catalog, settings)
    assert third.updated == [HIVES_ID]
    entry = await catalog.get(HIVES_ID)
    assert (entry.revision, entry.origin, entry.level, entry.path) == (2, "file", "critical", HIVES)
    assert entry.updated_by == FILE_ACTOR

    # A lead uploads a version; a later file change does not replace it.
    uploaded = hives_text().replace("level: high", "level: low")
    await catalog.save(LEAD, describe(uploaded)[0], uploaded, origin="uploaded")
    path.write_text(hives_text().replace("level: high", "level: medium"), encoding="utf-8")
    fourth = await sync_files(catalog, settings)
    assert fourth.kept_uploaded == [HIVES_ID] and not fourth.updated
    entry = await catalog.get(HIVES_ID)
    assert (entry.revision, entry.level, entry.file_differs) == (3, "low", True)

    imports = [e async for e in catalog.audit.each() if e.action == "rule.import_files"]
    assert len(imports) == 2 and imports[1].after == {
        "created": [],
        "updated": [HIVES_ID],
        "rules": [
            {"id": HIVES_ID, "revision": 2, "sha256": imports[1].after["rules"][0]["sha256"]}
        ],
    }


async def test_the_catalog_is_searched_by_text_tag_technique_level_and_logsource(
    store: Store, tmp_path: Path
) -> None:
    catalog = catalog_of(store)
    await sync_files(catalog, DetectSettings(rules=[BUNDLED], cache_dir=None))

    async def ids(**f: str) -> set[str]:
        found, after = await catalog.search(RuleFilter.model_validate(f), limit=100)
        assert after is None
        return {e.id for e in found}

    assert HIVES_ID in await ids(technique="T1003.002")
    assert HIVES_ID in await ids(tag="attack.t1003.004")
    assert HIVES_ID in await ids(q="sensitive hives")
    assert await ids(q="sensitive hives", level="low") == set()
    by_category = await ids(category="process_creation", product="windows")
    assert HIVES_ID in by_category and len(by_category) == 5
    everything = await ids()
    assert everything == BUNDLED_IDS
    page, after = await catalog.search(RuleFilter(), limit=7)
    rest: list[str] = []
    while after is not None:
        more, after = await catalog.search(RuleFilter(), limit=7, after=after)
        rest += [e.id for e in more]
    assert len(page) == 7 and {e.id for e in page} | set(rest) == everything


async def test_alerts_are_counted_per_rule_over_30_and_7_days(store: Store) -> None:
    now = datetime(2024, 3, 1, tzinfo=UTC)

    def alert(rule: str, tenant: str, days_ago: float, n: int) -> Alert:
        return Alert(
            id=f"{rule}-{tenant}-{n}",
            tenant=tenant,
            rule_id=rule,
            rule_title=rule,
            severity=Severity.high,
            event_id=f"e{n}",
            time=now - timedelta(days=days_ago),
            created=now,
            source="test",
            logsource=LogSource(product="windows"),
        )

    await store.put_alerts(
        [
            alert("r1", "hue-ioc", 1, 1),
            alert("r1", "hue-ioc", 10, 2),
            alert("r1", "hue-ioc", 40, 3),
            alert("r1", "hue-dof", 2, 4),
            alert("r2", "hue-ioc", 20, 5),
        ]
    )
    counts = await store.rule_alert_counts(
        tenants=["hue-ioc"], since=now - timedelta(days=30), recent=now - timedelta(days=7)
    )
    assert {k: (c.alerts, c.recent, c.last) for k, c in counts.items()} == {
        "r1": (2, 1, now - timedelta(days=1)),
        "r2": (1, 0, now - timedelta(days=20)),
    }
    every_tenant = await store.rule_alert_counts(
        tenants=None, since=now - timedelta(days=30), recent=now - timedelta(days=7)
    )
    assert (every_tenant["r1"].alerts, every_tenant["r1"].recent) == (3, 2)
    assert await store.rule_alert_counts(tenants=[], since=now, recent=now) == {}
