"""The event query language: Lucene-style text an analyst types, as a typed tree.

    tree = parse('host:WS01 AND CommandLine:*mimikatz* AND NOT User:"NT AUTHORITY\\\\SYSTEM"')

The text is parsed by luqum (the Lucene grammar Kibana, Graylog and OpenSearch
Dashboards users type) into :class:`Node` values, which each store turns into
its own structured query (OpenSearch DSL, parameterized SQL). User text never
reaches ``query_string`` or an SQL string. What each form means, the same on
both stores:

================================  ==========================================================
``field:value``                   the field's value equals ``value`` (case-insensitive)
``field:"some text"``             the field's value contains ``some text`` (case-insensitive)
``field:WS*`` / ``field:W?01``    the whole value matches the wildcards (``*`` any run, ``?``
                                  one character), case-insensitive; ``\\*`` is a literal star
``field:[a TO b]``, ``{a TO b}``  a range, inclusive ``[]`` or exclusive ``{}``; ``*`` is open;
``field:>=a`` (``>``, ``<``, ``<=``)  numeric when the bounds are numbers, else text order
``_exists_:field``                the event has the field
``word``                          full text: the word is one of the event's words
``"two words"``                   full text: the words, in this order, side by side
``wor*``                          full text: a word that starts with ``wor``
``a AND b``, ``a OR b``, ``NOT a``, ``-a``, ``+a``, ``( )``, ``field:(a OR b)``
``a b``                           both (terms side by side must all match)
================================  ==========================================================

Field names are case-insensitive. An event's queryable fields are its
normalized ``fields`` (dotted names, as Sigma rules see them) plus ``host``,
``source``, ``logsource.product|category|service`` and ``origin.connector|
source|stream|drill``. Words are cut by :func:`soc.store.terms.words`
(lower-cased, diacritics removed, split at anything not a letter or digit).
Fuzzy (``~``), boosts (``^``) and regular expressions (``/re/``) are refused
with the column they start at.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any, Literal

from luqum import tree as lt
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _parser
from pydantic import BaseModel, ConfigDict, Field

from soc.errors import QueryError
from soc.models import Event, UtcDatetime
from soc.store.terms import word_list

MAX_QUERY_CHARS = 4000
MAX_DEPTH = 64
"""Deeper nesting is refused (a query is not a way to exhaust the stack)."""
MAX_NESTING = 24
"""Levels of AND/OR/NOT in the meaning of a query: SQLite's parser overflows its stack on
the SQL of about 30 (40 NOTs: ``-----...a:b``, found by tests/fuzz); real queries use few."""
EXISTS = "_exists_"


class QuerySyntaxError(QueryError):
    """The query text is not valid; ``column`` is 1-based."""

    def __init__(self, message: str, *, column: int) -> None:
        super().__init__(f"{message} (column {column})")
        self.reason = message
        self.column = column


# --- the tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Equals:
    """``field:value``: the value, lower-cased, equals ``value`` (lower-cased)."""

    field: str
    value: str


@dataclass(frozen=True)
class Contains:
    """``field:"text"``: the value, lower-cased, contains ``text`` (lower-cased)."""

    field: str
    text: str


@dataclass(frozen=True)
class Like:
    """``field:pattern``: the whole lower-cased value matches ``pattern``.

    ``pattern`` is lower-cased and in OpenSearch's wildcard syntax: ``*`` and ``?``
    are wildcards, ``\\`` escapes the next character. :func:`pattern_parts` reads it.
    """

    field: str
    pattern: str


@dataclass(frozen=True)
class Range:
    """``field:[low TO high]``: ``None`` is open. Numeric when :attr:`numeric`."""

    field: str
    low: str | None
    high: str | None
    include_low: bool = True
    include_high: bool = True

    @property
    def numeric(self) -> bool:
        bounds = [b for b in (self.low, self.high) if b is not None]
        return bool(bounds) and all(number(b) is not None for b in bounds)


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Words:
    """Full text: every word, in this order and adjacent when :attr:`phrase`."""

    words: tuple[str, ...]
    phrase: bool = False


@dataclass(frozen=True)
class WordPrefix:
    """Full text: some word starts with ``prefix`` (``wor*``)."""

    prefix: str


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Nothing:
    """Matches no event (a full-text term with no word in it, e.g. ``"--"``)."""


Node = (
    Equals | Contains | Like | Range | Exists | Words | WordPrefix | AllOf | AnyOf | Not | Nothing
)


# --- what an event offers to queries ---------------------------------------------


def number(text: str) -> float | None:
    """``text`` as a finite number, or None."""
    try:
        n = float(text)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def _scalars(value: Any) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, int | float | str):
        yield str(value)
    elif isinstance(value, list):
        for v in value:
            yield from _scalars(v)
    elif isinstance(value, dict):
        return  # fields are flattened already; a nested object has no single value
    else:
        yield str(value)


def event_pairs(event: Event) -> list[tuple[str, str]]:
    """Every (name, value) a query can match, both lower-cased, without repeats.

    The normalized fields, then the event's own attributes under their names.
    Values keep their whole length (a script block is one value).
    """
    out: dict[tuple[str, str], None] = {}
    for name, value in event.fields.items():
        for v in _scalars(value):
            out[(name.lower(), v.lower())] = None
    own: dict[str, str | None] = {
        "host": event.host,
        "source": event.source,
        "logsource.product": event.logsource.product,
        "logsource.category": event.logsource.category,
        "logsource.service": event.logsource.service,
    }
    if event.origin is not None:
        own.update(
            {
                "origin.connector": event.origin.connector,
                "origin.source": event.origin.source,
                "origin.stream": event.origin.stream,
                "origin.drill": event.origin.drill,
            }
        )
    for name, attribute in own.items():
        if attribute is not None:
            out[(name, attribute.lower())] = None
    return list(out)


def event_text(event: Event) -> list[str]:
    """The texts full-text words are cut from: every value of :func:`event_pairs`."""
    return [v for _, v in event_pairs(event)]


# --- parsing -------------------------------------------------------------------

_POSITION = re.compile(r"at position (\d+)")
_UNSUPPORTED: dict[type, str] = {
    lt.Fuzzy: "fuzzy search (~) is not supported",
    lt.Proximity: "proximity search (~) is not supported",
    lt.Boost: "boosts (^) are not supported",
    lt.Regex: "regular expressions (/.../) are not supported; use wildcards * and ?",
}


def parse(text: str) -> Node | None:
    """The tree of ``text``; None for a blank query (every event). Raises QuerySyntaxError."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"the query is longer than {MAX_QUERY_CHARS} characters", column=1)
    if not text.strip():
        return None
    try:
        parsed = _parser.parse(text)
    except IllegalCharacterError as e:
        raise QuerySyntaxError(_reason(e), column=_column(e, text)) from e
    except ParseError as e:
        raise QuerySyntaxError(_reason(e), column=_column(e, text)) from e
    except RecursionError as e:
        raise QuerySyntaxError("the query is nested too deeply", column=1) from e
    except InvalidOperation as e:  # luqum reads a fuzzy degree as a number: b~.x (tests/fuzz)
        at = text.find("~")
        raise QuerySyntaxError(_UNSUPPORTED[lt.Fuzzy], column=at + 1 if at >= 0 else 1) from e
    node = _Builder(text).node(parsed, field=None, depth=0)
    if _nesting(node) > MAX_NESTING:
        raise QuerySyntaxError(
            f"the query is nested too deeply (more than {MAX_NESTING} levels of AND, OR, NOT)",
            column=1,
        )
    return node


def _nesting(node: Node) -> int:
    """Levels of AllOf/AnyOf/Not from ``node`` down to its deepest leaf."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        n, level = stack.pop()
        match n:
            case AllOf(items) | AnyOf(items):
                stack.extend((i, level + 1) for i in items)
            case Not(item):
                stack.append((item, level + 1))
            case _:
                deepest = max(deepest, level)
    return deepest


def _reason(e: Exception) -> str:
    message = str(e).removeprefix("Syntax error in input : ").rstrip("!")
    message = _POSITION.sub("", message).strip()
    if "end of expression" in message:
        return "the query ends too early (an unclosed parenthesis, quote or range?)"
    return message.replace("  ", " ")


def _column(e: Exception, text: str) -> int:
    found = _POSITION.search(str(e))
    return int(found.group(1)) + 1 if found else len(text) + 1


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_WILD = re.compile(r"(?<!\\)(?:\\\\)*[*?]")


def _unescape(value: str) -> str:
    return _ESCAPED.sub(r"\1", value)


def _has_wildcard(value: str) -> bool:
    return _WILD.search(value) is not None


def _as_pattern(value: str) -> str:
    """A luqum word with wildcards -> the lower-cased OpenSearch wildcard pattern."""
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\\" + nxt if nxt in "*?\\" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out).lower()


Part = tuple[Literal["text"], str] | tuple[Literal["any"], None] | tuple[Literal["one"], None]


def pattern_parts(pattern: str) -> list[Part]:
    """A :class:`Like` pattern as literal runs and wildcards, for a store to translate."""
    parts: list[Part] = []
    run: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            run.append(pattern[i + 1])
            i += 2
            continue
        if c in "*?":
            if run:
                parts.append(("text", "".join(run)))
                run = []
            parts.append(("any", None) if c == "*" else ("one", None))
        else:
            run.append(c)
        i += 1
    if run:
        parts.append(("text", "".join(run)))
    return parts


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, item: lt.Item, message: str) -> QuerySyntaxError:
        return QuerySyntaxError(message, column=(getattr(item, "pos", None) or 0) + 1)

    def node(self, item: lt.Item, *, field: str | None, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(item, "the query is nested too deeply")
        for kind, message in _UNSUPPORTED.items():
            if isinstance(item, kind):
                raise self.fail(item, message)
        d = depth + 1
        match item:
            case lt.AndOperation() | lt.UnknownOperation():
                return AllOf(tuple(self.node(c, field=field, depth=d) for c in item.children))
            case lt.OrOperation():
                return AnyOf(tuple(self.node(c, field=field, depth=d) for c in item.children))
            case lt.Not() | lt.Prohibit():
                return Not(self.node(item.a, field=field, depth=d))
            case lt.Plus():
                return self.node(item.a, field=field, depth=d)
            case lt.Group() | lt.FieldGroup():
                return self.node(item.expr, field=field, depth=d)
            case lt.SearchField():
                if field is not None:
                    raise self.fail(item, f"a field inside the field {field!r}")
                name = _unescape(item.name)
                if name == EXISTS:
                    return self.exists(item.expr)
                return self.node(item.expr, field=name.lower(), depth=d)
            case lt.Range():
                return self.range(item, field)
            case lt.From() | lt.To():
                return self.bound(item, field)
            case lt.Phrase():
                return self.phrase(item, field)
            case lt.Word():
                return self.word(item, field)
        raise self.fail(item, f"{type(item).__name__} is not supported here")

    def exists(self, expr: lt.Item) -> Node:
        if not isinstance(expr, lt.Word) or _has_wildcard(expr.value):
            raise self.fail(expr, "_exists_ takes one field name")
        return Exists(_unescape(expr.value).lower())

    def word(self, item: lt.Word, field: str | None) -> Node:
        raw = item.value
        if field is None:
            if raw.endswith("*") and not _has_wildcard(raw[:-1]):
                prefix = _words(_unescape(raw[:-1]))
                if len(prefix) == 1:
                    return WordPrefix(prefix[0])
            if _has_wildcard(raw):
                raise self.fail(
                    item, "a bare word may only end with *; use field:*text* inside a value"
                )
            return _full_text(_words(_unescape(raw)), phrase=True)
        if _has_wildcard(raw):
            return Like(field, _as_pattern(raw))
        return Equals(field, _unescape(raw).lower())

    def phrase(self, item: lt.Phrase, field: str | None) -> Node:
        inner = _unescape(item.value[1:-1])
        if field is None:
            return _full_text(_words(inner), phrase=True)
        return Contains(field, inner.lower())

    def range(self, item: lt.Range, field: str | None) -> Node:
        if field is None:
            raise self.fail(item, "a range needs a field: field:[a TO b]")
        low, high = (self.bound_value(b) for b in (item.low, item.high))
        return Range(field, low, high, bool(item.include_low), bool(item.include_high))

    def bound(self, item: lt.From | lt.To, field: str | None) -> Node:
        if field is None:
            raise self.fail(item, "a comparison needs a field: field:>=a")
        value = self.bound_value(item.a)
        if isinstance(item, lt.From):
            return Range(field, value, None, include_low=bool(item.include))
        return Range(field, None, value, include_high=bool(item.include))

    def bound_value(self, item: lt.Item) -> str | None:
        if isinstance(item, lt.Word):
            return None if item.value == "*" else _unescape(item.value).lower()
        if isinstance(item, lt.Phrase):
            return _unescape(item.value[1:-1]).lower()
        raise self.fail(item, "a range bound is a word or a quoted text")


def _words(text: str) -> list[str]:
    return word_list(text)


def _full_text(words: list[str], *, phrase: bool) -> Node:
    if not words:
        return Nothing()
    return Words(tuple(words), phrase=phrase and len(words) > 1)


# --- what crosses the store seam -------------------------------------------------


class EventQuery(BaseModel):
    """A filtered, paginated read of events; ``tenants`` is set by the server."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tenants: list[str] | None = None
    """``None`` means every tenant (only for callers allowed all)."""
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    """Event time in [since, until)."""
    where: Any = None
    """A :data:`Node` from :func:`parse`, or None for every event of the range."""
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = None


class EventPage(BaseModel):
    items: list[Event]
    next_cursor: str | None = None
    """Pass back as ``cursor`` for the next (older) page; absent on the last page."""


class ValueCount(BaseModel):
    value: str
    count: int


class EventStats(BaseModel):
    """Top values of one field among the matching events (lower-cased, as matched)."""

    field: str
    events: int
    """Matching events that have the field."""
    values: list[ValueCount]
    other: int = 0
    """Events whose value is not among ``values``."""
