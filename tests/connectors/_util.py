"""Helpers shared by the parser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from soc.models import EventIn, LogSource


def only(events: list[EventIn]) -> EventIn:
    """The one event of a one-line input."""
    assert len(events) == 1, events
    return events[0]


def fields(ev: EventIn) -> dict[str, Any]:
    """The record without the original line, for comparisons."""
    return {k: v for k, v in ev.record.items() if k != "message"}


def rule_logsources(folder: Path) -> list[LogSource]:
    """The logsource of every Sigma rule under a folder."""
    out = []
    for path in sorted(folder.rglob("*.yml")):
        ls = yaml.safe_load(path.read_text("utf-8"))["logsource"]
        out.append(LogSource(**{k: ls.get(k) for k in ("product", "category", "service")}))
    assert out, f"no rules under {folder}"
    return out


def routes(event: LogSource, rule: LogSource) -> bool:
    """Sigma routing as the engine does it: each part a rule sets must equal the event's."""
    return all(
        r is None or (e is not None and r.lower() == e.lower())
        for r, e in (
            (rule.product, event.product),
            (rule.category, event.category),
            (rule.service, event.service),
        )
    )
