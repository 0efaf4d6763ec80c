"""A guard for YAML from outside (rule uploads, drill scenarios, connector.yml): its nesting.

PyYAML's pure-Python loader, which pySigma and the config readers use, scans nested flow
collections in time quadratic in their depth and recurses once per level: two kilobytes of
``[`` cost it seconds of CPU before it fails with RecursionError. :func:`check_depth`
walks the text's events with libyaml (C, linear) first and refuses a document nested
deeper than any rule or configuration is, as a YAML error the callers already report.
"""

from __future__ import annotations

import yaml

MAX_DEPTH = 64
"""Levels of mappings and sequences allowed; Sigma rules and config files use under ten."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def check_depth(text: str, *, limit: int = MAX_DEPTH) -> None:
    """Raise a yaml.MarkedYAMLError (its ``problem_mark`` where it went too deep) when
    ``text`` nests past ``limit``, or the YAML error of a text libyaml cannot read."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, _OPEN):
            depth += 1
            if depth > limit:
                at = event.start_mark  # libyaml's own Mark class: made PyYAML's
                mark = (
                    yaml.Mark("<unicode string>", at.index, at.line, at.column, "", 0)
                    if at is not None
                    else None
                )
                raise yaml.MarkedYAMLError(
                    problem=f"nested deeper than {limit} levels", problem_mark=mark
                )
        elif isinstance(event, _CLOSE):
            depth -= 1
