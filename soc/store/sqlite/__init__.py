"""The embedded store: one SQLite file, through the standard library's sqlite3.

store.py    SqliteStore: events, alerts, dead letters, and the case records seam
schema.py   the tables, indexes and FTS5 tables, with the schema version
query.py    SQL for alert searches, histograms and dead letters (parameters only)
records.py  case records: versioned rows and their filter terms and words
"""

from soc.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
