"""The embedded store: one SQLite file, through the standard library's sqlite3.

store.py      SqliteStore: events, alerts, dead letters, and the case records seam
schema.py     the tables, indexes and FTS5 tables, with the schema version
query.py      SQL for alert searches, histograms and dead letters (parameters only)
events.py     events written and deleted with their search index; the index backfill
eventsql.py   the event query language (soc.store.eventquery) as parameterized SQL
retention.py  expired rows deleted by time in short batches; the periods refused
records.py    case records: versioned rows and their filter terms and words
"""

from soc.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
