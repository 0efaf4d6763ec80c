"""Sigma strings as patterns, and one predicate that tests a string against many.

pySigma has already parsed a rule's string into literal parts and wildcards
(``*`` any run, ``?`` one character), with escapes such as ``\\*`` resolved
into literal characters, and has expanded modifiers (contains, startswith,
endswith, windash, base64offset, ...) into such strings. Each string becomes
the cheapest test that decides it:

    'abc'        EXACT      s == 'abc'          (a set lookup when grouped)
    'abc*'       PREFIX     s.startswith(...)   (one call for a tuple of prefixes)
    '*abc'       SUFFIX     s.endswith(...)
    '*abc*'      CONTAINS   'abc' in s
    other        REGEX      the literals re.escape()d, * as .*, ? as ., fullmatch, DOTALL

A case-insensitive pattern holds lowercased literals and is tested against
lowercased values (see :class:`soc.detect.view.EventView`); a cased one
against the values as they are. :func:`string_predicate` ORs a group of
patterns into one closure. Across rules, the literals feed the engine's
multi-pattern candidate index (index.py), which decides which rules to run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from sigma.types import Placeholder, SigmaString, SpecialChars

from soc.errors import RuleError

StringPredicate = Callable[[str], bool]

_MULTI = SpecialChars.WILDCARD_MULTI
_SINGLE = SpecialChars.WILDCARD_SINGLE
_Part = str | SpecialChars


class Kind(Enum):
    """How a pattern is tested, cheapest first."""

    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    CONTAINS = "contains"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class StringPattern:
    """One compiled Sigma string: a literal with its kind, or a regex source (REGEX)."""

    kind: Kind
    text: str
    literals: tuple[str, ...] = ()
    """For REGEX: the literal runs between the wildcards, every one of which a match contains."""


def _parts(value: SigmaString, *, cased: bool, anywhere: bool) -> list[_Part]:
    """The string's parts, literals lowercased unless cased, ``**`` collapsed."""
    raw: list[_Part] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise RuleError(f"placeholder %{part.name}% is not supported (expand modifier)")
        if isinstance(part, str):
            raw.append(part if cased else part.lower())
        elif isinstance(part, SpecialChars):
            raw.append(part)
        else:  # pragma: no cover - pySigma only builds the three part types
            raise RuleError(f"unsupported string part {type(part).__name__}")
    if anywhere:
        raw = [_MULTI, *raw, _MULTI]
    out: list[_Part] = []
    for part in raw:
        if out and isinstance(part, str) and isinstance(out[-1], str):
            out[-1] = out[-1] + part
        elif not (part is _MULTI and out and out[-1] is _MULTI):
            out.append(part)
    return out


def to_pattern(value: SigmaString, *, cased: bool = False, anywhere: bool = False) -> StringPattern:
    """Compile a Sigma string; ``anywhere`` matches it inside a value (keywords)."""
    parts = _parts(value, cased=cased, anywhere=anywhere)
    lead = bool(parts) and parts[0] is _MULTI
    trail = bool(parts) and parts[-1] is _MULTI
    core = parts[int(lead) : len(parts) - int(trail)]
    if len(core) <= 1 and all(isinstance(p, str) for p in core):
        literal = str(core[0]) if core else ""
        if lead and trail:
            return StringPattern(Kind.CONTAINS, literal)
        if lead:
            return StringPattern(Kind.SUFFIX, literal)
        if trail:
            return StringPattern(Kind.PREFIX, literal)
        return StringPattern(Kind.EXACT, literal)
    source = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p is _MULTI else ".") for p in parts
    )
    literals = tuple(p for p in parts if isinstance(p, str))
    return StringPattern(Kind.REGEX, source, literals)


def _any_of(checks: Sequence[StringPredicate]) -> StringPredicate:
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def check_any(s: str) -> bool:
        for check in frozen:  # noqa: SIM110 - a loop, not a generator frame, per value
            if check(s):
                return True
        return False

    return check_any


def _contains_check(literals: tuple[str, ...]) -> StringPredicate:
    if len(literals) == 1:
        (needle,) = literals
        return lambda s: needle in s

    def contains_any(s: str) -> bool:
        return any(map(s.__contains__, literals))

    return contains_any


def string_predicate(patterns: Sequence[StringPattern]) -> StringPredicate:
    """One closure that is true when a string matches any of the patterns."""
    by_kind: dict[Kind, list[str]] = {kind: [] for kind in Kind}
    for pattern in patterns:
        by_kind[pattern.kind].append(pattern.text)
    checks: list[StringPredicate] = []
    if exact := frozenset(by_kind[Kind.EXACT]):
        checks.append(exact.__contains__)
    if prefixes := tuple(dict.fromkeys(by_kind[Kind.PREFIX])):
        checks.append(lambda s: s.startswith(prefixes))
    if suffixes := tuple(dict.fromkeys(by_kind[Kind.SUFFIX])):
        checks.append(lambda s: s.endswith(suffixes))
    if contained := tuple(dict.fromkeys(by_kind[Kind.CONTAINS])):
        checks.append(_contains_check(contained))
    if sources := list(dict.fromkeys(by_kind[Kind.REGEX])):
        regex = re.compile("|".join(f"(?:{s})" for s in sources), re.DOTALL)
        checks.append(lambda s: regex.fullmatch(s) is not None)
    if not checks:
        raise RuleError("empty value list")
    return _any_of(checks)
