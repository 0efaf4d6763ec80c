"""Finding the Sigma rule files behind alerts, by id, as the detector loaded them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from soc.detect.rules import load_rules
from soc.evidence.rules import clear_cache, rule_sources
from tests.bundled_rules import BUNDLED_IDS
from tests.unit.evidence.conftest import ROOT, RULES_DIRS

SIGMAHQ = ROOT.parent / "shared/sigma/rules"
LSASS = "4a1b6da0-d94f-4fc3-98fc-2d9cb9e5ee76"
HIVES = "proc_creation_win_reg_dumping_sensitive_hives.yml"


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    clear_cache()


def test_every_project_rule_is_found_as_the_detector_sees_it() -> None:
    ruleset = load_rules(RULES_DIRS, pipelines=[ROOT / "soc/detections/pipelines/windows.yml"])
    assert ruleset.errors == ()
    correlations = {c.id for c in ruleset.correlations}
    assert {r.id for r in ruleset.rules} == BUNDLED_IDS - correlations
    found = rule_sources([r.id for r in ruleset.rules], RULES_DIRS)
    assert set(found) == {r.id for r in ruleset.rules}
    for rule in ruleset.rules:
        source = found[rule.id]
        assert (source.title, source.version, source.path) == (
            rule.title,
            rule.version,
            rule.path.as_posix(),
        )
        assert source.tags == rule.tags and source.author == rule.author
        data = rule.path.read_bytes()
        assert source.text.encode() == data
        assert source.sha256 == hashlib.sha256(data).hexdigest()


def test_sigmahq_ids_match_the_yaml_and_the_first_folder_wins() -> None:
    files = sorted(SIGMAHQ.rglob("*.yml"))[::40]
    ids = {str(yaml.safe_load(f.read_text())["id"]): f for f in files}
    found = rule_sources(ids, [SIGMAHQ])
    assert {i: Path(s.path) for i, s in found.items()} == ids
    # The project copies some SigmaHQ rules, same id: the folder listed first wins.
    both = rule_sources([LSASS], [*RULES_DIRS, SIGMAHQ])
    assert both[LSASS].path.startswith(RULES_DIRS[0].as_posix())
    both = rule_sources([LSASS], [SIGMAHQ, *RULES_DIRS])
    assert both[LSASS].path.startswith(SIGMAHQ.as_posix())


def test_related_ids_are_not_rule_ids() -> None:
    hives = next(RULES_DIRS[0].rglob(HIVES))
    related = yaml.safe_load(hives.read_text())["related"][0]["id"]
    assert f"    - id: {related}" in hives.read_text()
    assert rule_sources([related], RULES_DIRS) == {}


def test_added_moved_edited_and_id_less_rules(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    original = next(RULES_DIRS[0].rglob("win_security_susp_lsass_dump_generic.yml"))
    hives = next(RULES_DIRS[0].rglob(HIVES))
    shutil.copy(original, folder / "lsass.yml")
    assert set(rule_sources([LSASS], [folder])) == {LSASS}  # the map is now cached

    # Added after the scan: a miss rescans once.
    shutil.copy(hives, folder / "hives.yml")
    hives_id = str(yaml.safe_load(hives.read_text())["id"])
    assert rule_sources([hives_id], [folder])[hives_id].path.endswith("hives.yml")
    # Moved: the cached path is gone, so it is found where it went.
    (folder / "sub").mkdir()
    (folder / "lsass.yml").rename(folder / "sub" / "lsass.yml")
    assert rule_sources([LSASS], [folder])[LSASS].path.endswith("sub/lsass.yml")
    # Edited so that it no longer holds the id: not returned.
    moved = folder / "sub" / "lsass.yml"
    moved.write_text(moved.read_text().replace(f"id: {LSASS}", "id: 00000000-dead"))
    assert rule_sources([LSASS], [folder]) == {}

    # Without an id, the detector names a rule by its path; so does the lookup.
    bare = tmp_path / "bare"
    bare.mkdir()
    text = original.read_text().replace(f"id: {LSASS}\n", "")
    (bare / "no_id.yml").write_text(text.replace("modified: 2026-06-29", "modified: 2026/06/30"))
    (rule,) = load_rules([bare], pipelines=[ROOT / "soc/detections/pipelines/windows.yml"]).rules
    source = rule_sources([rule.id], [bare])[rule.id]
    assert source.path == (bare / "no_id.yml").as_posix()
    assert source.version == rule.version == "2026-06-30"
