"""Casework that leaves the status alone: assignment, verdicts, tags and comments.

Each function checks the actor (permissions.py), returns the new incident (or
comment) with a Change for the audit trail, and leaves its input unchanged.
Assignment and tags are refused on a closed incident; verdicts and comments
are not, so an alert can still be judged after the incident is closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from soc.incidents._changes import change, comment_change, rebuild
from soc.incidents.errors import InvalidOperation
from soc.incidents.lifecycle import Outcome
from soc.incidents.models import Actor, Change, Comment, Incident, Verdict
from soc.incidents.permissions import Action, check
from soc.settings import Tlp

TAG = re.compile(r"[\w.:/-]{1,100}")
"""A tag: word characters and ``.:/-``, e.g. ``attack.t1003.001`` or ``case:2026-114``."""


MAX_COMMENT = 20_000


@dataclass(frozen=True, slots=True)
class CommentOutcome:
    comment: Comment
    change: Change


def _still_open(incident: Incident, what: str) -> None:
    if incident.status.is_closed:
        raise InvalidOperation(f"a {incident.status.value} incident cannot be {what}; reopen it")


def assign(incident: Incident, assignee: str | None, *, actor: Actor, now: datetime) -> Outcome:
    """Assign to a person (``None``: nobody)."""
    check(actor, Action.assign, incident)
    _still_open(incident, "assigned")
    if assignee is not None and not assignee.strip():
        raise InvalidOperation("an assignee needs a name")
    after = rebuild(incident, assignee=assignee, updated=now)
    return Outcome(after, change(incident, after, actor=actor.name, action="assign", time=now))


def set_verdict(
    incident: Incident,
    alert_ids: Iterable[str],
    verdict: Verdict,
    *,
    actor: Actor,
    now: datetime,
) -> Outcome:
    """Judge alerts of the incident true or false positive (or undetermined again)."""
    check(actor, Action.verdict, incident)
    ids = set(alert_ids)
    if not ids:
        raise InvalidOperation("no alerts named")
    missing = ids - set(incident.alert_ids)
    if missing:
        raise InvalidOperation(f"not in incident {incident.id}: {sorted(missing)}")
    alerts = [
        a.model_copy(update={"verdict": verdict}) if a.id in ids else a for a in incident.alerts
    ]
    after = rebuild(incident, alerts=alerts, updated=now)
    return Outcome(after, change(incident, after, actor=actor.name, action="verdict", time=now))


def tag(
    incident: Incident,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    actor: Actor,
    now: datetime,
) -> Outcome:
    check(actor, Action.tag, incident)
    _still_open(incident, "tagged")
    adding, removing = set(add), set(remove)
    bad = sorted(t for t in adding if not TAG.fullmatch(t))
    if bad:
        raise InvalidOperation(f"not a tag: {bad}")
    after = rebuild(incident, tags=sorted((set(incident.tags) | adding) - removing), updated=now)
    return Outcome(after, change(incident, after, actor=actor.name, action="tag", time=now))


def comment(incident: Incident, text: str, *, actor: Actor, now: datetime) -> CommentOutcome:
    """A new comment; the incident itself is not changed."""
    check(actor, Action.comment, incident)
    if not text.strip() or len(text) > MAX_COMMENT:
        raise InvalidOperation(f"a comment needs text, at most {MAX_COMMENT:,} characters")
    note = Comment(
        id=Comment.make_id(incident_id=incident.id, author=actor.name, at=now, text=text),
        incident_id=incident.id,
        tenant=incident.tenant,
        author=actor.name,
        at=now,
        text=text,
        drill=incident.drill,
    )
    return CommentOutcome(
        note,
        comment_change(incident, note, actor=actor.name),
    )


def set_tlp(incident: Incident, tlp: Tlp, *, actor: Actor, now: datetime) -> Outcome:
    """Set the TLP the incident is shared under (allowed in any status: a closed incident
    may still be shared, or withheld by RED)."""
    check(actor, Action.tlp, incident)
    if incident.tlp == tlp:
        raise InvalidOperation(f"the incident is already TLP:{tlp.upper()}")
    after = rebuild(incident, tlp=tlp, updated=now)
    return Outcome(after, change(incident, after, actor=actor.name, action="tlp", time=now))
