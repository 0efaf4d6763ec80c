"""Compiled rules on disk, so a restart with unchanged rules skips pySigma.

    cache = RuleCache(Path(".soc/rule-cache"), pipelines="<identity of the pipelines>")
    rules, errors = load_cached(path, root, load=_load_file, cache=cache)

One JSON file per rule file, named by the SHA-256 of everything the result
depends on: :data:`FORMAT` (bumped whenever the IR or this layout changes),
pySigma's version, the identity of the processing pipelines applied, the
file's path relative to the folder loaded (ids of id-less rules derive from
it) and the file's bytes. A changed rule file, another pySigma, other
pipelines or a new format give another name, so a stale entry is never read
(nor deleted: entries are small, and detectors with other rule sets may share
the folder). An entry holds each rule's and each Sigma filter's metadata and condition IR
(ir.py, as tagged JSON arrays; closures do not serialize) and the file's load
errors; a hit rebuilds the closures from the IR, which costs a fraction of
pySigma. (A filter's references to rules are resolved after every file is
loaded, so the entry keeps them as written.)

An entry that cannot be read, decoded or rebuilt is logged
(``rule cache entry unusable``) and treated as a miss: the file is loaded
with pySigma and the entry rewritten. Writes go to a temporary file renamed
into place, so concurrent detectors never read half an entry. The cache is
JSON, not pickle: a writable cache folder must not become a way to run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from soc.detect.compile import build
from soc.detect.correlation.model import Correlation
from soc.detect.filter import Filter
from soc.detect.ir import (
    And,
    Bool,
    Cidr,
    Compare,
    Exists,
    FieldRef,
    Node,
    Not,
    Null,
    Numbers,
    Or,
    Regex,
    Strings,
)
from soc.detect.patterns import Kind, StringPattern
from soc.detect.rule import Rule
from soc.errors import RuleError
from soc.log import get_logger
from soc.models import LogSource, Severity

log = get_logger(__name__)

FORMAT = 2
"""Version of the cached IR and entry layout; bump it on any change to either (2: ``name``
and filters)."""

_KINDS = {kind.value: kind for kind in Kind}

Loaded = tuple[list[Rule], list[Filter], list[RuleError], list[Correlation]]
"""What one rule file holds: its rules, its Sigma filters, an error for each that failed, and
its correlation rules (not resolved yet)."""
Loader = Callable[[Path, Path], Loaded]


class RuleCache:
    """A folder of cached rule files, for one pySigma version and one set of pipelines."""

    def __init__(self, directory: Path | str, *, pipelines: str = "") -> None:
        self.directory = Path(directory)
        self._salt = f"{FORMAT}\0{version('pysigma')}\0{pipelines}\0"

    def key(self, relative: str, content: bytes) -> str:
        """The entry name for a rule file's relative path and bytes."""
        h = hashlib.sha256(self._salt.encode())
        h.update(relative.encode() + b"\0")
        h.update(content)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str, path: Path) -> Loaded | None:
        """The file's rules, filters and errors, or None on a miss or an unusable entry."""
        entry = self._path(key)
        try:
            data = json.loads(entry.read_bytes())
            if data["format"] != FORMAT:
                raise ValueError(f"format {data['format']!r}")
            rules = [_rule_from(record, path) for record in data["rules"]]
            filters = [_filter_from(record, path) for record in data["filters"]]
            errors = [RuleError(str(reason), path=path) for reason in data["errors"]]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, IndexError, RuleError) as e:
            log.warning(
                "rule cache entry unusable",
                extra={"entry": str(entry), "rule_file": str(path), "error": repr(e)},
            )
            return None
        return rules, filters, errors, []

    def put(self, key: str, loaded: Loaded) -> None:
        """Store a file's result; a failure to write is logged, never raised."""
        rules, filters, errors, _ = loaded
        data = {
            "format": FORMAT,
            "rules": [_record(rule) for rule in rules],
            "filters": [_filter_record(f) for f in filters],
            "errors": [e.reason for e in errors],
        }
        entry = self._path(key)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, separators=(",", ":"), ensure_ascii=False)
                os.replace(tmp, entry)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except (OSError, TypeError, ValueError) as e:
            log.warning("rule cache write failed", extra={"entry": str(entry), "error": repr(e)})


def load_cached(path: Path, root: Path, *, load: Loader, cache: RuleCache | None) -> Loaded:
    """``load(path, root)``, or its cached result for the file's current bytes.

    Files holding correlation rules are not cached: they are few, and pySigma parses them
    in a moment; their detection rules are compiled again with them.
    """
    if cache is None:
        return load(path, root)
    try:
        content = path.read_bytes()
    except OSError:
        return load(path, root)  # which reports the file it cannot read
    key = cache.key(path.relative_to(root).as_posix(), content)
    hit = cache.get(key, path)
    if hit is not None:
        return hit
    loaded = load(path, root)
    rules, filters, _, correlations = loaded
    compiled = [r.condition for r in rules] + [f.condition for f in filters]
    cachable = not correlations and all(c is not None for c in compiled)
    if cachable and _unchanged(path, content):
        cache.put(key, loaded)
    return loaded


def _unchanged(path: Path, content: bytes) -> bool:
    """Whether the file still holds ``content`` (it may have changed while it was loaded)."""
    try:
        return path.read_bytes() == content
    except OSError:
        return False


# --- rules <-> JSON ---------------------------------------------------------------------


def _record(rule: Rule) -> dict[str, Any]:
    assert rule.condition is not None
    ls = rule.logsource
    return {
        "id": rule.id,
        "title": rule.title,
        "level": rule.level.value,
        "tags": rule.tags,
        "version": rule.version,
        "logsource": [ls.product, ls.category, ls.service],
        "author": rule.author,
        "name": rule.name,
        "condition": encode(rule.condition),
    }


def _rule_from(record: dict[str, Any], path: Path) -> Rule:
    condition = decode(record["condition"])
    product, category, service = record["logsource"]
    return Rule(
        id=str(record["id"]),
        title=str(record["title"]),
        level=Severity(record["level"]),
        tags=[str(tag) for tag in record["tags"]],
        version=record["version"],
        path=path,
        logsource=LogSource(product=product, category=category, service=service),
        author=record["author"],
        matches=build(condition),
        condition=condition,
        name=record["name"],
    )


def _filter_record(f: Filter) -> dict[str, Any]:
    assert f.condition is not None
    ls = f.logsource
    return {
        "id": f.id,
        "title": f.title,
        "description": f.description,
        "logsource": [ls.product, ls.category, ls.service],
        "refs": None if f.refs is None else list(f.refs),
        "tenants": None if f.tenants is None else sorted(f.tenants),
        "version": f.version,
        "condition": encode(f.condition),
    }


def _filter_from(record: dict[str, Any], path: Path) -> Filter:
    condition = decode(record["condition"])
    product, category, service = record["logsource"]
    refs, tenants = record["refs"], record["tenants"]
    return Filter(
        id=str(record["id"]),
        title=str(record["title"]),
        description=record["description"],
        path=path,
        logsource=LogSource(product=product, category=category, service=service),
        refs=None if refs is None else tuple(map(str, refs)),
        tenants=None if tenants is None else frozenset(map(str, tenants)),
        matches=build(condition),
        condition=condition,
        version=record["version"],
    )


def encode(node: Node) -> list[Any]:
    """The IR as tagged JSON arrays: ``["and", [...]]``, ``["str", field, cased, [...]]``..."""
    if isinstance(node, And | Or):
        return ["and" if isinstance(node, And) else "or", [encode(c) for c in node.children]]
    if isinstance(node, Not):
        return ["not", encode(node.child)]
    if isinstance(node, Strings):
        patterns = [[p.kind.value, p.text, list(p.literals)] for p in node.patterns]
        return ["str", node.field, node.cased, patterns]
    if isinstance(node, Numbers):
        return ["num", node.field, list(node.values)]
    if isinstance(node, Null):
        return ["null", node.field]
    if isinstance(node, Exists):
        return ["exists", node.field, node.exists]
    if isinstance(node, Bool):
        return ["bool", node.field, node.value]
    if isinstance(node, Regex):
        return ["re", node.field, node.source, node.flags]
    if isinstance(node, Cidr):
        return ["cidr", node.field, node.network]
    if isinstance(node, Compare):
        return ["cmp", node.field, node.op, node.number]
    return ["ref", node.field, node.other, node.mode]


def decode(data: Any) -> Node:
    """The IR from :func:`encode`'s arrays; raises ValueError on anything else."""
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise ValueError(f"not an IR node: {data!r:.80}")
    tag, args = data[0], data[1:]
    if tag in ("and", "or"):
        (children,) = args
        nodes = tuple(decode(child) for child in children)
        if not nodes:
            raise ValueError(f"empty {tag!r}")
        return And(nodes) if tag == "and" else Or(nodes)
    if tag == "not":
        return Not(decode(args[0]))
    if tag == "str":
        field, cased, patterns = args
        return Strings(
            _field(field),
            bool(cased),
            tuple(
                StringPattern(_KINDS[k], str(t), tuple(map(str, lits))) for k, t, lits in patterns
            ),
        )
    if tag == "num":
        field, values = args
        return Numbers(_field(field, optional=False), tuple(_number(v) for v in values))
    return _decode_leaf(tag, args)


def _decode_leaf(tag: str, args: list[Any]) -> Node:
    field = _field(args[0], optional=tag == "re")
    if tag == "null":
        return Null(field)
    if tag == "exists":
        return Exists(field, bool(args[1]))
    if tag == "bool":
        return Bool(field, bool(args[1]))
    if tag == "re":
        return Regex(args[0], str(args[1]), int(args[2]))
    if tag == "cidr":
        return Cidr(field, str(args[1]))
    if tag == "cmp" and args[1] in ("lt", "lte", "gt", "gte", "neq"):
        return Compare(field, args[1], _number(args[2]))
    if tag == "ref" and args[2] in ("eq", "startswith", "endswith", "contains"):
        return FieldRef(field, str(args[1]), args[2])
    raise ValueError(f"unknown IR node {tag!r}")


def _field(value: Any, *, optional: bool = True) -> Any:
    if isinstance(value, str) or (optional and value is None):
        return value
    raise ValueError(f"not a field name: {value!r:.80}")


def _number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"not a number: {value!r:.80}")
