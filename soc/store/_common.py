"""What both stores compute the same way, so that they answer the same way.

Times are compared as integer microseconds since the Unix epoch: exact (no
millisecond rounding), totally ordered, and valid for every year a
``datetime`` can hold. Free text is cut into words here, not by the backend's
analyzer, so a search means the same in SQLite and in OpenSearch: lower-cased,
diacritics removed, split at anything that is not a letter or a digit (as
SQLite's ``unicode61`` tokenizer does). Words are only ever used as literal
terms, never as query syntax.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from soc.models import Alert, AlertPage
from soc.store.base import decode_cursor, encode_cursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_WORD = re.compile(r"[^\W_]+")
"""Runs of letters and digits (``\\w`` without the underscore)."""


def micros(t: datetime) -> int:
    """Microseconds since the Unix epoch; a naive time is taken as UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH) // _MICROSECOND


def from_micros(us: int) -> datetime:
    """The UTC time ``us`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=us)


def words(text: str) -> list[str]:
    """The distinct search words of ``text``, in order of first appearance."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return list(dict.fromkeys(_WORD.findall(plain)))


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
