"""What the silence watches share: every open alert of a rule, page by page, and a note
written as a comment on an alert's incident (soc.stages.silence, soc.stages.beat_silence).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from soc.errors import Conflict
from soc.incidents.cases import Cases
from soc.incidents.models import Comment
from soc.models import Alert, AlertQuery, AlertStatus
from soc.store import Store

ACTOR = "system:sources"


async def open_alerts(store: Store, rule_id: str) -> AsyncIterator[Alert]:
    """Every open alert of ``rule_id`` in every tenant, page by page."""
    query = AlertQuery(tenants=None, rule_id=[rule_id], status=[AlertStatus.open], limit=500)
    while True:
        page = await store.search_alerts(query)
        for alert in page.items:
            yield alert
        if not page.next_cursor:
            return
        query = query.model_copy(update={"cursor": page.next_cursor})


async def comment(cases: Cases, alert: Alert, note: str, at: datetime) -> None:
    """``note`` on ``alert``'s incident, as the alert's title and the note, at ``at``
    (written once: the comment's id is fixed by its text and time)."""
    assert alert.incident_id is not None
    text = f"{alert.rule_title}: {note}"
    c = Comment(
        id=Comment.make_id(incident_id=alert.incident_id, author=ACTOR, at=at, text=text),
        incident_id=alert.incident_id,
        tenant=alert.tenant,
        author=ACTOR,
        at=at,
        text=text,
    )
    with contextlib.suppress(Conflict):
        await cases.comments.add(c)
