"""One event's fields as the compiled rules read them, each value converted at most once.

An :class:`EventView` wraps the flattened ``Event.fields`` of one event. Every
compiled rule that looks at the event reads it through the same view, which
caches the forms the matchers need, per field name:

    values(name)      the raw elements: () when absent, a list's items, else (value,)
    strings(name)     their string forms (str as is, int/float via str(), bool as
                      "true"/"false"; None, dicts and nested lists have none)
    lowered(name)     the string forms lowercased (Sigma's default is case-insensitive)
    numbers(name)     their numeric forms (int/float as is, numeric strings parsed)
    joined_text()     every field's string forms, joined by NUL: what the candidate
                      index scans for keywords (lowered there, or scanned caselessly)

so a value is lowercased at most once per event however many rules test it
(the scan lowers the whole event once more, as one string, when it must).
``str.lower`` maps each character alone except a capital sigma, whose context
stops at a NUL, so the joined text lowered equals the lowered values joined.
A view belongs to one event and one thread; build a new one for every event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from math import isfinite
from typing import Any

Number = int | float


def _elements(value: Any) -> tuple[Any, ...]:
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def _string_form(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _number_form(value: Any) -> Number | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            f = float(value)
        except ValueError:
            return None
        return f if isfinite(f) else None
    return None


class EventView:
    """Read-only access to one event's flattened fields, with per-event caches."""

    __slots__ = (
        "_all_lowered",
        "_all_strings",
        "_fields",
        "_joined",
        "_lowered",
        "_numbers",
        "_strings",
    )

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields
        self._strings: dict[str, tuple[str, ...]] = {}
        self._lowered: dict[str, tuple[str, ...]] = {}
        self._numbers: dict[str, tuple[Number, ...]] = {}
        self._all_strings: tuple[str, ...] | None = None
        self._all_lowered: tuple[str, ...] | None = None
        self._joined: str | None = None

    @property
    def fields(self) -> Mapping[str, Any]:
        """The event's flattened fields, untouched."""
        return self._fields

    def has(self, name: str) -> bool:
        """Whether the event has the field at all (its value may be None)."""
        return name in self._fields

    def values(self, name: str) -> tuple[Any, ...]:
        """The field's elements: () when absent, a list's items, else the single value."""
        try:
            value = self._fields[name]
        except KeyError:
            return ()
        return _elements(value)

    def strings(self, name: str) -> tuple[str, ...]:
        """The string forms of the field's elements, case preserved."""
        out = self._strings.get(name)  # a miss is common: no exception raised for it
        if out is not None:
            return out
        value = self._fields.get(name)
        if type(value) is str:  # the common case, without the generic path's tuples
            out = (value,)
        else:
            out = tuple(s for s in map(_string_form, self.values(name)) if s is not None)
        self._strings[name] = out
        return out

    def lowered(self, name: str) -> tuple[str, ...]:
        """The string forms of the field's elements, lowercased once per event."""
        out = self._lowered.get(name)
        if out is not None:
            return out
        value = self._fields.get(name)
        if type(value) is str:
            out = (value.lower(),)
        elif value is None:
            out = ()
        else:
            out = tuple(s.lower() for s in self.strings(name))
        self._lowered[name] = out
        return out

    def numbers(self, name: str) -> tuple[Number, ...]:
        """The numeric forms of the field's elements (numeric strings parsed)."""
        out = self._numbers.get(name)
        if out is not None:
            return out
        value = self._fields.get(name)
        if type(value) is int:  # EventID and the like
            out = (value,)
        elif value is None:  # absent, or null: no number either way
            out = ()
        else:
            out = tuple(n for n in map(_number_form, self.values(name)) if n is not None)
        self._numbers[name] = out
        return out

    def all_strings(self) -> tuple[str, ...]:
        """The string forms of every field's elements, for keyword (field-less) rules."""
        if self._all_strings is None:
            self._all_strings = tuple(s for name in self._fields for s in self.strings(name))
        return self._all_strings

    def all_lowered(self) -> tuple[str, ...]:
        """:meth:`all_strings`, lowercased, sharing the per-field cache."""
        if self._all_lowered is None:
            self._all_lowered = tuple(s for name in self._fields for s in self.lowered(name))
        return self._all_lowered

    def joined_text(self) -> str:
        """Every field's string forms, NUL-separated: one string for the candidate index to
        scan for keywords (``scan_lowered`` lowers it, or scans it caselessly as it is)."""
        if self._joined is None:
            values = self._fields.values()
            self._joined = "\x00".join(
                [
                    v if type(v) is str else str(v) if type(v) is int else _text_form(v)
                    for v in values
                ]
            )
        return self._joined


def _text_form(value: Any) -> str:
    """A non-str value's string forms, NUL-separated ("" when it has none)."""
    if isinstance(value, list | tuple):
        return "\x00".join(s for s in map(_string_form, value) if s is not None)
    return _string_form(value) or ""


Matcher = Callable[[EventView], bool]
"""A compiled rule, or part of one: true when the event matches."""
