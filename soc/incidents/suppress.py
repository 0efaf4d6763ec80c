"""Suppressions: a tenant's known noise, silenced by rule, host and event fields.

    silencer = Silencer(suppressions)              # compiled once per set
    hit = silencer.match(alert, event, now=now)    # the Suppression, or None

A suppression matches an alert of its tenant and rule when it is active
(``created <= now < expires``), its host pattern (if any) matches the alert's
host, and every field pattern matches the event's value of that field
(``Event.fields``, the names rules see). Patterns compare case-insensitively;
``*`` stands for any run of characters and ``?`` for one, nothing else is
special (a Windows path is written as it is). A field the event lacks, or an
alert whose event is not at hand, does not match a field pattern. A list value
matches when one of its items does; numbers and booleans compare as their JSON
text (``4624``, ``true``). When several match, the one created first wins, so
counts are stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc.incidents.models import Suppression
from soc.models import Alert, Event


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` as wildcards, the rest literal, whole value, any case."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(
        (text := _text(v)) is not None and pattern.fullmatch(text) is not None for v in values
    )


@dataclass(frozen=True, slots=True)
class _Compiled:
    suppression: Suppression
    host: re.Pattern[str] | None
    fields: tuple[tuple[str, re.Pattern[str]], ...]

    def matches(self, alert: Alert, event: Event | None, now: datetime) -> bool:
        s = self.suppression
        if not s.created <= now < s.expires:
            return False
        if self.host is not None and (alert.host is None or not self.host.fullmatch(alert.host)):
            return False
        if not self.fields:
            return True
        if event is None:
            return False
        values = event.fields
        return all(name in values and _matches(p, values[name]) for name, p in self.fields)


class Silencer:
    """A set of suppressions compiled for matching, indexed by tenant and rule."""

    def __init__(self, suppressions: Iterable[Suppression]) -> None:
        self._by_rule: dict[tuple[str, str], list[_Compiled]] = {}
        for s in sorted(suppressions, key=lambda s: (s.created, s.id)):
            compiled = _Compiled(
                suppression=s,
                host=compile_pattern(s.host) if s.host is not None else None,
                fields=tuple((k, compile_pattern(v)) for k, v in sorted(s.fields.items())),
            )
            self._by_rule.setdefault((s.tenant, s.rule_id), []).append(compiled)

    def match(self, alert: Alert, event: Event | None, *, now: datetime) -> Suppression | None:
        """The first active suppression that silences ``alert``, or None."""
        if event is not None and event.id != alert.event_id:
            raise ValueError(f"event {event.id} is not alert {alert.id}'s event")
        for c in self._by_rule.get((alert.tenant, alert.rule_id), ()):
            if c.matches(alert, event, now):
                return c.suppression
        return None

    def active(self, *, now: datetime) -> list[Suppression]:
        """The suppressions in force at ``now`` (expired ones can be archived)."""
        return [
            c.suppression
            for group in self._by_rule.values()
            for c in group
            if c.suppression.created <= now < c.suppression.expires
        ]
