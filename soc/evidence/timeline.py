"""An incident's timeline: its alerts, hand-offs, status changes and comments in time order.

    build_timeline(incident=..., alerts=..., comments=..., audit=...) -> [TimelineItem, ...]

The audit entries of the incident are the record: each becomes one item
(``ref: "audit:<seq>"``). What the audit does not hold is taken from the
incident and its comments, so that a bundle of an incident whose earlier
actions predate the audit trail is still complete: the opening of the
incident, each hand-off offer and answer, each comment, and the times it was
acknowledged, resolved and closed, each only when no audit entry records it.
Alerts come from the alerts themselves, at their events' times.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from soc.audit import AuditEntry
from soc.incidents.models import Comment, HandOff, HandOffState, Incident
from soc.models import Alert, UtcDatetime, canonical_json

Kind = Literal["alert", "incident", "handoff", "status", "deadline", "comment", "change"]
_ORDER: dict[str, int] = {
    k: i
    for i, k in enumerate(
        ("alert", "incident", "status", "handoff", "deadline", "change", "comment")
    )
}
HANDOFF_ACTIONS = frozenset({"hand_off", "accept", "reject", "recall"})
SYSTEM = "system"
"""The actor of what the service did itself (alerts, opening an incident)."""
_LONG = 200


class TimelineItem(BaseModel):
    time: UtcDatetime
    kind: Kind
    actor: str
    summary: str
    ref: str | None = None
    """``alert:<id>``, ``comment:<id>``, ``audit:<seq>`` or ``incident:<id>``."""


def build_timeline(
    *,
    incident: Incident,
    alerts: Sequence[Alert],
    comments: Sequence[Comment],
    audit: Sequence[AuditEntry],
) -> list[TimelineItem]:
    """Every item, oldest first; see the module docstring."""
    target = f"incident:{incident.id}"
    entries = sorted((e for e in audit if e.target == target), key=lambda e: e.seq)
    items = [_from_audit(e) for e in entries]
    recorded = {(i.kind, i.time, i.actor) for i in items}
    refs = {i.ref for i in items}

    def missing(kind: Kind, time: datetime, actor: str) -> bool:
        return (kind, time, actor) not in recorded

    for a in alerts:
        where = f" on {a.host}" if a.host else ""
        summary = f"{a.severity.value} alert: {a.rule_title}{where}"
        items.append(
            TimelineItem(
                time=a.time, kind="alert", actor=SYSTEM, summary=summary, ref=f"alert:{a.id}"
            )
        )
    exported = {a.id for a in alerts}
    for r in incident.alerts:
        if r.id not in exported:
            summary = f"{r.severity.value} alert of rule {r.rule_id} (alert record not exported)"
            items.append(
                TimelineItem(
                    time=r.time, kind="alert", actor=SYSTEM, summary=summary, ref=f"alert:{r.id}"
                )
            )
    if not any(_opens(e) for e in entries):
        items.append(
            TimelineItem(
                time=incident.created,
                kind="incident",
                actor=SYSTEM,
                summary=f"incident opened: {incident.title}",
                ref=target,
            )
        )
    for h in incident.handoffs:
        items += [i for i in _handoff_items(h) if missing("handoff", i.time, i.actor)]
    for c in comments:
        if f"comment:{c.id}" not in refs:
            items.append(
                TimelineItem(
                    time=c.at, kind="comment", actor=c.author, summary=c.text, ref=f"comment:{c.id}"
                )
            )
    if not any(i.kind == "status" for i in items):
        for label, when in (
            ("acknowledged", incident.acknowledged_at),
            ("resolved", incident.resolved_at),
            ("closed", incident.closed_at),
        ):
            if when is not None:
                summary = f"{label} (from the incident record; no audit entry)"
                items.append(
                    TimelineItem(time=when, kind="status", actor="unknown", summary=summary)
                )
    return sorted(items, key=lambda i: (i.time, _ORDER[i.kind], i.ref or "", i.summary))


def _opens(entry: AuditEntry) -> bool:
    """An entry that records the incident's opening (``incident.open``, by the grouping)."""
    return entry.action == "incident.open"


def _from_audit(entry: AuditEntry) -> TimelineItem:
    name = entry.action.removeprefix("incident.")
    before, after = entry.before or {}, entry.after or {}
    kind: Kind
    if name == "comment":
        kind, summary = "comment", str(after.get("text", ""))
        ref = f"comment:{after['comment']}" if "comment" in after else f"audit:{entry.seq}"
        return TimelineItem(time=entry.time, kind=kind, actor=entry.actor, summary=summary, ref=ref)
    if name in HANDOFF_ACTIONS:
        kind, summary = "handoff", _handoff_summary(name, after)
    elif _opens(entry):
        kind = "incident"
        summary = f"incident opened: {after.get('title', '')}"
        if isinstance(after.get("alerts"), list):
            summary += f" ({after.get('severity')}, {len(after['alerts'])} alerts)"
    elif name == "deadline_breached":
        kind = "deadline"
        late = after.get("late_by_s")
        summary = f"{after.get('kind', '?')} deadline breached (due {after.get('due')}"
        summary += f", {late:.0f} s late)" if isinstance(late, int | float) else ")"
    elif name == "export":  # an earlier export (soc.evidence.export)
        kind = "change"
        digest = after.get("files_sha256") or after.get("sha256")
        summary = f"exported as {after.get('format', '?')}" + (
            f", SHA-256 {digest}" if digest else ""
        )
    elif "status" in after:
        kind = "status"
        summary = f"{name}: {before.get('status')} -> {after['status']}"
        for detail in ("resolution", "reason"):
            if after.get(detail):
                summary += f"; {detail}: {after[detail]}"
    else:
        kind, summary = "change", f"{name}: {_diff(before, after)}"
    return TimelineItem(
        time=entry.time, kind=kind, actor=entry.actor, summary=summary, ref=f"audit:{entry.seq}"
    )


def _handoff_summary(name: str, after: dict[str, Any]) -> str:
    handoffs = after.get("handoffs")
    last: dict[str, Any] = handoffs[-1] if isinstance(handoffs, list) and handoffs else {}
    unit = last.get("to_unit", "?")
    if name == "hand_off":
        note = last.get("note")
        return f"offered to unit {unit}" + (f": {note}" if note else "")
    verb = {"accept": "accepted by", "reject": "rejected by", "recall": "recalled from"}[name]
    reason = last.get("reason")
    return f"{verb} unit {unit}" + (f": {reason}" if reason else "")


def _handoff_items(h: HandOff) -> list[TimelineItem]:
    out = [
        TimelineItem(
            time=h.at,
            kind="handoff",
            actor=h.by,
            summary=f"offered to unit {h.to_unit}" + (f": {h.note}" if h.note else ""),
        )
    ]
    if h.state is not HandOffState.pending and h.decided_at is not None:
        verb = {
            HandOffState.accepted: "accepted by",
            HandOffState.rejected: "rejected by",
            HandOffState.recalled: "recalled from",
        }[h.state]
        summary = f"{verb} unit {h.to_unit}" + (f": {h.reason}" if h.reason else "")
        out.append(
            TimelineItem(
                time=h.decided_at, kind="handoff", actor=h.decided_by or "unknown", summary=summary
            )
        )
    return out


def _short(value: object) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    return text if len(text) <= _LONG else text[: _LONG - 3] + "..."


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            inner = ", ".join(f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}" for k in changed)
            parts.append(f"{key} ({inner})")
        elif key not in before:
            parts.append(f"{key}: {_short(new)}")
        else:
            parts.append(f"{key}: {_short(old)} -> {_short(new)}")
    return _short("; ".join(parts)) if parts else "no fields changed"
