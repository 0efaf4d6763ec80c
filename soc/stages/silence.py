"""The silence watch: sources quiet beyond their expected interval raised, then escalated,
then resolved when they speak again (issue 14, item 3).

Every ``sources.watch_s`` it judges every source (soc.sources.status) and sets
``soc_sources{state}``. A source quiet for ``silent_factor`` times its expected interval
gets a silence alert (:data:`SILENCE_RULE_ID`, the severity of its ``sources.expected``
entry, default medium), stored but not yet grouped; once the silence has lasted
``incident_after_s`` more, the alert is published on the alerts topic, where grouping
opens (or joins) an incident in the source's tenant. When the source's events resume,
its open silence alerts are closed with a note giving the silence's length ("silent for
2 h 14 min"), also written as a comment on the incident if it has one.

The alert's id is fixed by the source and its last event before the silence, so a
restart or several watches (one beside each event sink) raise one alert per silence;
publishing twice is harmless, grouping skips an alert already grouped.

Each pass also judges the connectors by their heartbeats (soc.stages.beat_silence): a
connector none of whose streams has been heard of for five heartbeat intervals gets an
alert of its own, even while its sources are quiet by nature.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from soc.bus import Bus
from soc.incidents.cases import Cases
from soc.log import get_logger
from soc.metrics import SOURCES_BY_STATE
from soc.models import Alert, AlertStatus, LogSource, Severity, digest, utcnow
from soc.notify.notifier import Notifier
from soc.settings import SourcesSettings
from soc.sources.activity import Activity
from soc.sources.health import Health, duration, expected
from soc.sources.keeper import load_activity
from soc.sources.models import StreamKey
from soc.sources.status import statuses
from soc.stages.beat_silence import BeatSilence
from soc.stages.runtime import PeriodicStage
from soc.stages.silence_notes import SilenceAlerts, comment, open_alerts
from soc.store import Store

log = get_logger(__name__)

SILENCE_RULE_ID = "soc-source-silent"
"""The house rule of the silence alert: a source quiet beyond its expected interval."""
SILENCE_RULE_TITLE = "Log source silent"
EVENT_PREFIX = "silence:"


def silence_alert_id(key: StreamKey, last_event: datetime) -> str:
    return digest(SILENCE_RULE_ID, *key, last_event.isoformat())


def silence_alert(
    key: StreamKey, last_event: datetime, interval_s: float, severity: Severity, *, now: datetime
) -> Alert:
    """The alert of one silence: which source, since when, what was expected."""
    where = f"{key.connector}/{key.source}/{key.stream}"
    return Alert(
        id=silence_alert_id(key, last_event),
        tenant=key.tenant,
        rule_id=SILENCE_RULE_ID,
        rule_title=f"{SILENCE_RULE_TITLE}: {where}: no events since {last_event.isoformat()} "
        f"(expected every {duration(interval_s)})",
        severity=severity,
        tags=["soc.sources.silent"],
        event_id=EVENT_PREFIX + json.dumps([key.connector, key.stream, last_event.isoformat()]),
        time=last_event,
        created=now,
        host=None,
        source=key.source,
        logsource=LogSource(),
    )


def key_of_alert(alert: Alert) -> StreamKey | None:
    if not alert.event_id.startswith(EVENT_PREFIX):
        return None
    try:
        connector, stream, _ = json.loads(alert.event_id[len(EVENT_PREFIX) :])
    except (ValueError, TypeError):
        return None
    return StreamKey(alert.tenant, connector, alert.source, stream)


class SilenceWatch(PeriodicStage):
    name = "silence"

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        cases: Cases | None,
        settings: SourcesSettings,
        notifier: Notifier | None = None,
    ) -> None:
        """``notifier``: tell each silence (soc.notify; one notice per silence, whichever
        watch tells it)."""
        super().__init__()
        self._notifier = notifier
        self._bus = bus
        self._store = store
        self._cases = cases
        self._settings = settings
        self.interval_s = settings.watch_s
        self._alerts = SilenceAlerts(bus=bus, store=store, what="source")
        self._beats = BeatSilence(
            bus=bus, store=store, cases=cases, settings=settings, notifier=notifier
        )

    async def tick(self) -> None:
        await self.check_once()

    async def check_once(self, now: datetime | None = None) -> dict[Health, int]:
        """One pass: states counted, silences raised or escalated, resumptions resolved."""
        at = now or utcnow()
        acts = await load_activity(self._store, None)
        views = await statuses(self._store, self._settings, None, now=at, activity=acts)
        counts = {h: 0 for h in Health}
        for v in views:
            counts[v.state] += 1
        for h, n in counts.items():
            SOURCES_BY_STATE.labels(state=h.value).set(n)
        for act in acts.values():
            await self._raise(act, at)
        await self._resolve(acts, at)
        await self._beats.check_once(at)
        return counts

    async def _raise(self, act: Activity, now: datetime) -> None:
        last_event = act.last_event
        if last_event is None:
            return
        exp = expected(act.key, act.gap_counts(now), self._settings)
        quiet = (now - last_event).total_seconds()
        silent_after = self._settings.silent_factor * exp.interval_s
        if quiet <= silent_after:
            return
        alert = silence_alert(act.key, last_event, exp.interval_s, exp.severity, now=now)
        notifier = self._notifier
        await self._alerts.raise_(
            alert,
            escalate=quiet > silent_after + self._settings.incident_after_s,
            context={
                "tenant": act.tenant,
                "connector": act.connector,
                "source": act.source,
                "stream": act.stream,
                "quiet_s": round(quiet),
                "expected_s": exp.interval_s,
            },
            tell=None
            if notifier is None
            else lambda: notifier.source_silent(
                tenant=act.tenant,
                connector=act.connector,
                source=act.source,
                stream=act.stream,
                since=last_event,
                silent_s=quiet,
                severity=exp.severity,
            ),
        )

    async def _resolve(self, acts: dict[StreamKey, Activity], now: datetime) -> None:
        done: list[Alert] = []
        async for alert in open_alerts(self._store, SILENCE_RULE_ID):
            key = key_of_alert(alert)
            act = acts.get(key) if key is not None else None
            if act is None or act.last_event is None or act.last_event <= alert.time:
                continue
            silent_s = act.silence_before(alert.time - timedelta(milliseconds=1), now)
            note = f"Events resumed: silent for {duration(silent_s)}"
            done.append(alert.model_copy(update={"status": AlertStatus.closed, "note": note}))
            if alert.incident_id is not None and self._cases is not None:
                await comment(self._cases, alert, note, alert.time + timedelta(seconds=silent_s))
        if done:
            await self._store.update_alerts(done)
            log.info("silent sources resumed", extra={"alerts": [a.id for a in done]})
