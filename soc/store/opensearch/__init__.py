"""The OpenSearch store, through opensearch-py's async client.

store.py    OpenSearchStore: events, alerts, dead letters, and the case records seam
schema.py   index templates, index names by time, and the documents written
query.py    query DSL for alert searches, histograms, dead letters and records
records.py  case records: versioned documents guarded by sequence numbers
"""

from soc.store.opensearch.store import OpenSearchStore

__all__ = ["OpenSearchStore"]
