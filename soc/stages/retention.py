"""The retention job: what no retention period covers any more is deleted.

Every ``store.retention.interval_s`` it asks the store to delete what is past
its period (:meth:`soc.store.base.Store.expire`): on SQLite, rows by time in
bounded batches; on OpenSearch, whole indices whose every day is past the
period (ADR 0012). Then the case records, over the records seam on both
stores, ``batch_size`` per write: closed incidents past their period with
their comments (:mod:`soc.incidents.retention`), and the audit chain's start
behind a checkpoint (:mod:`soc.audit.retention`). The first pass runs at start.
Each pass is logged with what it deleted and counted in
``soc_retention_deleted_total{kind}`` and ``soc_retention_runs_total{result}``.
Several processes may run it at once: each deletion is idempotent (two passes
may each append a retention entry for the same cut; both verify).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from soc.audit.retention import expire_audit
from soc.errors import BackendError
from soc.incidents.cases import Cases
from soc.incidents.retention import expire_incidents
from soc.log import get_logger
from soc.metrics import RETENTION_DELETED, RETENTION_RUNS
from soc.models import utcnow
from soc.settings import RetentionSettings
from soc.stages.runtime import PeriodicStage
from soc.store import Store

log = get_logger(__name__)


class RetentionJob(PeriodicStage):
    name = "retention"

    def __init__(
        self,
        *,
        store: Store,
        cases: Cases,
        settings: RetentionSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self._store = store
        self._cases = cases
        self._settings = settings
        self._now = clock
        self.interval_s = settings.interval_s

    async def tick(self) -> None:
        await self.run_once()

    async def run_once(self) -> dict[str, int]:
        """One pass; kind -> records or indices deleted."""
        now, batch = self._now(), self._settings.batch_size
        try:
            deleted = await self._store.expire(now)
            deleted["incidents"], deleted["comments"] = await expire_incidents(
                self._store, self._cases.audit, retention=self._settings, now=now, batch=batch
            )
            deleted["audit"] = await expire_audit(
                self._cases.audit, retention=self._settings, now=now, batch=batch
            )
        except BackendError:
            RETENTION_RUNS.labels(result="failed").inc()
            raise
        RETENTION_RUNS.labels(result="ok").inc()
        for kind, n in deleted.items():
            RETENTION_DELETED.labels(kind=kind).inc(n)
        if any(deleted.values()):
            log.info("retention deleted expired records", extra={"deleted": deleted})
        return deleted
