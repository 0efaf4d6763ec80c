"""`soc sources`: the streams heartbeats filed, read from a SQLite store of the test's own."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.cli import main
from soc.models import Heartbeat, StreamBeat, utcnow
from soc.settings import SqliteSettings, StoreSettings
from soc.sources.book import SourceBook
from soc.store import build_store


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_STORE__KIND", "sqlite")
    monkeypatch.setenv("SOC_STORE__SQLITE__PATH", str(tmp_path / "soc.db"))
    monkeypatch.setenv("SOC_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)


async def _file(db: Path) -> None:
    s = build_store(StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=db)))
    await s.start()
    try:
        book = SourceBook(s)
        for tenant, connector, ago in (("hue-ioc", "web-01", 0), ("hue-dof", "fw-01", 400)):
            beat = Heartbeat(
                connector=connector,
                version="0.1.0",
                host=connector,
                interval_s=30,
                streams=[StreamBeat(source="auth", stream="803:1835:9f2c", seq=7120, backlog=2)],
            )
            await book.beat(tenant, beat, now=utcnow() - timedelta(seconds=ago))
    finally:
        await s.stop()


def test_soc_sources_prints_each_stream_and_its_state(tmp_path: Path) -> None:
    asyncio.run(_file(tmp_path / "soc.db"))
    done = CliRunner().invoke(main, ["sources"])
    assert done.exit_code == 0, done.output
    head, *rows = done.stdout.splitlines()
    assert head.split() == ["STATE", "TENANT", "CONNECTOR", "SOURCE", "STREAM", "SEQ",
                            "BACKLOG", "EVENTS", "24H", "LAST", "EVENT", "LAST",
                            "SEEN"]  # fmt: skip
    assert [r.split()[:9] for r in rows] == [  # heartbeats only: no events, no last event
        ["silent", "hue-dof", "fw-01", "auth", "803:1835:9f2c", "7120", "2", "0", "-"],
        ["healthy", "hue-ioc", "web-01", "auth", "803:1835:9f2c", "7120", "2", "0", "-"],
    ]
    done = CliRunner().invoke(main, ["sources", "--tenant", "hue-dof", "--json"])
    assert done.exit_code == 0, done.output
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["connector"] == "fw-01"
