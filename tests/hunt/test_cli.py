"""`soc hunt --store`: the rules given as files and ids, over the configured SQLite store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.cli import main
from soc.detect.rule import make_alert
from soc.hunt.rules import hunt_rules
from soc.settings import DetectSettings, SqliteSettings, StoreSettings
from soc.store import build_store
from tests.contract._events import A, recorded
from tests.hunt.test_retro_hunt import BUNDLED_FIRING, NEW_RULE

EVENTS = recorded()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "soc.db"

    async def fill() -> None:
        store = build_store(StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=path)))
        await store.start()
        await store.put_events(EVENTS)
        await store.stop()

    asyncio.run(fill())
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_STORE__KIND", "sqlite")
    monkeypatch.setenv("SOC_STORE__SQLITE__PATH", str(path))
    monkeypatch.setenv("SOC_DETECT__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return path


def test_store_hunt_prints_the_detectors_matches(db: Path, shared_dir: Path) -> None:
    rule_file = shared_dir / "sigma" / NEW_RULE
    args = ["hunt", "--store", "--since", "2023-08-01", "--until", "2023-09-01", "--tenant", A]
    done = CliRunner().invoke(main, [*args, str(rule_file), BUNDLED_FIRING])
    assert done.exit_code == 0, done.output
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"alert')]
    rules = hunt_rules(DetectSettings(cache_dir=None), ids=[BUNDLED_FIRING], files=[rule_file])
    engine = rules.engine()
    expected = {make_alert(rule, e).id for e in EVENTS if e.tenant == A for rule in engine.match(e)}
    assert {m["alert_id"] for m in printed} == expected and len(printed) == len(expected)
    assert f"{len(expected)} matches; 0 alerts raised" in done.stderr
    assert f"{sum(1 for e in EVENTS if e.tenant == A):,} events scanned" in done.stderr


def test_raising_from_the_cli_needs_kafka(db: Path, shared_dir: Path) -> None:
    args = ["hunt", "--store", "--since", "2023-08-01", "--raise", BUNDLED_FIRING]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2 and "--raise needs the Kafka bus" in done.stderr


def test_a_rule_that_does_not_compile_is_refused(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("title: broken\nlogsource: {product: windows}\ndetection: {s: {a: 1}}\n")
    done = CliRunner().invoke(main, ["hunt", "--store", "--since", "2023-08-01", str(bad)])
    assert done.exit_code == 2 and "a rule does not compile" in done.stderr
