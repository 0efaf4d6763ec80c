"""Which of many literals occur in a text, found in one pass over the text.

    build_scanner(literals) -> Scanner
    scanner.scan(text) -> [i, ...]   indices of the literals that occur in text
    scanner.scan_lowered(text)       ... that occur in text.lower() (literals lowercase)

Every literal that occurs is reported at least once (some more than once).
A literal that does not occur may be reported too (only with a NUL in it,
below): callers use the answer to choose candidates, never to decide a match.
Two implementations sit behind the one protocol, as aiokafka keeps a C and a
pure-Python record codec:

    HyperscanScanner    Intel Hyperscan (SIMD literal matching, each literal reported
                        once per scan); the default where the wheel installs (x86-64)
    AhoCorasickScanner  ahocorasick_rs (Rust), overlapping matches; used where
                        hyperscan is not installed, and checked against it in the tests

Texts are matched as UTF-8 (lone surrogates passed through, which keeps
substrings substrings); a text the Aho-Corasick binding cannot take reports
every literal, so a scanner never hides one. The Hyperscan binding passes
expressions as C strings, so a literal with a NUL is searched for by its
longest NUL-free run (reported whenever that run occurs), and one made only
of NULs is reported on every scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import Any, Literal, Protocol

import ahocorasick_rs

hyperscan: Any
try:  # optional: wheels for x86-64 only
    hyperscan = import_module("hyperscan")
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None

ScannerKind = Literal["auto", "hyperscan", "aho-corasick"]


class Scanner(Protocol):
    """A set of literals compiled for one-pass search."""

    def scan(self, text: str) -> list[int]:
        """The indices of the literals occurring in ``text`` (repeats allowed)."""
        ...

    def scan_lowered(self, text: str) -> list[int]:
        """:meth:`scan` of ``text.lower()``, for lowercase literals."""
        ...


class AhoCorasickScanner:
    """ahocorasick_rs over the literals; overlapping search, so no literal hides another."""

    __slots__ = ("_automaton", "_every")

    def __init__(self, literals: Sequence[str]) -> None:
        self._automaton = ahocorasick_rs.AhoCorasick(list(literals))
        self._every = list(range(len(literals)))

    def scan(self, text: str) -> list[int]:
        try:
            found = self._automaton.find_matches_as_indexes(text, overlapping=True)
        except UnicodeError:  # a lone surrogate: cannot scan, so report every literal
            return self._every
        return [i for i, _, _ in found]

    def scan_lowered(self, text: str) -> list[int]:
        return self.scan(text.lower())


def _collect(index: int, start: int, end: int, flags: int, found: list[int]) -> None:
    found.append(index)


class HyperscanScanner:
    """Hyperscan's literal compiler, block mode, one report per literal per scan.

    The literals are compiled caseless (ASCII letters only, as Hyperscan folds case), so
    :meth:`scan_lowered` scans a text as it is when lowering could not change where an
    ASCII literal occurs: an ASCII text (``str.lower`` maps each letter alone), or, when
    every literal is ASCII, a text without the two characters ``str.lower`` turns into
    ASCII ones (the Kelvin sign into ``k``, ``İ`` into ``i`` and a combining dot); other
    characters lower to non-ASCII ones, whose UTF-8 bytes no ASCII literal contains. Any
    other text is lowered first."""

    __slots__ = ("_always", "_ascii", "_database")

    def __init__(self, literals: Sequence[str]) -> None:
        if hyperscan is None:  # pragma: no cover - depends on the platform
            raise RuntimeError("hyperscan is not installed")
        self._ascii = all(literal.isascii() for literal in literals)
        runs = [max(literal.split("\x00"), key=len) for literal in literals]
        ids = [i for i, run in enumerate(runs) if run]
        self._always = [i for i, run in enumerate(runs) if not run]
        self._database: Any = None
        if ids:
            self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._database.compile(
                expressions=[_utf8(runs[i]) for i in ids],
                ids=ids,
                elements=len(ids),
                flags=hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_CASELESS,
                literal=True,
            )

    def scan(self, text: str) -> list[int]:
        found = list(self._always)
        if self._database is not None:
            self._database.scan(_utf8(text), match_event_handler=_collect, context=found)
        return found

    def scan_lowered(self, text: str) -> list[int]:
        if not text.isascii() and (
            not self._ascii or "\u212a" in text or "\u0130" in text  # K (Kelvin), İ
        ):
            text = text.lower()
        return self.scan(text)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def hyperscan_available() -> bool:
    """Whether the Hyperscan scanner can be built here."""
    return hyperscan is not None


def build_scanner(literals: Sequence[str], *, kind: ScannerKind = "auto") -> Scanner:
    """A scanner over non-empty literals: Hyperscan when available (or asked), else Aho-Corasick."""
    if not literals or any(not literal for literal in literals):
        raise ValueError("a scanner needs non-empty literals")
    if kind == "hyperscan" or (kind == "auto" and hyperscan is not None):
        return HyperscanScanner(literals)
    return AhoCorasickScanner(literals)
