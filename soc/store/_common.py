"""What both stores compute the same way for alerts: their search words and their pages.

Times and words themselves are in :mod:`soc.store.terms`.
"""

from __future__ import annotations

from collections.abc import Sequence

from soc.models import Alert, AlertPage
from soc.store.base import decode_cursor, encode_cursor
from soc.store.terms import micros, words


def alert_words(alert: Alert) -> list[str]:
    """The words a text search can find an alert by: title, host, rule id and tags."""
    return words(" ".join([alert.rule_title, alert.host or "", alert.rule_id, *alert.tags]))


def after(cursor: str | None) -> tuple[int, str] | None:
    """The ``(time in microseconds, id)`` a page starts below; QueryError if invalid."""
    if cursor is None:
        return None
    t, record_id = decode_cursor(cursor)
    return micros(t), record_id


def page(items: Sequence[Alert], limit: int) -> AlertPage:
    """A page from up to ``limit + 1`` alerts: the extra one says another page may follow."""
    if len(items) <= limit:
        return AlertPage(items=list(items))
    kept = list(items[:limit])
    return AlertPage(items=kept, next_cursor=encode_cursor(kept[-1].time, kept[-1].id))
