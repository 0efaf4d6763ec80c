"""A blind drill looks real: its marking is taken out of what analysts and responders read.

    marks = DrillMarks(store)                     # Service.marks
    page = await marks.scrub(principal, page)     # an AlertPage, IncidentView, Event...

Alerts, incidents, comments and events of a drill carry its id (``drill``, and an
event's ``origin.drill``). While a **blind** drill runs, every caller without
``drills:read`` (everyone but leads) gets them with that id taken out, so the UI shows
no "DIỄN TẬP / DRILL" badge and nothing in the JSON gives the drill away; once the
drill ends (or for an announced drill) the id is shown to all. Whether a drill is
blind and running is read from its record, kept for ``TTL_S`` per process.

The query filters that name drills (``drill=``, ``drills=``, an event query on
``origin.drill``) are for leads only (:meth:`DrillMarks.check_filters`,
:func:`require_drill_query`): an analyst asking for ``drills=only`` would otherwise
learn which alerts a blind drill raised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

from soc.drills.book import DrillBook
from soc.models import Event
from soc.security.principal import Principal
from soc.security.roles import Forbidden, can
from soc.store.base import Store

TTL_S = 2.0
T = TypeVar("T")


_DRILL_FIELD = re.compile(r"drill\s*:|drill$", re.IGNORECASE)


def require_drill_query(principal: Principal, text: str | None) -> None:
    """An event query or field naming the drill (``origin.drill:...``, stats by
    ``origin.drill``) is for leads only, for the same reason."""
    if text and _DRILL_FIELD.search(text.strip()) and not can(principal, "drills:read"):
        raise Forbidden("queries by drill are for leads (a blind drill must stay unmarked)")


class DrillMarks:
    def __init__(self, store: Store) -> None:
        self._book = DrillBook(store)
        self._cache: dict[str, tuple[float, bool]] = {}

    async def hidden(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that are blind drills still running."""
        now = time.monotonic()
        out: set[str] = set()
        for drill_id in set(ids):
            cached = self._cache.get(drill_id)
            if cached is None or cached[0] < now:
                found = await self._book.read(drill_id)
                # a drill no longer recorded is shown: nothing is left to keep secret
                hide = found is not None and not found[0].visible_to_all
                cached = self._cache[drill_id] = (now + TTL_S, hide)
            if cached[1]:
                out.add(drill_id)
        return out

    def forget(self, drill_id: str) -> None:
        """The drill changed here (ended): read it anew at the next request."""
        self._cache.pop(drill_id, None)

    async def check_filters(
        self, principal: Principal, drill: str | None, drills: str | None
    ) -> None:
        """Refuse a non-lead's drill filters that could give a blind drill away: ``drills``
        other than ``include``, or ``drill`` naming a blind drill still running (an
        announced drill's alerts may be listed by anyone who reads alerts)."""
        if can(principal, "drills:read"):
            return
        if (drills and drills != "include") or (drill and await self.hidden([drill])):
            raise Forbidden("this filter by drill is for leads (a blind drill stays unmarked)")

    async def scrub(self, principal: Principal, value: T) -> T:
        """``value`` as ``principal`` may see it: blind running drills' ids taken out."""
        if can(principal, "drills:read"):
            return value
        ids = set(_drill_ids(value))
        if not ids:
            return value
        hidden = await self.hidden(ids)
        return _strip(value, hidden) if hidden else value


def _drill_ids(value: Any) -> Iterable[str]:
    if isinstance(value, list | tuple):
        for v in value:
            yield from _drill_ids(v)
    elif isinstance(value, Event):
        if value.origin is not None and value.origin.drill:
            yield value.origin.drill
    elif isinstance(value, BaseModel):
        drill = getattr(value, "drill", None)
        if isinstance(drill, str):
            yield drill
        for name in type(value).model_fields:
            child = getattr(value, name)
            if isinstance(child, BaseModel | list):
                yield from _drill_ids(child)


def _strip(value: Any, hidden: set[str]) -> Any:
    """``value`` with the hidden drills' ids taken out; the same object where none is."""
    if isinstance(value, list):
        new = [_strip(v, hidden) for v in value]
        return new if any(a is not b for a, b in zip(new, value, strict=True)) else value
    if isinstance(value, Event):
        o = value.origin
        if o is not None and o.drill in hidden:
            return value.model_copy(update={"origin": o.model_copy(update={"drill": None})})
        return value
    if isinstance(value, BaseModel):
        update: dict[str, Any] = {}
        if getattr(value, "drill", None) in hidden:
            update["drill"] = None
        for name in type(value).model_fields:
            child = getattr(value, name)
            if isinstance(child, BaseModel | list):
                new = _strip(child, hidden)
                if new is not child:
                    update[name] = new
        return value.model_copy(update=update) if update else value
    return value
