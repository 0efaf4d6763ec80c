"""Sigma filters in hunts: `soc hunt` over files and a retro-hunt run the detector's engine,
so a filter loaded beside the rules removes the same matches there.

The rules are the shipped ones; the events the bundled OTRF slice (as a file for
`soc hunt`, stored on both stores for the retro-hunt). The filter, scoped to one
tenant, excludes SYSTEM's rundll32 from "Potential Meterpreter/CobaltStrike
Activity": that match is gone for the tenant, and kept for another tenant and
for every other rule.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.cli import main
from soc.detect.rule import make_alert
from soc.hunt.retro import retro_hunt
from soc.hunt.rules import HuntRules, hunt_rules
from soc.settings import DetectSettings
from soc.store import Store
from tests.contract._events import A, recorded
from tests.hunt.test_retro_hunt import SCOPE

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "soc/detections/rules"
METERPRETER = "15619216-e993-4721-b590-4c520615a67d"
EVENTS = recorded()


def filter_folder(tmp_path: Path, tenant: str) -> Path:
    folder = tmp_path / "filters"
    folder.mkdir(exist_ok=True)
    (folder / "mf_services_rundll32.yml").write_text(
        "title: Services start rundll32 as SYSTEM here\n"
        "id: 5a1e4f0c-7d55-4c8e-9d0b-6d3f7e0b2a11\n"
        f"tenants: [{tenant}]\n"
        "logsource: {product: windows, category: process_creation}\n"
        "filter:\n"
        f"    rules: [{METERPRETER}]\n"
        "    selection:\n"
        "        User|endswith: '\\SYSTEM'\n"
        "        ParentImage|endswith: '\\services.exe'\n"
        "    condition: not selection\n"
    )
    return folder


def sample() -> Path:
    path = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz")
    assert isinstance(path, Path)
    return path


def soc_hunt(tmp_path: Path, *args: str) -> set[tuple[str, str]]:
    """(rule id, alert id) of each match `soc hunt` prints."""
    done = CliRunner().invoke(main, ["hunt", "--rules", str(RULES), *args, str(sample())])
    assert done.exit_code == 0, done.output
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {(m["rule_id"], m["alert_id"]) for m in printed}


def test_soc_hunt_over_files_applies_the_filters_of_the_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOC_DETECT__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    filters = filter_folder(tmp_path, "police-north")
    plain = soc_hunt(tmp_path, "--tenant", "police-north")
    filtered = soc_hunt(tmp_path, "--rules", str(filters), "--tenant", "police-north")
    other = soc_hunt(tmp_path, "--rules", str(filters), "--tenant", "water-south")
    assert sorted(rule for rule, _ in plain - filtered) == [METERPRETER]
    assert filtered < plain and any(rule == METERPRETER for rule, _ in filtered)
    assert other == soc_hunt(tmp_path, "--tenant", "water-south")


def matches(rules: HuntRules) -> set[str]:
    """The alert ids the engine's matching gives on the stored events."""
    engine = rules.engine()
    return {make_alert(rule, e).id for e in EVENTS for rule in engine.match(e)}


async def test_a_retro_hunt_applies_the_filters_loaded_with_its_rules(
    store: Store, tmp_path: Path
) -> None:
    for i in range(0, len(EVENTS), 500):
        await store.put_events(EVENTS[i : i + 500])
    plain = hunt_rules(DetectSettings(rules=[RULES], cache_dir=None), ids=[METERPRETER])
    settings = DetectSettings(rules=[RULES, filter_folder(tmp_path, A)], cache_dir=None)
    tuned = hunt_rules(settings, ids=[METERPRETER])
    assert [f.id for f in tuned.filters] == ["5a1e4f0c-7d55-4c8e-9d0b-6d3f7e0b2a11"]
    assert tuned.sha256 != plain.sha256, "the hunt's record names the filter's file too"

    before = await retro_hunt(store, None, plain.engine(), SCOPE, hunt_id="p", raise_alerts=False)
    after = await retro_hunt(store, None, tuned.engine(), SCOPE, hunt_id="t", raise_alerts=False)
    assert {m.alert_id for m in before.preview} == matches(plain)
    assert {m.alert_id for m in after.preview} == matches(tuned)
    removed = [m for m in before.preview if m.alert_id not in matches(tuned)]
    assert [(m.rule_id, m.tenant) for m in removed] == [(METERPRETER, A)]
    assert after.matches == before.matches - 1
    assert any(m.rule_id == METERPRETER and m.tenant == A for m in after.preview), (
        "the Security 4688 record of the same process stays"
    )
