"""Building Change records: the fields an action changed, before and after.

Every Change is made by :meth:`Change.of`, which names a drill's incident's drill.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soc.incidents.models import Change, Comment, Incident

_NOT_AUDITED = {"updated", "observables", "version"}
"""``updated`` and ``version`` change with every action; observables follow the alerts."""


def audit_view(incident: Incident) -> dict[str, Any]:
    """The incident as the audit trail records it: alerts as ``{id: verdict}``."""
    view = incident.model_dump(mode="json", exclude=_NOT_AUDITED | {"alerts"})
    view["alerts"] = {a.id: a.verdict.value for a in incident.alerts}
    return view


def change(
    before: Incident,
    after: Incident,
    *,
    actor: str,
    action: str,
    time: datetime,
    extra: dict[str, Any] | None = None,
) -> Change:
    """The change from ``before`` to ``after``; ``extra`` adds what the action was given."""
    old, new = audit_view(before), audit_view(after)
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return Change.of(
        after,
        actor=actor,
        action=action,
        time=time,
        before={k: old.get(k) for k in keys},
        after={k: new.get(k) for k in keys} | (extra or {}),
    )


def comment_change(incident: Incident, note: Comment, *, actor: str) -> Change:
    """The audit record of a comment added to ``incident``."""
    return Change.of(
        incident,
        actor=actor,
        action="comment",
        time=note.at,
        before={},
        after={"comment": note.id, "text": note.text},
    )


def rebuild(incident: Incident, **update: Any) -> Incident:
    """A validated copy with ``update`` applied (model_copy would skip validation)."""
    return Incident.model_validate({**dict(incident), **update})
