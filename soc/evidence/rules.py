"""The Sigma rules behind an incident's alerts, as files for its evidence bundle.

    rule_sources(["<rule id>", ...], settings.detect.rules) -> {"<rule id>": RuleSource}

Rules are found by id under the configured rule files and folders (the
project's ``<soc>/detections/rules`` shipped in the package, maybe a SigmaHQ
checkout such as ``../shared/sigma/rules``): a cheap scan of each ``*.yml``/``*.yaml`` file for
top-level ``id:`` lines, no pySigma. The id -> file map is cached per set of
folders; a rule not found there, or a file that no longer holds its id, makes
one fresh scan, so rules added or moved since are still found.

A rule without an ``id:`` gets the id the detector gives it (soc.detect.rules):
a digest of its path relative to the folder it was loaded from.

Rules that are in no file (uploaded through the API or ``soc rules import``, kept in
the rule catalog, soc.detect.catalog) are found there: :func:`catalog_sources` gives
their current version's text, its ``path`` ``catalog:<id>@<revision>``. A correlation
alert's rule is a correlation rule, found the same way (by its id, in its file or in
the catalog).

The text is the file as it is now, which may be newer than the rule that
fired: ``RuleSource.version`` (the rule's ``modified``, else ``date``) is set
beside each alert's ``rule_version`` in the bundle, so a difference shows.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from soc.detect.catalog import RuleCatalog
from soc.models import digest

RULE_SUFFIXES = (".yml", ".yaml")
_ID_LINE = re.compile(rb"""^id:[ \t]*['"]?([^'"\s#]+)""", re.MULTILINE)
"""A top-level ``id:``; ``related:`` ids are indented and not matched."""
_DATE = re.compile(r"(\d{4})[-/](\d{2})[-/](\d{2})")


class RuleSource(BaseModel):
    """One rule file's text, and what identifies that text."""

    id: str
    title: str
    version: str | None
    """The rule's ``modified``, else its ``date`` (``YYYY-MM-DD``), as alerts record it."""
    path: str
    """Where it was found: the configured folder joined with the file's path inside it."""
    sha256: str
    """SHA-256 of the file's bytes (``text`` encoded as UTF-8)."""
    text: str
    tags: list[str] = []
    """ATT&CK and other tags, e.g. ``attack.t1003.001``."""
    author: str | None = None


_IdMap = dict[str, Path]
_cache: dict[tuple[str, ...], _IdMap] = {}
_lock = threading.Lock()


def rule_sources(
    rule_ids: Iterable[str], rules_dirs: Sequence[Path | str]
) -> dict[str, RuleSource]:
    """The rules of ``rule_ids`` found under ``rules_dirs``; ids not found are left out."""
    wanted = sorted(set(rule_ids))
    key = tuple(str(Path(d)) for d in rules_dirs)
    with _lock:
        index = _cache.get(key)
    scanned = index is None
    if index is None:
        index = _scan(rules_dirs)
    found = _lookup(wanted, index)
    if len(found) < len(wanted) and not scanned:  # added, moved or edited since the scan
        index = _scan(rules_dirs)
        found |= _lookup([i for i in wanted if i not in found], index)
    with _lock:
        _cache[key] = index
    return found


async def catalog_sources(rule_ids: Iterable[str], catalog: RuleCatalog) -> dict[str, RuleSource]:
    """The catalog's current version of each of ``rule_ids`` it holds."""
    found: dict[str, RuleSource] = {}
    for rule_id in sorted(set(rule_ids)):
        read = await catalog.read(rule_id)
        if read is None:
            continue
        entry = read[0]
        doc = _document(entry.yaml, rule_id) or {}
        found[rule_id] = RuleSource(
            id=rule_id,
            title=entry.title,
            version=_version(doc.get("modified") or doc.get("date")),
            path=f"catalog:{rule_id}@{entry.revision}",
            sha256=hashlib.sha256(entry.yaml.encode()).hexdigest(),
            text=entry.yaml,
            tags=list(entry.tags),
            author=entry.author,
        )
    return found


def _lookup(rule_ids: Iterable[str], index: _IdMap) -> dict[str, RuleSource]:
    found: dict[str, RuleSource] = {}
    for rule_id in rule_ids:
        path = index.get(rule_id)
        source = _read(rule_id, path) if path is not None else None
        if source is not None:
            found[rule_id] = source
    return found


def clear_cache() -> None:
    """Forget every id -> file map (tests, or after rules were reorganised)."""
    with _lock:
        _cache.clear()


def _files(given: Path) -> tuple[Path, list[Path]]:
    if given.is_dir():
        files = sorted(
            p for p in given.rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file()
        )
        return given, files
    if given.is_file():
        return given.parent, [given]
    return given, []


def _scan(rules_dirs: Sequence[Path | str]) -> _IdMap:
    """id -> file for every rule file; the first file of an id wins, as in the detector."""
    index: _IdMap = {}
    for given in map(Path, rules_dirs):
        root, files = _files(given)
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            ids = [m.decode("utf-8", "replace") for m in _ID_LINE.findall(data)]
            if not ids:
                ids = [digest("sigma-rule-path", path.relative_to(root).as_posix(), "0")]
            for rule_id in ids:
                index.setdefault(rule_id, path)
    return index


def _read(rule_id: str, path: Path) -> RuleSource | None:
    """The rule in ``path``, or None when the file is gone or no longer holds it."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    doc = _document(text, rule_id)
    if doc is None:
        return None
    when = doc.get("modified") or doc.get("date")
    tags = doc.get("tags")
    author = doc.get("author")
    return RuleSource(
        id=rule_id,
        title=str(doc.get("title") or rule_id),
        version=_version(when),
        path=path.as_posix(),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        tags=[str(t) for t in tags] if isinstance(tags, list) else [],
        author=str(author) if author is not None else None,
    )


def _document(text: str, rule_id: str) -> dict[str, Any] | None:
    """The YAML document of ``rule_id`` (the first one for a rule without an id)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError:
        return None
    for doc in docs:
        if str(doc.get("id")) == rule_id:
            return doc
    if docs and "id" not in docs[0]:
        return docs[0]
    return None


def _version(when: object) -> str | None:
    """``YYYY-MM-DD`` as pySigma gives it (it also reads ``YYYY/MM/DD``)."""
    if isinstance(when, datetime):
        return when.date().isoformat()
    if isinstance(when, date):
        return when.isoformat()
    if isinstance(when, str) and (m := _DATE.fullmatch(when.strip())):
        return "-".join(m.groups())
    return None
