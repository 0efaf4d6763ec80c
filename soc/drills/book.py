"""The drills in the store (Records of kind ``drill``), read and changed safely.

Several writers touch one drill: the runner saves its progress and heartbeat, a lead
pauses, resumes, aborts or ends it (API or CLI, maybe from another process). Every
change is a function of the drill as stored, applied with the stored version and
tried again on a conflict (:meth:`DrillBook.update`), so none overwrites another.
"""

from __future__ import annotations

from collections.abc import Callable

from soc.drills.models import Drill, DrillState
from soc.errors import Conflict, NotFound
from soc.store.base import Store
from soc.store.records import Kind, Record, RecordQuery

UPDATE_TRIES = 20
LIST_MAX = 500


def _record(drill: Drill) -> Record:
    return Record(
        kind=Kind.drill,
        id=drill.id,
        tenant=drill.tenant,
        sort=int(drill.created.timestamp() * 1_000_000),
        terms={"state": [drill.state.value], "scenario": [drill.scenario]},
        doc=drill.model_dump(mode="json"),
    )


class DrillBook:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, drill: Drill) -> Drill:
        await self._store.put_record(_record(drill), expect=0)
        return drill

    async def read(self, drill_id: str) -> tuple[Drill, int] | None:
        record = await self._store.get_record(Kind.drill, drill_id)
        if record is None:
            return None
        return Drill.model_validate(record.doc), record.version

    async def get(self, drill_id: str, *, tenants: list[str] | None = None) -> Drill:
        """NotFound also when the drill's tenant is not among ``tenants`` (None: all)."""
        found = await self.read(drill_id)
        if found is None or (tenants is not None and found[0].tenant not in tenants):
            raise NotFound(f"no drill {drill_id}")
        return found[0]

    async def update(self, drill_id: str, change: Callable[[Drill], Drill | None]) -> Drill:
        """Apply ``change`` to the stored drill and save it; ``change`` returns None to
        leave it as it is. Tried again on the drill as stored anew after a conflict."""
        for _ in range(UPDATE_TRIES):
            found = await self.read(drill_id)
            if found is None:
                raise NotFound(f"no drill {drill_id}")
            drill, version = found
            changed = change(drill.model_copy(deep=True))
            if changed is None:
                return drill
            try:
                await self._store.put_record(_record(changed), expect=version)
            except Conflict:
                continue
            return changed
        raise Conflict(f"drill {drill_id}: changed by others too often", expected=0, found=None)

    async def list(
        self,
        *,
        tenants: list[str] | None,
        states: list[DrillState] | None = None,
        scenario: str | None = None,
        limit: int = LIST_MAX,
    ) -> list[Drill]:
        """Newest first."""
        terms: dict[str, list[str]] = {}
        if states:
            terms["state"] = [s.value for s in states]
        if scenario:
            terms["scenario"] = [scenario]
        page = await self._store.find_records(
            RecordQuery(kind=Kind.drill, tenants=tenants, terms=terms, limit=limit)
        )
        return [Drill.model_validate(r.doc) for r in page.items]
