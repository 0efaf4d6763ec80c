"""A SQLite database made before drills gets the alerts' ``drill`` column, and its index, at
start; the alerts it holds stay, live."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from soc.models import AlertQuery
from soc.settings import SqliteSettings
from soc.store.sqlite import SqliteStore
from tests.contract.test_drill_alerts import alerts_of, replayed, sample_records
from tests.contract.test_store import A


async def test_a_database_without_the_drill_column_gets_it_at_start(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    records = sample_records(4)
    live = alerts_of(replayed(records[:2], tenant=A, drill=None))
    drill = alerts_of(replayed(records[2:], tenant=A, drill="d1"))
    store = SqliteStore(SqliteSettings(path=path))
    await store.start()
    await store.put_alerts(live)
    await store.stop()
    with sqlite3.connect(path) as conn:  # as a database of the version before drills was
        conn.execute("DROP INDEX alerts_drill")
        conn.execute("ALTER TABLE alerts DROP COLUMN drill")
    with sqlite3.connect(path) as conn:
        assert "drill" not in {row[1] for row in conn.execute("PRAGMA table_info(alerts)")}

    store = SqliteStore(SqliteSettings(path=path))
    await store.start()
    try:
        await store.put_alerts(drill)
        only = await store.search_alerts(AlertQuery(drill="d1"))
        assert {a.id for a in only.items} == {a.id for a in drill}
        kept = await store.search_alerts(AlertQuery(drills="exclude"))
        assert {a.id for a in kept.items} == {a.id for a in live}
    finally:
        await store.stop()
    with sqlite3.connect(path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT doc FROM alerts WHERE drill = ? "
            "ORDER BY time_us DESC, id DESC",
            ("d1",),
        ).fetchall()
    assert any("alerts_drill" in str(row) for row in plan), plan
