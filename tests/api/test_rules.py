"""The rules API: who may read and change rules, for which tenants, what is refused and
why, rule packs (one bad file, a path that climbs out), versions, and the audit trail.

The rules are SigmaHQ's, not bundled (``../shared/sigma``), and the bundled ones the
service imports at start.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

from soc.models import Alert, LogSource, Severity, utcnow
from tests.api._access import A, Api, B
from tests.bundled_rules import BUNDLED_IDS

SIGMA = "sigma/rules/windows/process_creation/"
DISCOVERY = SIGMA + "proc_creation_win_susp_local_system_owner_account_discovery.yml"
DISCOVERY_ID = "502b42de-4306-40b4-9596-6f590c81f073"
WHOAMI_ALL = SIGMA + "proc_creation_win_whoami_all_execution.yml"
WHOAMI_ALL_ID = "c248c896-e412-4279-8c15-1c558067b6fa"
HIVES_ID = "fd877b94-9bb5-4191-bb25-d79cbd93c167"
"""Bundled: imported at start."""
LOGIN_AFTER_GUESSING = "13c4d967-613a-4a1b-aeaf-99ae9ab7f0b9"
FAILURES_BEFORE_SUCCESS = "9949726c-7986-4f2a-8f7b-125a0ff55375"
SSH_FAILURE = "7be5b1cc-c45c-4d7e-b390-5c69d61d437f"
SSH_LOGIN = "910ae5b4-13de-42ea-9759-4fc45893f16b"
"""The city's bundled correlation chain and its base rules."""


def text(shared_dir: Path, rule: str) -> str:
    return (shared_dir / rule).read_text(encoding="utf-8")


async def test_analysts_read_rules_viewers_and_responders_do_not(api: Api) -> None:
    for who in ("analyst.hoa", "lead.minh", "admin.root"):
        r = await api.client.get(
            "/api/v1/rules", params={"limit": 500}, headers=await api.as_user(who)
        )
        assert r.status_code == 200, (who, r.text)
        items = r.json()["items"]
        assert {i["id"] for i in items} == BUNDLED_IDS and HIVES_ID in BUNDLED_IDS
        counts = {i["counts"] is None for i in items}
        assert counts == ({True} if who == "admin.root" else {False}), "admins see no data"
    for who in ("viewer.an", "pctp.tuan"):
        r = await api.client.get("/api/v1/rules", headers=await api.as_user(who))
        assert r.status_code == 403, who
    r = await api.client.get(
        "/api/v1/rules", params={"technique": "T1003.002"}, headers=await api.as_user("analyst.hoa")
    )
    assert [i["id"] for i in r.json()["items"]] == [HIVES_ID]
    detail = await api.client.get(
        f"/api/v1/rules/{HIVES_ID}", headers=await api.as_user("analyst.hoa")
    )
    body = detail.json()
    assert body["yaml"].startswith("title: Dumping of Sensitive Hives")
    assert body["errors"] == [] and body["origin"] == "file"
    assert [v["revision"] for v in body["versions"]] == [1]
    r = await api.client.post(
        "/api/v1/rules", json={"yaml": body["yaml"]}, headers=await api.as_user("analyst.hoa")
    )
    assert r.status_code == 403


async def test_a_lead_of_one_tenant_adds_rules_for_it_and_changes_no_one_elses(
    api: Api, shared_dir: Path
) -> None:
    lead_a = await api.as_user("lead.ioc")
    r = await api.client.post(
        "/api/v1/rules", json={"yaml": text(shared_dir, DISCOVERY)}, headers=lead_a
    )
    assert r.status_code == 201, r.text
    assert r.json()["rules"] == [
        {
            "id": DISCOVERY_ID,
            "kind": "rule",
            "title": "Local Accounts Discovery",
            "revision": 1,
            "changed": True,
        }
    ]
    r = await api.client.get(f"/api/v1/rules/{DISCOVERY_ID}", headers=lead_a)
    assert (r.json()["enabled"], r.json()["tenants"]) == (False, {A: True}), "on for A only"

    changed = text(shared_dir, DISCOVERY).replace("level: low", "level: medium")
    r = await api.client.put(
        f"/api/v1/rules/{DISCOVERY_ID}", json={"yaml": changed}, headers=lead_a
    )
    assert r.status_code == 403, "a change reaches every tenant"
    r = await api.client.post("/api/v1/rules", json={"yaml": changed}, headers=lead_a)
    assert r.status_code == 400 and "every tenant" in r.json()["detail"]
    for body in ({"tenants": [B]}, {"tenants": None}):
        r = await api.client.post(f"/api/v1/rules/{HIVES_ID}/disable", json=body, headers=lead_a)
        assert r.status_code == 403, body
    r = await api.client.post(
        f"/api/v1/rules/{HIVES_ID}/disable", json={"tenants": [A]}, headers=lead_a
    )
    assert r.status_code == 200 and r.json()["tenants"] == {A: False} and r.json()["enabled"]

    lead = await api.as_user("lead.minh")
    r = await api.client.put(
        f"/api/v1/rules/{DISCOVERY_ID}", json={"yaml": changed, "revision": 1}, headers=lead
    )
    assert r.status_code == 200 and r.json()["rules"][0]["revision"] == 2
    r = await api.client.put(
        f"/api/v1/rules/{DISCOVERY_ID}", json={"yaml": changed, "revision": 1}, headers=lead
    )
    assert r.status_code == 409, "based on a revision that moved"
    r = await api.client.get(f"/api/v1/rules/{DISCOVERY_ID}/versions/1", headers=lead)
    assert r.status_code == 200 and r.json()["yaml"] == text(shared_dir, DISCOVERY)
    assert r.json()["actor"] == "lead.ioc"
    r = await api.client.put(
        f"/api/v1/rules/{DISCOVERY_ID}", json={"yaml": text(shared_dir, WHOAMI_ALL)}, headers=lead
    )
    assert r.status_code == 400 and DISCOVERY_ID in r.json()["detail"]

    audited = [
        (actor, action, target)
        for actor, action, target in await api.audit_actions()
        if action.startswith("rule.")
    ]
    assert audited == [
        ("soc:rule-files", "rule.import_files", "rules:files"),
        ("lead.ioc", "rule.create", f"rule:{DISCOVERY_ID}"),
        ("lead.ioc", "rule.disable", f"rule:{HIVES_ID}"),
        ("lead.minh", "rule.update", f"rule:{DISCOVERY_ID}"),
    ]
    entries = [e async for e in api.service.audit.each() if e.action == "rule.update"]
    assert entries[0].after is not None and entries[0].after["revision"] == 2
    assert len(str(entries[0].after["sha256"])) == 64


async def test_a_rule_that_does_not_compile_is_refused_saying_why(
    api: Api, shared_dir: Path
) -> None:
    lead = await api.as_user("lead.minh")
    good = text(shared_dir, WHOAMI_ALL)
    cases = {
        "title: [unclosed": "invalid YAML",
        good.replace("condition: all of selection_main_*", "condition: selection_main and"): (
            "SigmaConditionError"
        ),
        good.replace(f"id: {WHOAMI_ALL_ID}\n", ""): "has no id",
        "- just\n- a list\n": "mapping",
    }
    for yaml_text, reason in cases.items():
        r = await api.client.post("/api/v1/rules", json={"yaml": yaml_text}, headers=lead)
        assert r.status_code == 400, (reason, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert reason in r.json()["detail"], (reason, r.json()["detail"])
    r = await api.client.get("/api/v1/rules", params={"q": "whoami all"}, headers=lead)
    assert r.json()["items"] == [], "nothing refused was saved"


def pack(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(name, content)
    return out.getvalue()


async def test_a_pack_reports_each_file_and_refuses_paths_that_climb_out(
    api: Api, shared_dir: Path
) -> None:
    lead = await api.as_user("lead.minh")
    good = text(shared_dir, WHOAMI_ALL)
    broken = text(shared_dir, DISCOVERY).replace("condition:", "condition: nosuch and")
    body = pack(
        {
            "rules/windows/whoami_all.yml": good,
            "rules/windows/broken.yml": broken,
            "../../etc/evil.yml": good,
            "/abs/evil.yml": good,
            "LICENSE.Detection.Rules.md": "Detection Rule License (DRL) 1.1",
        }
    )
    r = await api.client.post(
        "/api/v1/rules/pack", content=body, headers={**lead, "Content-Type": "application/zip"}
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["accepted"], report["refused"]) == (1, 3)
    assert report["skipped"] == ["LICENSE.Detection.Rules.md"]
    by_name = {f["name"]: f for f in report["files"]}
    assert by_name["rules/windows/whoami_all.yml"]["rules"][0]["id"] == WHOAMI_ALL_ID
    assert "nosuch" in by_name["rules/windows/broken.yml"]["reason"]
    assert "climbs out" in by_name["../../etc/evil.yml"]["reason"]
    assert "absolute" in by_name["/abs/evil.yml"]["reason"]
    r = await api.client.get("/api/v1/rules", params={"q": "whoami"}, headers=lead)
    assert WHOAMI_ALL_ID in {i["id"] for i in r.json()["items"]}

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.yml", "#" * 900_000)
    r = await api.client.post("/api/v1/rules/pack", content=bomb.getvalue(), headers=lead)
    assert r.status_code == 200 and "compressed more than" in r.json()["files"][0]["reason"]
    r = await api.client.post("/api/v1/rules/pack", content=b"not a zip", headers=lead)
    assert r.status_code == 400 and "not a zip" in r.json()["detail"]


def correlation(rules: list[str], rule_id: str) -> str:
    return f"""title: Failures from one address
id: {rule_id}
correlation:
    type: event_count
    rules: {rules}
    group-by: [src_ip]
    timespan: 10m
    condition:
        gte: 5
level: high
"""


def named_rule(name: str, rule_id: str) -> str:
    return f"""title: A rule named {name}
id: {rule_id}
name: {name}
logsource:
    product: linux
    service: sshd
detection:
    selection:
        message|contains: Failed password
    condition: selection
level: low
"""


async def test_an_upload_warns_of_the_rules_it_names_that_are_nowhere(api: Api) -> None:
    """By id or by name, in the catalog (the bundled ones) or in the same pack, in any
    order of its files: found. Named nowhere: accepted, with a warning saying which."""
    lead = await api.as_user("lead.minh")
    rules = ["lnx_sshd_password_failure", SSH_LOGIN, "no_such_rule"]
    r = await api.client.post(
        "/api/v1/rules",
        json={"yaml": correlation(rules, "6a1e3c57-3f0a-4d0e-9c43-0d6b8a5e1f01")},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    warned = [w for w in r.json()["warnings"] if w["validator"] == "references"]
    assert len(warned) == 1 and "'no_such_rule'" in warned[0]["description"], warned
    assert warned[0]["rule_id"] == "6a1e3c57-3f0a-4d0e-9c43-0d6b8a5e1f01"
    page = await api.client.get("/api/v1/rules/6a1e3c57-3f0a-4d0e-9c43-0d6b8a5e1f01", headers=lead)
    assert [
        w["description"] for w in page.json()["warnings"] if w["validator"] == "references"
    ] == [warned[0]["description"]]  # the rule's page says it too, until the rule arrives

    body = pack(
        {
            "a/correlation.yml": correlation(
                ["later_rule", "8d7e0a61-2c4b-4e9f-a1d3-5b6c7d8e9f02", "still_missing"],
                "6a1e3c57-3f0a-4d0e-9c43-0d6b8a5e1f03",
            ),
            "b/later.yml": named_rule("later_rule", "8d7e0a61-2c4b-4e9f-a1d3-5b6c7d8e9f04"),
            "c/by_id.yml": named_rule("other_rule", "8d7e0a61-2c4b-4e9f-a1d3-5b6c7d8e9f02"),
        }
    )
    r = await api.client.post(
        "/api/v1/rules/pack", content=body, headers={**lead, "Content-Type": "application/zip"}
    )
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    by_name = {f["name"]: f for f in r.json()["files"]}
    warned = [
        w["description"]
        for f in by_name.values()
        for w in f["warnings"]
        if w["validator"] == "references"
    ]
    assert len(warned) == 1 and "'still_missing'" in warned[0], warned
    assert any(w["validator"] == "references" for w in by_name["a/correlation.yml"]["warnings"])
    r = await api.client.post(
        "/api/v1/rules", json={"yaml": named_rule("no_such_rule", str(uuid.uuid4()))}, headers=lead
    )
    assert r.status_code == 201
    page = await api.client.get("/api/v1/rules/6a1e3c57-3f0a-4d0e-9c43-0d6b8a5e1f01", headers=lead)
    assert not [w for w in page.json()["warnings"] if w["validator"] == "references"]


async def test_a_lead_tests_a_rule_as_a_retro_hunt_preview(api: Api) -> None:
    lead = await api.as_user("lead.minh")
    r = await api.client.post(f"/api/v1/rules/{HIVES_ID}/test", json={}, headers=lead)
    assert r.status_code == 202, r.text
    hunt = r.json()
    assert hunt["mode"] == "preview" and hunt["rules"][0]["id"] == HIVES_ID
    r = await api.client.get(f"/api/v1/hunts/{hunt['id']}", headers=lead)
    assert r.status_code == 200
    admin = await api.as_user("admin.root")
    r = await api.client.post(f"/api/v1/rules/{HIVES_ID}/test", json={}, headers=admin)
    assert r.status_code == 403, "a test run reads events: admins see no data"
    r = await api.client.post("/api/v1/rules/nope/test", json={}, headers=lead)
    assert r.status_code == 404


async def test_a_correlation_is_tested_with_the_rules_it_stands_on(api: Api) -> None:
    """The city's login-after-guessing chain: the hunt runs the correlation, its silent
    brute-force stage, and the two base rules they name, linked across the catalog."""
    lead = await api.as_user("lead.minh")
    r = await api.client.post(f"/api/v1/rules/{LOGIN_AFTER_GUESSING}/test", json={}, headers=lead)
    assert r.status_code == 202, r.text
    assert {rule["id"] for rule in r.json()["rules"]} == {
        LOGIN_AFTER_GUESSING,
        FAILURES_BEFORE_SUCCESS,
        SSH_FAILURE,
        SSH_LOGIN,
    }


async def test_the_alert_counts_are_the_callers_tenants_only(api: Api) -> None:
    now = utcnow()

    def alert(tenant: str, days_ago: int) -> Alert:
        return Alert(
            id=f"{tenant}-{days_ago}",
            tenant=tenant,
            rule_id=HIVES_ID,
            rule_title="Dumping of Sensitive Hives Via Reg.EXE",
            severity=Severity.high,
            event_id=f"event-{tenant}-{days_ago}",
            time=now - timedelta(days=days_ago),
            created=now,
            source="test",
            logsource=LogSource(product="windows", category="process_creation"),
        )

    await api.service.store.put_alerts([alert(A, 1), alert(A, 12), alert(B, 2), alert(B, 3)])
    seen = {}
    for who in ("analyst.hoa", "analyst.dof", "lead.minh"):
        r = await api.client.get(
            "/api/v1/rules", params={"technique": "T1003.002"}, headers=await api.as_user(who)
        )
        [item] = r.json()["items"]
        seen[who] = (item["counts"]["alerts_7d"], item["counts"]["alerts_30d"])
    assert seen == {"analyst.hoa": (1, 2), "analyst.dof": (2, 2), "lead.minh": (3, 4)}


async def test_a_rules_page_lists_the_catalogs_filters_that_apply_to_it(api: Api) -> None:
    """A filter uploaded to the catalog names the bundled hives rule: the rule's detail
    lists it with its tenants; a rule it does not name lists none."""
    admin = await api.as_user("admin.root")
    hives = await api.client.get(f"/api/v1/rules/{HIVES_ID}", headers=admin)
    assert hives.json()["filters"] == []
    filter_yaml = f"""title: Backups of the registry by the city's backup agent
id: 0d3f5a8e-2b6c-4d19-9f47-3c1e8a2b7d65
logsource:
    category: process_creation
    product: windows
filter:
    rules:
        - {HIVES_ID}
    selection:
        ParentImage|endswith: '\\\\hue-backup-agent.exe'
    condition: not selection
tenants:
    - {A}
"""
    r = await api.client.post("/api/v1/rules", json={"yaml": filter_yaml}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["rules"][0]["kind"] == "filter"
    body = (await api.client.get(f"/api/v1/rules/{HIVES_ID}", headers=admin)).json()
    assert body["filters"] == [
        {
            "id": "0d3f5a8e-2b6c-4d19-9f47-3c1e8a2b7d65",
            "title": "Backups of the registry by the city's backup agent",
            "tenants": [A],
        }
    ]
    other = next(i for i in BUNDLED_IDS if i != HIVES_ID)
    assert (await api.client.get(f"/api/v1/rules/{other}", headers=admin)).json()["filters"] == []
