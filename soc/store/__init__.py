"""The store: one seam (:mod:`soc.store.base`), two implementations.

:func:`build_store` is the only place that knows both: the embedded
:class:`~soc.store.sqlite.SqliteStore` and the OpenSearch one, imported only
when asked for so that the SQLite store works without opensearch-py loaded.
"""

from __future__ import annotations

from soc.settings import StoreSettings
from soc.store.base import Store, decode_cursor, encode_cursor

__all__ = ["Store", "build_store", "decode_cursor", "encode_cursor"]


def build_store(settings: StoreSettings) -> Store:
    """The store ``settings.kind`` names, not yet started."""
    if settings.kind == "opensearch":
        from soc.store.opensearch import OpenSearchStore

        return OpenSearchStore(settings.opensearch, settings.retention)
    from soc.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite, settings.retention)
