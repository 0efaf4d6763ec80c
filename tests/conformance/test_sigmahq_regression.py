"""Conformance with SigmaHQ's own regression tests, with the whole rule snapshot loaded.

For each folder of ../shared/sigma/regression_data, its recorded events (the
.evtx file, read with soc's readers) go through the same normalization and
engine as the streaming detector, and the rule its info.yml names must fire.
The snapshot's rules/, rules-emerging-threats/, rules-threat-hunting/,
rules-placeholder/ and rules-compliance/ are all loaded, with the project's
pipelines (windows field names, placeholder values), and every rule must compile.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from soc.detect.engine import Engine
from soc.detect.rule import RuleSet
from soc.detect.rules import load_rules
from soc.ingest.normalize import known_logsources, normalize
from soc.ingest.readers import read_file
from soc.models import LogSource

ROOT = Path(__file__).resolve().parents[2]
SIGMA = ROOT.parent / "shared" / "sigma"
REGRESSION = SIGMA / "regression_data"
FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder")
OPTIONAL = ("rules-compliance",)
PIPELINES = [
    ROOT / "soc/detections/pipelines/windows.yml",
    ROOT / "soc/detections/pipelines/placeholders.yml",
]
RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
EXPECTED_FAILURES: dict[str, str] = {}
"""Rule file (relative to the snapshot) -> why it may fail to compile. None today."""


def _cases() -> list[Any]:
    if not REGRESSION.is_dir():  # collected, and failing, rather than skipped
        return [pytest.param(None, id="regression-data-missing")]
    cases = []
    for info in sorted(REGRESSION.rglob("info.yml")):
        meta = yaml.safe_load(info.read_text(encoding="utf-8"))
        for rule in meta["rule_metadata"]:
            cases.append(pytest.param((info.parent, str(rule["id"])), id=rule["title"]))
    return cases


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    assert SIGMA.is_dir(), f"the SigmaHQ snapshot is not at {SIGMA}"
    return load_rules([SIGMA / f for f in FOLDERS + OPTIONAL], pipelines=PIPELINES)


@pytest.fixture(scope="module")
def engine(ruleset: RuleSet) -> Engine:
    return Engine.from_ruleset(ruleset)


def test_every_rule_of_the_snapshot_compiles(ruleset: RuleSet) -> None:
    files = sum(1 for f in FOLDERS + OPTIONAL for _ in (SIGMA / f).rglob("*.yml"))
    failed = {
        Path(e.path or "?").resolve().relative_to(SIGMA.resolve()).as_posix(): e.reason
        for e in ruleset.errors
    }
    listing = "\n".join(f"{path}: {reason}" for path, reason in sorted(failed.items()))
    assert failed == EXPECTED_FAILURES, f"{len(failed)} rules failed to compile:\n{listing}"
    assert len(ruleset.rules) + len(failed) >= files > 3500


def test_every_windows_service_a_rule_names_is_read_from_a_channel(ruleset: RuleSet) -> None:
    # A service without a channel in soc/ingest/windows_logsources.yml never routes an event.
    read = {ls.service for ls in known_logsources()}
    unread = sorted(
        f"{rule.logsource.service}: {rule.path.name}"
        for rule in ruleset.rules
        if rule.logsource.product == "windows" and rule.logsource.service not in read | {None}
    )
    assert unread == []


def _records(folder: Path) -> list[tuple[dict[str, Any], str, LogSource | None]]:
    """The folder's recorded events; a .raw file (Cisco) is one syslog line per record."""
    out: list[tuple[dict[str, Any], str, LogSource | None]] = []
    for evtx in sorted(folder.glob("*.evtx")):
        for item in read_file(evtx):
            assert item.error is None, f"{item.source}#{item.position}: {item.error}"
            assert item.record is not None
            out.append((item.record, item.source, None))
    for raw in sorted(folder.glob("*.raw")):
        # No parser for network devices yet: the connector states the logsource,
        # from where the line came (here the folder: rules/<product>/<service>/).
        product, service = folder.relative_to(REGRESSION).parts[1:3]
        stated = LogSource(product=product, service=service)
        for line in raw.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(({"message": line}, str(raw), stated))
    return out


@pytest.mark.parametrize("case", _cases())
def test_regression_case_fires_its_rule(case: tuple[Path, str] | None, engine: Engine) -> None:
    assert case is not None, f"SigmaHQ's regression data is not at {REGRESSION}"
    folder, rule_id = case
    assert rule_id in {r.id for r in engine.rules}, f"rule {rule_id} is not loaded"
    records = _records(folder)
    assert records, f"no .evtx or .raw file in {folder}"
    fired: set[str] = set()
    for record, source, logsource in records:
        event = normalize(
            record, tenant="conformance", source=source, received=RECEIVED, logsource=logsource
        )
        fired.update(rule.id for rule in engine.match(event))
    assert rule_id in fired, f"{folder.relative_to(REGRESSION)}: fired only {sorted(fired)}"
