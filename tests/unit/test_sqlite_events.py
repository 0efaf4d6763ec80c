"""What the event contract cannot see of the SQLite store: its index tables, its migration,
its batch deletion, its refusals, and SQL or FTS5 syntax arriving as query values."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.models import Event
from soc.settings import RetentionSettings, SqliteSettings
from soc.store import eventquery as q
from soc.store.sqlite import SqliteStore, eventsql
from soc.store.sqlite import events as sqlite_events
from soc.store.terms import word_list
from tests.contract._events import matches, recorded

EVENTS = recorded()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(SqliteSettings(path=tmp_path / "soc.db"))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def fts_terms(path: Path) -> dict[str, int]:
    """Term -> documents, as the FTS5 index itself holds them (stale entries included)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, events_fts, row)")
        return {t: int(n) for t, n in conn.execute("SELECT term, doc FROM temp.vocab")}
    finally:
        conn.close()


async def everything(store: SqliteStore, where: q.Node | None) -> list[str]:
    ids: list[str] = []
    async for batch in store.scan_events(q.EventQuery(where=where), batch=700):
        ids += [e.id for e in batch]
    return ids


def newest_first(events: list[Event]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (e.time, e.id), reverse=True)]


def test_fts5_cuts_the_indexed_text_into_exactly_the_words_of_each_value() -> None:
    """The FTS text hands ASCII values to unicode61 as they are: the tokens FTS5 stores must
    be word_list's, value by value, with the gap word between values and nowhere else."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(w, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    extra = [
        ("x", "Crème brûlée à la café_au-lait ÉTÉ 東京 x²"),
        ("y", "naïve\u200bWORD"),
        ("z", "Microsoft® Windows® — «quoted»\u00a0text ≠ ½ \ue000private\ue001 ①"),
    ]
    samples = [q.event_pairs(e) for e in EVENTS[::97]] + [extra]
    for i, pairs in enumerate(samples, 1):
        conn.execute("INSERT INTO t (rowid, w) VALUES (?, ?)", (i, sqlite_events.fts_text(pairs)))
        tokens = [
            r[0] for r in conn.execute("SELECT term FROM v WHERE doc = ? ORDER BY offset", (i,))
        ]
        expected: list[str] = []
        for n, (_, value) in enumerate(pairs):
            expected += (["\ue000"] if n else []) + word_list(value)
        assert tokens == expected


async def test_a_phrase_never_spans_two_values(store: SqliteStore) -> None:
    event = EVENTS[0]
    first, second = (
        event.model_copy(
            update={"id": "two-values", "fields": {"a": "alpha beta", "b": "gamma delta"}}
        ),
        event.model_copy(update={"id": "one-value", "fields": {"a": "beta gamma"}}),
    )
    await store.put_events([first, second])
    page = await store.search_events(q.EventQuery(where=q.parse('"beta gamma"')))
    assert [e.id for e in page.items] == ["one-value"]
    both = await store.search_events(q.EventQuery(where=q.parse("beta gamma")))
    assert {e.id for e in both.items} == {"one-value", "two-values"}


async def test_storing_again_indexes_nothing_twice(store: SqliteStore, tmp_path: Path) -> None:
    await store.put_events(EVENTS[:300])
    before = rows(tmp_path / "soc.db", "SELECT count(*) FROM event_fields")
    await store.put_events(EVENTS[:300] + EVENTS[:300])
    assert rows(tmp_path / "soc.db", "SELECT count(*) FROM event_fields") == before
    assert len(await everything(store, q.parse("lsass"))) == 300
    assert rows(tmp_path / "soc.db", "SELECT count(*) FROM events") == [(300,)]


async def test_a_version_2_database_is_migrated_and_its_events_indexed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    s = SqliteStore(SqliteSettings(path=path))
    await s.start()
    await s.put_events(EVENTS)
    await s.stop()
    conn = sqlite3.connect(path, isolation_level=None)  # what version 2 had: no event index
    conn.executescript(
        "DROP TABLE event_fields; DROP TABLE event_field_names; DROP TABLE events_fts_terms; "
        "DROP TABLE events_fts; "
        "DROP TABLE store_meta; DROP INDEX events_time; PRAGMA user_version = 2;"
    )
    conn.close()
    monkeypatch.setattr(sqlite_events, "BACKFILL_BATCH", 500)  # several batches
    s = SqliteStore(SqliteSettings(path=path))
    await s.start()
    try:
        await s.put_events(EVENTS[:5])  # stored already: still nothing twice
        for text in ["EventID:10", '"windows system32"', "NOT Image:*lsass*", "lsass*"]:
            node = q.parse(text)
            assert await everything(s, node) == newest_first(
                [e for e in EVENTS if matches(node, e)]
            ), text
    finally:
        await s.stop()
    assert rows(path, "PRAGMA user_version") == [(3,)]
    assert rows(path, "SELECT count(*) FROM store_meta") == [(0,)]


async def test_an_interrupted_backfill_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "soc.db"
    s = SqliteStore(SqliteSettings(path=path))
    await s.start()
    await s.put_events(EVENTS[:1000])
    await s.stop()
    # as a start that indexed the first 400 and died: the rest still listed as to do
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "DELETE FROM event_fields WHERE event > 400",
    )
    for rowid, doc in conn.execute("SELECT rowid, doc FROM events WHERE rowid > 400").fetchall():
        text = sqlite_events.fts_text(q.event_pairs(Event.model_validate_json(doc)))
        conn.execute(
            "INSERT INTO events_fts (events_fts, rowid, words) VALUES ('delete', ?, ?)",
            (rowid, text),
        )
    conn.executemany(
        "INSERT INTO store_meta (key, value) VALUES (?, ?)",
        [(sqlite_events.BACKFILL_TO, 1000), (sqlite_events.BACKFILL_DONE, 400)],
    )
    conn.close()
    s = SqliteStore(SqliteSettings(path=path))
    await s.start()
    try:
        assert len(await everything(s, q.parse("lsass"))) == 1000
        assert len(await everything(s, q.parse("_exists_:host"))) == 1000
    finally:
        await s.stop()


@pytest.mark.parametrize(
    "node",
    [
        q.Equals("eventid", "10' OR '1'='1"),
        q.Equals("eventid' OR 1=1 --", "10"),
        q.Equals('eventid") OR 1=1 --', "10"),
        q.Contains("image", "'); DROP TABLE events; --"),
        q.Like("image", "*'*"),
        q.Like("image", "*[a-z]*"),
        q.Like("*", "*"),
        q.Range("eventid", "z' OR 1=1", None),
        q.Exists("eventid; DROP TABLE events"),
        q.Words(('lsass" OR "system32',)),
        q.Words(("lsass", "NEAR(a b)", "*")),
        q.Words(("lsass", "system32) OR (lsass"), phrase=True),
        q.WordPrefix('lsa" OR "x'),
        q.WordPrefix("^"),
        q.Not(q.Not(q.Equals("eventid", "0 OR 1"))),
    ],
)
async def test_sql_and_fts5_syntax_in_values_and_names_match_nothing(
    store: SqliteStore, tmp_path: Path, node: q.Node
) -> None:
    await store.put_events(EVENTS[:200])
    page = await store.search_events(q.EventQuery(where=node, limit=500))
    assert page.items == []
    stats = await store.event_stats(q.EventQuery(where=node), field="eventid")
    assert stats.events == 0
    assert rows(tmp_path / "soc.db", "SELECT count(*) FROM events") == [(200,)]


async def test_glob_characters_in_a_value_are_literal(store: SqliteStore) -> None:
    base = EVENTS[0]
    odd = [
        base.model_copy(update={"id": f"odd-{i}", "fields": {"name": value}})
        for i, value in enumerate(["a[b]c", "a*c", "a?c", "abc", "a\\c"])
    ]
    await store.put_events(odd)
    for pattern, expected in {
        "a[b]c": {"odd-0"},
        "a\\*c": {"odd-1"},
        "a\\?c": {"odd-2"},
        "a?c": {"odd-1", "odd-2", "odd-3", "odd-4"},
        "a[*": {"odd-0"},
        "*\\\\*": {"odd-4"},
    }.items():
        page = await store.search_events(q.EventQuery(where=q.Like("name", pattern)))
        assert {e.id for e in page.items} == expected, pattern
    contains = await store.search_events(q.EventQuery(where=q.parse('name:"[b]"')))
    assert [e.id for e in contains.items] == ["odd-0"]


async def test_expire_deletes_in_batches_and_leaves_no_index_rows(tmp_path: Path) -> None:
    now = datetime(2026, 6, 10, tzinfo=UTC)
    path = tmp_path / "soc.db"
    aged = [
        e.model_copy(update={"time": now - timedelta(days=10 if i % 3 else 1)})
        for i, e in enumerate(EVENTS)
    ]
    s = SqliteStore(SqliteSettings(path=path), RetentionSettings(events_days=5, batch_size=97))
    await s.start()
    try:
        await s.put_events(aged)
        kept = [e for e in aged if e.time > now - timedelta(days=5)]
        deleted = await s.expire(now)
        assert deleted["events"] == len(aged) - len(kept)
        assert await everything(s, q.parse("lsass")) == newest_first(kept)
        assert await everything(s, q.parse("_exists_:eventid")) == newest_first(kept)
        expected_rows = sum(len(q.event_pairs(e)) for e in kept)
        assert rows(path, "SELECT count(*) FROM event_fields") == [(expected_rows,)]
        terms = fts_terms(path)
        assert terms["lsass"] == terms["\ue000"] == len(kept)
        assert (await s.expire(now))["events"] == 0
        await s.put_events(aged)  # the expired come back, under new rowids, indexed again
        assert len(await everything(s, q.parse("lsass"))) == len(aged)
    finally:
        await s.stop()


async def test_an_event_is_indexed_as_stored_so_its_deletion_leaves_nothing(
    tmp_path: Path,
) -> None:
    """JSON has no NaN: the stored doc holds null, so the index (and a later deletion, which
    recomputes it from the doc) must not see "nan"."""
    now = datetime(2026, 6, 10, tzinfo=UTC)
    path = tmp_path / "soc.db"
    event = EVENTS[0].model_copy(
        update={"id": "nan", "time": now - timedelta(days=9), "fields": {"x": float("nan")}}
    )
    s = SqliteStore(SqliteSettings(path=path), RetentionSettings(events_days=5))
    await s.start()
    try:
        await s.put_events([event])
        assert await everything(s, q.parse("x:nan")) == []
        assert await everything(s, q.parse("_exists_:host")) == ["nan"]
        assert (await s.expire(now))["events"] == 1
        assert rows(path, "SELECT count(*) FROM event_fields") == [(0,)]
        assert fts_terms(path) == {}
    finally:
        await s.stop()


@pytest.mark.parametrize("common", [1, 10**9], ids=["every-term-probed", "every-term-a-set"])
async def test_both_plans_of_a_page_return_the_same_events(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, common: int
) -> None:
    """A page probes its common terms row by row and takes the others as sets: both plans
    must page through exactly the events the query means."""
    monkeypatch.setattr(eventsql, "COMMON", common)
    await store.put_events(EVENTS)
    for text in [
        "EventID:10",
        "NOT EventID:10 AND svchost",
        '"windows system32" AND -EventID:7',
        "lsass OR EventID:4688",
        "logsource.product:windows AND NOT (Channel:Security OR rundll32 svchost)",
    ]:
        node = q.parse(text)
        got: list[str] = []
        cursor = None
        while True:
            page = await store.search_events(q.EventQuery(where=node, limit=300, cursor=cursor))
            got += [e.id for e in page.items]
            if (cursor := page.next_cursor) is None:
                break
        assert got == newest_first([e for e in EVENTS if matches(node, e)]), text


async def test_a_migrated_database_is_never_planned_for_indexing_again(tmp_path: Path) -> None:
    """Two processes may open a version-2 file at once: the second runs the migration script
    after the first committed it, and must not plan to index the stored events twice."""
    path = tmp_path / "soc.db"
    for _ in range(2):
        s = SqliteStore(SqliteSettings(path=path))
        await s.start()
        await s.put_events(EVENTS[:100])
        await s.stop()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN; {sqlite_events.PLAN_BACKFILL} COMMIT;")  # as the second would
    conn.close()
    assert rows(path, "SELECT count(*) FROM store_meta") == [(0,)]
    assert fts_terms(path)["lsass"] == 100
