"""Events in SQLite: written with their search indexes, and deleted with them.

Blocking functions the store runs on its worker thread. An event's index is
what :func:`soc.store.eventquery.event_pairs` gives: each (name, value) row
in ``event_fields`` and the values' words in ``events_fts``. Both are
recomputed from the stored ``doc`` to delete an event (the FTS index is
contentless), so a change to ``event_pairs`` or to the words must come with a
schema version that indexes the stored events again.

The FTS text of an event is its values one after another with the word
:data:`GAP` between them: a phrase (``"two words"``) matches words side by
side in one value, never the end of one value and the start of the next.
``GAP`` is a private-use character, a token to FTS5's ``unicode61`` but never
a word of :func:`soc.store.terms.word_list`, so no query can name it. An
ASCII value is handed to FTS5 as it is (``unicode61`` cuts ASCII exactly as
``word_list`` does, letters and digits, lower-cased), and so is a value whose
other characters are all separators to both (symbols, punctuation, spaces);
any other value is handed as its ``word_list`` words, so Python's notion of a
letter decides.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from soc.models import Event
from soc.store.eventquery import event_pairs
from soc.store.sqlite.schema import EVENT_INDEX_VERSION
from soc.store.terms import micros, word_list

GAP = " \ue000 "
"""Between two values in the FTS text (U+E000: private use, a token to unicode61 only)."""


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@functools.cache
def _apart(char: str) -> bool:
    """True if both word_list and unicode61 take ``char`` for a separator, whatever is
    around it: not a letter, digit, mark or private-use character, and no decomposition."""
    category = unicodedata.category(char)
    return (
        category[0] not in "LNM" and category != "Co" and unicodedata.normalize("NFD", char) == char
    )


def _words(value: str) -> str:
    """``value`` cut by FTS5 as word_list cuts it: as it is when its only characters
    outside ASCII are separators to both (a ``®``, a non-breaking space), else its words."""
    if value.isascii() or all(_apart(c) for c in set(_NON_ASCII.findall(value))):
        return value
    return " ".join(word_list(value))


def fts_text(pairs: Sequence[tuple[str, str]]) -> str:
    """The words of every value of ``pairs``, values kept apart by :data:`GAP`."""
    return GAP.join(_words(v) for _, v in pairs)


class FieldNames:
    """Field name -> its number in ``event_field_names``, cached for this connection.

    A number is cached only once the transaction that made it has committed
    (:meth:`commit`), so a rolled-back write never leaves a number the
    database does not have.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pending: dict[str, int] = {}

    @property
    def known(self) -> dict[str, int]:
        """The numbers committed so far (read-only to callers)."""
        return self._ids

    def id(self, conn: sqlite3.Connection, name: str) -> int:
        known = self._ids.get(name) or self._pending.get(name)
        if known is not None:
            return known
        conn.execute("INSERT OR IGNORE INTO event_field_names (name) VALUES (?)", (name,))
        row = conn.execute("SELECT id FROM event_field_names WHERE name = ?", (name,)).fetchone()
        self._pending[name] = int(row[0])
        return int(row[0])

    def commit(self) -> None:
        self._ids.update(self._pending)
        self._pending.clear()

    def rollback(self) -> None:
        self._pending.clear()

    @contextlib.contextmanager
    def writing(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction, committed when the block ends (a ``return``
        too) and rolled back on any exception; the numbers it made are cached only if it
        commits."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            self.rollback()
            raise
        conn.execute("COMMIT")
        self.commit()


def _index(
    conn: sqlite3.Connection,
    names: FieldNames,
    indexed: Sequence[tuple[int, Event]],
    fields: list[tuple[int, str, int]],
    texts: list[tuple[int, str]],
) -> None:
    """Add the index rows of ``(rowid, event)`` to ``fields`` and ``texts``."""
    known = names.known
    for rowid, event in indexed:
        pairs = event_pairs(event)
        for name, value in pairs:
            name_id = known.get(name)
            fields.append((names.id(conn, name) if name_id is None else name_id, value, rowid))
        texts.append((rowid, fts_text(pairs)))


def _write_index(
    conn: sqlite3.Connection, fields: list[tuple[int, str, int]], texts: list[tuple[int, str]]
) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO event_fields (name, value, event) VALUES (?, ?, ?)", fields
    )
    conn.executemany("INSERT INTO events_fts (rowid, words) VALUES (?, ?)", texts)


def _stored_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    stored: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        marks = ", ".join("?" * len(chunk))
        stored.update(
            r[0] for r in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk)
        )
    return stored


def put(conn: sqlite3.Connection, names: FieldNames, events: Sequence[Event]) -> int:
    """Store the events not stored yet, with their index, in one transaction; how many.

    What the events are and are indexed by is computed before the write lock is taken
    (other writers of the file wait only for the inserts); the ids are checked again
    under the lock, in case another process stored some meanwhile.
    """
    unique = list({e.id: e for e in reversed(events)}.values())[::-1]  # first of each id
    known = _stored_ids(conn, [e.id for e in unique])
    # indexed as stored: the doc read back is what searches return and what a deletion
    # recomputes the index from (a value JSON spells otherwise, e.g. NaN, stays consistent)
    candidates: list[tuple[Event, str, list[tuple[str, str]]]] = []
    for e in unique:
        if e.id not in known:
            doc = e.model_dump_json()
            candidates.append((e, doc, event_pairs(Event.model_validate_json(doc))))
    if not candidates:
        return 0
    texts_of = [fts_text(pairs) for _, _, pairs in candidates]
    with names.writing(conn):
        raced = _stored_ids(conn, [e.id for e, _, _ in candidates])
        top = conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0]
        rows: list[tuple[Any, ...]] = []
        fields: list[tuple[int, str, int]] = []
        texts: list[tuple[int, str]] = []
        ids = names.known
        for (e, doc, pairs), text in zip(candidates, texts_of, strict=True):
            if e.id in raced:
                continue
            rowid = top + 1 + len(rows)
            rows.append((rowid, e.id, e.tenant, micros(e.time), e.host, e.source, doc))
            for name, value in pairs:
                name_id = ids.get(name)
                fields.append((names.id(conn, name) if name_id is None else name_id, value, rowid))
            texts.append((rowid, text))
        conn.executemany(
            "INSERT INTO events (rowid, id, tenant, time_us, host, source, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        _write_index(conn, fields, texts)
    return len(rows)


def delete(conn: sqlite3.Connection, names: FieldNames, rows: Sequence[tuple[int, str]]) -> None:
    """Delete events ``(rowid, doc)`` and their index rows (inside the caller's transaction;
    the caller commits ``names`` with it)."""
    fields: list[tuple[int, str, int]] = []
    texts: list[tuple[int, str]] = []
    _index(conn, names, [(r, Event.model_validate_json(doc)) for r, doc in rows], fields, texts)
    conn.executemany("DELETE FROM event_fields WHERE name = ? AND value = ? AND event = ?", fields)
    conn.executemany(
        "INSERT INTO events_fts (events_fts, rowid, words) VALUES ('delete', ?, ?)", texts
    )
    conn.executemany("DELETE FROM events WHERE rowid = ?", [(r,) for r, _ in rows])


BACKFILL_TO = "event_index_backfill_to"
BACKFILL_DONE = "event_index_backfill_done"
BACKFILL_BATCH = 2000


_BEFORE_INDEX = f"(SELECT user_version FROM pragma_user_version) < {EVENT_INDEX_VERSION}"
PLAN_BACKFILL = (
    f"INSERT INTO store_meta (key, value) "
    f"SELECT '{BACKFILL_TO}', (SELECT coalesce(max(rowid), 0) FROM events) "
    f"WHERE {_BEFORE_INDEX}; "
    f"INSERT INTO store_meta (key, value) SELECT '{BACKFILL_DONE}', 0 WHERE {_BEFORE_INDEX};"
)
"""Run in the migration's transaction, before it sets the new version: the events stored
up to then need indexing (those written afterwards are indexed as written). The version is
read inside the transaction, so of two processes migrating at once only the first plans."""


def backfill(conn: sqlite3.Connection, names: FieldNames) -> int:
    """Index the events a migration left unindexed, a batch per transaction; how many."""
    done = 0
    while True:
        with names.writing(conn):
            meta = dict(conn.execute("SELECT key, value FROM store_meta").fetchall())
            if BACKFILL_TO not in meta:
                return done
            last, to = int(meta.get(BACKFILL_DONE, 0)), int(meta[BACKFILL_TO])
            rows: list[Any] = conn.execute(
                "SELECT rowid, doc FROM events WHERE rowid > ? AND rowid <= ? "
                "ORDER BY rowid LIMIT ?",
                (last, to, BACKFILL_BATCH),
            ).fetchall()
            fields: list[tuple[int, str, int]] = []
            texts: list[tuple[int, str]] = []
            _index(conn, names, [(r, Event.model_validate_json(d)) for r, d in rows], fields, texts)
            _write_index(conn, fields, texts)
            if len(rows) < BACKFILL_BATCH:
                conn.execute(
                    "DELETE FROM store_meta WHERE key IN (?, ?)", (BACKFILL_TO, BACKFILL_DONE)
                )
            else:
                conn.execute(
                    "UPDATE store_meta SET value = ? WHERE key = ?", (rows[-1][0], BACKFILL_DONE)
                )
        done += len(rows)
