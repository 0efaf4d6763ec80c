"""The SQLite store's tables, indices and full-text index.

Each table keeps the record's full pydantic JSON in ``doc`` and, beside it,
the columns queries filter and sort on. Times are integer microseconds since
the epoch (``*_us``). ``alerts_fts`` is an external-content FTS5 index over the
alerts' title, host, rule id and tags (tags joined by spaces), kept in step by
triggers; ``id`` is a plain primary key on a rowid table so FTS5 can refer to
the rowid.

Case records (:mod:`soc.store.records`) share one table, ``records``, keyed by
kind and id, with their filter terms and search words in ``record_terms``
(words under the name ``_w``). The shared rate limits' counters (:mod:`soc.store.counters`)
are rows of ``counters``, a table any start makes when it is missing. Version 1 had an
unused ``incidents`` table; it is left as it was.

Events are searchable (version 3) through two indexes written with the event,
in its transaction, keyed by ``events.rowid``:

- ``event_fields``: one row per (field, lower-cased value) of
  :func:`soc.store.eventquery.event_pairs`, the field's name by number
  (``event_field_names``), without a rowid: the primary key (name, value,
  event) answers equality, prefix wildcards and text ranges by index, and a
  scan of one name answers the rest.
- ``events_fts``: a contentless FTS5 index of the same values' words (cut by
  :func:`soc.store.terms.word_list`), values apart by a separator word no
  query can contain (:mod:`soc.store.sqlite.events`). Contentless: the
  words are not stored twice; deleting an event hands FTS5 its words again,
  recomputed from its ``doc``. ``events_fts_terms`` (fts5vocab) tells how many
  events hold a word, for the choice of plan of a page.

A database of version 2 gets the new tables and its stored events are indexed
at start (``store_meta`` keeps how far, so an interrupted start resumes).
"""

from __future__ import annotations

SCHEMA_VERSION = 3
EVENT_INDEX_VERSION = 3
"""The first schema version whose events are indexed for search when written."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    host TEXT,
    source TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_tenant_time ON events (tenant, time_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS events_time ON events (time_us DESC, id DESC);

CREATE TABLE IF NOT EXISTS event_field_names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS event_fields (
    name INTEGER NOT NULL,
    value TEXT NOT NULL,
    event INTEGER NOT NULL,
    PRIMARY KEY (name, value, event)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
    words, content='', tokenize='unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts_terms USING fts5vocab(events_fts, row);
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    severity TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    status TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_title TEXT NOT NULL,
    host TEXT,
    tags TEXT NOT NULL,
    doc TEXT NOT NULL,
    drill TEXT
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_tenant_time ON alerts (tenant, time_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_tenant_rule ON alerts (tenant, rule_id, time_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_tenant_host ON alerts (tenant, host, time_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_tenant_status ON alerts (tenant, status, time_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_tenant_severity
    ON alerts (tenant, severity, time_us DESC, id DESC);

CREATE VIRTUAL TABLE IF NOT EXISTS alerts_fts USING fts5(
    rule_title, host, rule_id, tags,
    content='alerts', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS alerts_fts_insert AFTER INSERT ON alerts BEGIN
    INSERT INTO alerts_fts (rowid, rule_title, host, rule_id, tags)
    VALUES (new.rowid, new.rule_title, new.host, new.rule_id, new.tags);
END;
CREATE TRIGGER IF NOT EXISTS alerts_fts_delete AFTER DELETE ON alerts BEGIN
    INSERT INTO alerts_fts (alerts_fts, rowid, rule_title, host, rule_id, tags)
    VALUES ('delete', old.rowid, old.rule_title, old.host, old.rule_id, old.tags);
END;
CREATE TRIGGER IF NOT EXISTS alerts_fts_update
AFTER UPDATE OF rule_title, host, rule_id, tags ON alerts BEGIN
    INSERT INTO alerts_fts (alerts_fts, rowid, rule_title, host, rule_id, tags)
    VALUES ('delete', old.rowid, old.rule_title, old.host, old.rule_id, old.tags);
    INSERT INTO alerts_fts (rowid, rule_title, host, rule_id, tags)
    VALUES (new.rowid, new.rule_title, new.host, new.rule_id, new.tags);
END;

CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    received_us INTEGER NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS dead_letters_tenant_received
    ON dead_letters (tenant, received_us DESC, id DESC);

CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    sort INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_sort ON records (kind, sort DESC, id DESC);
CREATE INDEX IF NOT EXISTS records_tenant_sort ON records (kind, tenant, sort DESC, id DESC);

CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires);

CREATE TABLE IF NOT EXISTS record_terms (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (kind, name, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_terms_id ON record_terms (kind, id);
"""

ALERT_COLUMNS_ADDED = {"drill": "TEXT"}
"""Columns of ``alerts`` added after version 3: a database without them gets them at start
(``ALTER TABLE ... ADD COLUMN``, before the indexes below are made)."""

ALERT_DRILL_INDEX = """
CREATE INDEX IF NOT EXISTS alerts_drill
    ON alerts (drill, time_us DESC, id DESC) WHERE drill IS NOT NULL;
"""
"""A drill's alerts by time; partial, so live alerts (nearly all) cost it nothing. Reads
that leave drills out (``drill IS NULL``) go by the time indexes as before."""


def added_columns(existing: set[str]) -> str:
    """The ``ALTER TABLE`` statements a database whose alerts table has ``existing``
    columns needs (none for a new database: its table is made whole)."""
    return "".join(
        f"ALTER TABLE alerts ADD COLUMN {name} {kind};\n"
        for name, kind in ALERT_COLUMNS_ADDED.items()
        if existing and name not in existing
    )


INSERT_ALERT = (
    "INSERT OR IGNORE INTO alerts (id, tenant, time_us, severity, severity_rank, status, "
    "rule_id, rule_title, host, tags, doc, drill) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_DEAD_LETTER = (
    "INSERT OR IGNORE INTO dead_letters (id, tenant, received_us, stage, reason, doc) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
