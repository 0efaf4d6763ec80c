"""Connectors whose heartbeats stopped: raised, escalated and resolved like a silent
source, but judged by heartbeats rather than events (issue 14; Wazuh's "agent
disconnected").

A source that sends one event a day must not hide a dead agent for a day: every pass of
the silence watch (soc.stages.silence) also reads the sources book (soc.sources.book) and,
per (tenant, connector) with heartbeat records, raises one alert
(:data:`CONNECTOR_SILENCE_RULE_ID`) once *every* one of its records is silent (no
heartbeat for ``SILENT_INTERVALS`` of its intervals): "Connector silent: web-01 (host
web-01): no heartbeat since ...". Its severity is that of the first ``sources.expected``
entry matching the connector and one of its streams (default medium); its host is the
one the last heartbeat named, so grouping (``rule_id``, ``host``) makes one incident per
silent agent's host, apart from the source silences. Once the silence has lasted
``sources.incident_after_s`` more, the alert is published on the alerts topic (grouping
opens its incident); a heartbeat again closes it with "Heartbeats resumed: silent for
...", also commented on its incident. Each new silence is told (trigger
``connector_silent``).

The alert's id is fixed by the tenant, the connector and its last heartbeat, so
restarts and several watches raise one alert per silence.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from soc.bus import Bus
from soc.incidents.cases import Cases
from soc.log import get_logger
from soc.models import Alert, AlertStatus, LogSource, Severity, digest
from soc.notify.notifier import Notifier
from soc.settings import SourcesSettings
from soc.sources.book import SILENT_INTERVALS, SourceBook, SourceState, SourceView
from soc.sources.health import duration
from soc.stages.silence_notes import SilenceAlerts, comment, open_alerts
from soc.store import Store

log = get_logger(__name__)

CONNECTOR_SILENCE_RULE_ID = "soc-connector-silent"
"""The house rule of the connector silence alert: no heartbeat from any of its streams."""
CONNECTOR_SILENCE_RULE_TITLE = "Connector silent"
EVENT_PREFIX = "connector-silence:"

Connector = tuple[str, str]
"""(tenant, connector)."""


def connector_alert_id(tenant: str, connector: str, last_beat: datetime) -> str:
    return digest(CONNECTOR_SILENCE_RULE_ID, tenant, connector, last_beat.isoformat())


def connector_alert(tenant: str, last: SourceView, severity: Severity, *, now: datetime) -> Alert:
    """The alert of one connector's silence; ``last`` is its most recently heard record."""
    since = last.last_seen.isoformat()
    return Alert(
        id=connector_alert_id(tenant, last.connector, last.last_seen),
        tenant=tenant,
        rule_id=CONNECTOR_SILENCE_RULE_ID,
        rule_title=f"{CONNECTOR_SILENCE_RULE_TITLE}: {last.connector} (host {last.host}): "
        f"no heartbeat since {since} (expected every {duration(last.interval_s)})",
        severity=severity,
        tags=["soc.sources.connector_silent"],
        event_id=EVENT_PREFIX + json.dumps([last.connector, since]),
        time=last.last_seen,
        created=now,
        host=last.host,
        source="*",  # every source of the connector
        logsource=LogSource(),
    )


def silence_of(alert: Alert) -> tuple[str, datetime] | None:
    """The connector and last heartbeat an alert of this rule is about."""
    if not alert.event_id.startswith(EVENT_PREFIX):
        return None
    try:
        connector, since = json.loads(alert.event_id[len(EVENT_PREFIX) :])
        return str(connector), datetime.fromisoformat(since)
    except (ValueError, TypeError):
        return None


def severity_of(records: list[SourceView], settings: SourcesSettings) -> Severity:
    """The first ``sources.expected`` entry matching one of the connector's streams."""
    for entry in settings.expected:
        if any(entry.matches(r.tenant, r.connector, r.source, r.stream) for r in records):
            return Severity(entry.severity)
    return Severity.medium


class BeatSilence:
    """One pass over the sources book: connectors silent raised or escalated, connectors
    heard again resolved. Run by the silence watch at each of its passes."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        cases: Cases | None,
        settings: SourcesSettings,
        notifier: Notifier | None = None,
    ) -> None:
        self._bus = bus
        self._store = store
        self._cases = cases
        self._settings = settings
        self._notifier = notifier
        self._book = SourceBook(store)
        self._alerts = SilenceAlerts(bus=bus, store=store, what="connector")

    async def check_once(self, now: datetime) -> int:
        """Connectors silent now (every record silent)."""
        by: dict[Connector, list[SourceView]] = defaultdict(list)
        for view in await self._book.list(None, now=now):
            by[view.tenant, view.connector].append(view)
        silent = 0
        for (tenant, _), records in by.items():
            if all(r.state is SourceState.silent for r in records):
                silent += 1
                await self._raise(tenant, records, now)
        await self._resolve(by)
        return silent

    async def _raise(self, tenant: str, records: list[SourceView], now: datetime) -> None:
        last = max(records, key=lambda r: r.last_seen)
        alert = connector_alert(tenant, last, severity_of(records, self._settings), now=now)
        quiet = (now - last.last_seen).total_seconds()
        silent_after = SILENT_INTERVALS * last.interval_s
        notifier = self._notifier
        await self._alerts.raise_(
            alert,
            escalate=quiet > silent_after + self._settings.incident_after_s,
            context={
                "tenant": tenant,
                "connector": last.connector,
                "host": last.host,
                "quiet_s": round(quiet),
                "interval_s": last.interval_s,
            },
            tell=None
            if notifier is None
            else lambda: notifier.connector_silent(
                tenant=tenant,
                connector=last.connector,
                host=last.host,
                since=last.last_seen,
                silent_s=quiet,
                severity=alert.severity,
            ),
        )

    async def _resolve(self, by: dict[Connector, list[SourceView]]) -> None:
        done: list[Alert] = []
        async for alert in open_alerts(self._store, CONNECTOR_SILENCE_RULE_ID):
            about = silence_of(alert)
            if about is None:
                continue
            connector, since = about
            heard = [
                r.last_seen for r in by.get((alert.tenant, connector), []) if r.last_seen > since
            ]
            if not heard:
                continue
            back = min(heard)  # the first record heard again: the nearest to the resumption
            note = f"Heartbeats resumed: silent for {duration((back - since).total_seconds())}"
            done.append(alert.model_copy(update={"status": AlertStatus.closed, "note": note}))
            if alert.incident_id is not None and self._cases is not None:
                await comment(self._cases, alert, note, back)
        if done:
            await self._store.update_alerts(done)
            log.info("silent connectors heard again", extra={"alerts": [a.id for a in done]})
