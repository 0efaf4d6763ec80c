"""What a Sigma YAML text holds, read without compiling it: ids, kinds and search metadata.

    docs = describe(text)         # a RuleDoc per rule, filter or correlation document
    findings = validate(text)     # pySigma's validators that need no network, as warnings

The rule catalog (:mod:`soc.detect.catalog`) keys its records by the ids found here and
keeps the title, level, status, tags, ATT&CK techniques and logsource beside the text so
the rules page can search them; compiling (:func:`soc.detect.rules.load_rule_text`) is
what decides whether a text runs. A document is a correlation when it has a
``correlation`` section, a filter when it has a ``filter`` section, else a rule, as the
Sigma specification tells them apart. A document whose ``action`` is ``global`` (a
collection's shared part) describes no rule of its own.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from soc.errors import QueryError
from soc.models import LogSource
from soc.yamltext import check_depth

RuleKind = Literal["rule", "correlation", "filter"]
MAX_RULE_TEXT = 1_000_000
"""Characters of one rule text accepted (a SigmaHQ rule is a few kilobytes)."""
NETWORK_VALIDATORS = frozenset({"attacktag", "d3_fendtag"})
"""pySigma validators that download MITRE data on first use: never run here (air-gapped)."""
_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")


class RuleDoc(BaseModel):
    """One rule, filter or correlation of a text, as written."""

    id: str | None
    kind: RuleKind
    title: str
    level: str | None = None
    status: str | None = None
    tags: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)
    """ATT&CK technique ids from the ``attack.tNNNN[.NNN]`` tags, upper-cased (T1003.001)."""
    logsource: LogSource = Field(default_factory=LogSource)
    author: str | None = None
    description: str | None = None
    modified: str | None = None
    name: str | None = None
    """The ``name`` that correlations and filters may name it by, besides its id."""
    references: list[str] = Field(default_factory=list)
    """The rules a correlation or filter names (its ``rules``), by id or name."""


class Finding(BaseModel):
    """One issue a pySigma validator found: shown as a warning, never a refusal."""

    validator: str
    severity: str
    description: str
    rule_id: str | None = None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _doc(data: dict[str, Any]) -> RuleDoc | None:
    if data.get("action") in ("global", "reset", "repeat"):
        return None
    kind: RuleKind = (
        "correlation" if "correlation" in data else "filter" if "filter" in data else "rule"
    )
    tags = [str(t).lower() for t in data.get("tags") or [] if t is not None]
    techniques = [m.group(1).upper() for t in tags if (m := _TECHNIQUE.match(t))]
    found = data.get("logsource")
    ls: dict[str, Any] = found if isinstance(found, dict) else {}
    return RuleDoc(
        id=_text(data.get("id")),
        kind=kind,
        title=str(data.get("title") or data.get("name") or "(untitled)"),
        level=_text(data.get("level")),
        status=_text(data.get("status")),
        tags=tags,
        techniques=techniques,
        logsource=LogSource(
            product=_text(ls.get("product")),
            category=_text(ls.get("category")),
            service=_text(ls.get("service")),
        ),
        author=_text(data.get("author")),
        description=_text(data.get("description")),
        modified=_text(data.get("modified") or data.get("date")),
        name=_text(data.get("name")),
        references=_references(data.get(kind)) if kind != "rule" else [],
    )


def _references(section: Any) -> list[str]:
    rules = section.get("rules") if isinstance(section, dict) else None
    if isinstance(rules, str):
        return [rules]
    if isinstance(rules, list):
        return [str(r) for r in rules if r is not None]
    return []


def describe(text: str) -> list[RuleDoc]:
    """The rules, filters and correlations of ``text``; QueryError when it is not YAML
    of mappings, or too long."""
    if len(text) > MAX_RULE_TEXT:
        raise QueryError(f"rule text longer than {MAX_RULE_TEXT:,} characters")
    try:
        check_depth(text)
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        raise QueryError(f"invalid YAML: {e}") from e
    except ValueError as e:  # a timestamp that is no date: "date: 2026-13-05" (tests/fuzz)
        raise QueryError(f"invalid YAML: {e}") from e
    except RecursionError as e:  # PyYAML recurses: [[[[... past Python's limit
        raise QueryError("invalid YAML: nested too deeply") from e
    docs: list[RuleDoc] = []
    for data in documents:
        if data is None:
            continue
        if not isinstance(data, dict):
            raise QueryError("a Sigma document must be a YAML mapping")
        doc = _doc(data)
        if doc is not None:
            docs.append(doc)
    return docs


def validate(text: str) -> list[Finding]:
    """pySigma's installed validators (sigma-cli's ``sigma check``) but those that need the
    network, over ``text``; a text pySigma cannot read has no findings (its compile errors
    say why)."""
    from sigma.collection import SigmaCollection
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator

    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except Exception:  # the compile errors report it
        return []
    validators: dict[str, Any] = InstalledSigmaPlugins.autodiscover().validators
    validator = SigmaValidator(
        [cls for name, cls in validators.items() if name not in NETWORK_VALIDATORS]
    )
    rules: Any = iter(collection.rules)
    try:
        issues = validator.validate_rules(rules)
    except Exception as e:  # a validator's own bug must not refuse a rule
        return [Finding(validator="pysigma", severity="low", description=f"validators failed: {e}")]
    findings: list[Finding] = []
    for issue in issues:
        of = getattr(issue, "rules", None) or []
        rule_id = str(of[0].id) if of and getattr(of[0], "id", None) else None
        findings.append(
            Finding(
                validator=type(issue).__name__.removesuffix("Issue"),
                severity=issue.severity.name.lower(),
                description=str(issue.description),
                rule_id=rule_id,
            )
        )
    return findings
