"""Times and words, computed the same way by both stores and by the repositories above them.

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
from datetime import UTC, datetime, timedelta

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


def word_list(text: str) -> list[str]:
    """Every search word of ``text`` in order, repeats kept (a phrase may repeat one)."""
    lowered = text.lower()
    if lowered.isascii():  # most log text: nothing to decompose (5 times faster)
        return _WORD.findall(lowered)
    decomposed = unicodedata.normalize("NFD", lowered)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain)


def words(text: str) -> list[str]:
    """The distinct search words of ``text``, in order of first appearance."""
    return list(dict.fromkeys(word_list(text)))
