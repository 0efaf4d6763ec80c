"""Wiring: build the parts from the settings, start them in order, stop them in reverse.

    source (POST /api/v1/ingest) -> bus (events) -> detect -> store (alerts) -> API
                                 |       events (the event sink) -> store (every event)
                                 |       detect -> bus (alerts) -> group -> store (incidents)
                                 |       detect -> bus (matches) -> correlate -> store (alerts)
                                 |                                  and bus (alerts) -> group
                                 \\-> bus (deadletters) -> dead-letter sink -> store
    deadline watch: open incidents -> breaches flagged, audited, sent to webhooks
    retention job: what no retention period covers any more -> deleted
    notify watch: audit trail, deadlines -> outbox; notify sender: outbox -> mail, webhooks
    intel poll: TAXII 2.1 collections (intel.feeds) -> indicators (soc.intel)
    share watch: audit trail, shared incidents -> share jobs; share sender -> TAXII 2.1
    source (<prefix>.ingest.<tenant> on Kafka) -> ingest bridge -> bus (events, deadletters)

`soc run` runs every part in one process; `soc api`, `soc detect` and `soc correlate`
run the API, the workers and the correlation stage (:func:`run_correlate`) as
separate processes sharing Kafka and OpenSearch. On
Kafka, `soc run` and `soc api` also run the ingest bridge, and `soc bridge`
runs it alone (:func:`run_bridge`).
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from soc import fastjson
from soc.bus import Bus, build_bus
from soc.detect.catalog import RuleCatalog, sync_files
from soc.detect.live import LiveRules
from soc.drills.control import DrillControl, Scenarios
from soc.drills.marks import DrillMarks
from soc.drills.runner import DrillRunner
from soc.errors import BackendError
from soc.incidents.cases import Cases
from soc.incidents.deadlines import DeadlinePolicy
from soc.incidents.desk import Desk
from soc.ingest.retime import retimed
from soc.intel.feeds import Feeds
from soc.intel.live import LiveIndicators
from soc.intel.store import Indicators
from soc.log import get_logger
from soc.metrics import BACKEND_UP, WORKERS
from soc.models import Health, utcnow
from soc.notify.notifier import Notifier
from soc.notify.sender import Sender
from soc.security.accounts import RecordRevocations, RecordUserStore
from soc.security.passwords import PasswordHashing
from soc.security.principal import KeyRing
from soc.security.ratelimit import LoginGuard, RateLimiter
from soc.security.tokens import Tokens
from soc.security.users import UserStore
from soc.settings import ApiKey, Settings
from soc.sharing.desk import SharingDesk
from soc.sharing.jobs import Shares
from soc.sharing.sender import ShareSender
from soc.sharing.watch import ShareSend, ShareWatch
from soc.sources.book import SourceBook
from soc.stages.bridge import KafkaBridge, accepted_tenants
from soc.stages.correlate import Correlator
from soc.stages.deadletters import DeadLetterSink
from soc.stages.deadlines import DeadlineWatch
from soc.stages.detect import Detector
from soc.stages.events import EventSink
from soc.stages.group import Grouper
from soc.stages.heartbeats import HeartbeatSink
from soc.stages.indicators import IndicatorReloader
from soc.stages.ingest import ingest_ndjson
from soc.stages.intel_poll import IntelPoll
from soc.stages.notify import NotifySender, NotifyWatch
from soc.stages.retention import RetentionJob
from soc.stages.roll_call import RollCall, WorkerRoll
from soc.stages.rules import RuleReloader
from soc.stages.runtime import Stage, until_done
from soc.stages.silence import SilenceWatch
from soc.store import Store, build_store

log = get_logger(__name__)

CHECK_TIMEOUT_S = 5.0
STARTUP_RETRY_S = 120.0
"""How long a start step is tried again while a backend answers with a passing error (an
OpenSearch index another process has just created answers 503 until its shard starts)."""
SAMPLE_CHUNK_LINES = 500


class Service:
    """The pipeline's parts for one process.

    ``workers`` adds the worker stages (detect, the event sink, dead letters, retention,
    grouping, the deadline watch) and, with ``correlate``, the correlation stage;
    ``bridge`` the Kafka ingest bridge, when the settings turn it on
    (``Settings.kafka_bridge_on``); ``drills`` the drill runner (soc.drills.runner), when
    ``drills.run`` is on; ``notify`` the notification stages and ``intel`` the TAXII feeds'
    polling (both run by `soc run` and `soc api`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        workers: bool,
        bridge: bool = True,
        correlate: bool = True,
        drills: bool = True,
        notify: bool = True,
        intel: bool = True,
        sharing: bool = True,
        role: str | None = None,
    ) -> None:
        self.settings = settings
        self.keys = KeyRing(settings.auth.api_keys)
        self.bus: Bus = build_bus(settings.bus)
        self.store: Store = build_store(settings.store)
        # Who may call the API: accounts, sessions and rate limits (soc/security, ADR 0007).
        self.users: UserStore = RecordUserStore(self.store)
        self.hashing = PasswordHashing()
        self.revocations = RecordRevocations(
            self.store,
            refresh_s=settings.auth.revocation_refresh_s,
            lifetime=timedelta(seconds=settings.auth.token_lifetime_s),
        )
        self.tokens = Tokens.from_settings(settings.auth, revocations=self.revocations)
        # Their counters live in the store: the limits hold across API processes (ADR 0023).
        self.login_guard = LoginGuard.from_settings(settings.auth.login, self.store)
        self.ingest_limiter = RateLimiter.for_ingest(settings.auth.ingest_rate, self.store)
        self.cases = Cases(self.store)
        self.sources = SourceBook(self.store)
        self.audit = self.cases.audit
        self.desk = Desk(
            self.store, self.cases, deadlines=DeadlinePolicy.from_settings(settings.incidents)
        )
        self.catalog = RuleCatalog(self.store, self.audit)
        self.rules: LiveRules | None = None
        """The detector's rules, from the catalog (workers only)."""
        self.live_indicators: LiveIndicators | None = None
        """The detector's indicator matcher, from the store (workers only, when on)."""
        self._workers = workers
        self._correlate = correlate
        self.marks = DrillMarks(self.store)
        """Takes blind drills' marking out of what non-leads read (soc.drills.marks)."""
        self.drills = DrillControl(
            self.store,
            self.desk,
            self.audit,
            Scenarios(settings.drills.scenarios),
            marks=self.marks,
        )
        self.notifier = Notifier(self.store, settings.notify)
        """Notices in, outbox records out (soc.notify); its methods are the hook points."""
        self.sender = Sender(self.store, self.audit, settings.notify)
        self.indicators = Indicators(self.store)
        """Threat indicators taken in (soc.intel), and the feeds' records."""
        self.feeds = Feeds(self.store)
        self.roll = WorkerRoll(self.store, settings.workers)
        """The worker processes' roll (soc.stages.roll_call), read by /readyz."""
        self._stages: list[Stage] = []
        if role is not None:
            self._stages.append(RollCall(self.roll, role))
        if intel and settings.intel.poll and settings.intel.feeds:
            self._stages.append(
                IntelPoll(records=self.store, indicators=self.indicators, settings=settings.intel)
            )
        if notify and settings.notify.enabled:
            self._stages += [
                NotifyWatch(records=self.store, cases=self.cases, notifier=self.notifier),
                NotifySender(self.sender),
            ]
        self.shares = Shares(self.store)
        self.share_sender = ShareSender(
            self.store,
            self.cases,
            settings.sharing,
            rules_dirs=settings.detect.rules,
            catalog=self.catalog,
        )
        self.sharing = SharingDesk(self.cases, self.shares, settings.sharing)
        """Sharing out by policy (soc.sharing): approvals and an incident's shares."""
        if sharing and settings.sharing.enabled:
            self._stages += [
                ShareWatch(records=self.store, cases=self.cases, settings=settings.sharing),
                ShareSend(self.share_sender),
            ]
        if drills and settings.drills.run:
            scenarios = self.drills.scenarios
            self._stages.append(
                DrillRunner(
                    self.store,
                    self.bus,
                    settings,
                    scenarios=scenarios.get,
                    close_late=self.drills.close_late,
                )
            )
        if bridge and settings.kafka_bridge_on:
            self._stages.append(build_bridge(settings, self.bus))
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._roles_seen: set[str] = set()

    def _worker_stages(self) -> list[Stage]:
        """detect, dead letters, grouping, the deadline watch and correlate (soc.stages)."""
        assert self.rules is not None
        rules = self.rules
        s = self.settings
        indicators = self.live_indicators
        stages: list[Stage] = [
            Detector(
                rules=rules,
                indicators=indicators,
                bus=self.bus,
                store=self.store,
                settings=s.detect,
            ),
            RuleReloader(rules),
            *([IndicatorReloader(indicators)] if indicators is not None else []),
            DeadLetterSink(bus=self.bus, store=self.store, sources=s.sources),
            *self._event_stages(),
            Grouper(bus=self.bus, store=self.store, cases=self.cases, settings=s.incidents),
            DeadlineWatch(cases=self.cases, settings=s.incidents),
        ]
        if self._correlate:
            stages.append(build_correlator(s, rules, self.bus, self.store))
        return stages

    def _event_stages(self) -> list[Stage]:
        """The event sink, unless only alerting events are kept; the retention job; the
        heartbeat sink (heartbeats that came over Kafka)."""
        s = self.settings.store
        stages: list[Stage] = [
            RetentionJob(store=self.store, cases=self.cases, settings=s.retention),
            HeartbeatSink(bus=self.bus, store=self.store),
        ]
        if s.keep_events == "all":
            sink = EventSink(
                bus=self.bus,
                store=self.store,
                settings=s,
                sources=self.settings.sources,
                notifier=self.notifier,
            )
            stages.insert(0, sink)
            stages.append(
                SilenceWatch(
                    bus=self.bus,
                    store=self.store,
                    cases=self.cases,
                    settings=self.settings.sources,
                    notifier=self.notifier,
                )
            )
        return stages

    async def start(self) -> None:
        await self.store.start()
        await while_starting("revocations", self.revocations.refresh)
        self._spawn("revocations", self.revocations.run())
        await self.bus.start()
        # The rule files are the catalog's baseline: imported (new or changed files) at every
        # start, by the API and the detectors alike (soc.detect.catalog, ADR 0014).
        await while_starting("rule files", lambda: sync_files(self.catalog, self.settings.detect))
        if self._workers:
            rules = self.rules = LiveRules(self.catalog, self.settings.detect)
            await while_starting("rules", rules.load)
            if self.settings.detect.indicators.enabled:
                settings = self.settings.detect.indicators
                live = self.live_indicators = LiveIndicators(self.indicators, settings)
                await while_starting("indicators", live.load)
            # The compiled rules (closures, indices: hundreds of thousands of objects) live as
            # long as the process; kept out of the collector's scans they cost nothing per
            # batch (measured: about a fifth more events per CPU-second on both pairs).
            gc.collect()
            gc.freeze()
            self._stages += self._worker_stages()
        for stage in self._stages:
            self._spawn(stage.name, stage.run())
        if self.settings.sample.replay_on_start:
            self._spawn("sample", self.replay_sample())
        log.info(
            "service started",
            extra={
                "bus": self.settings.bus.kind,
                "store": self.settings.store.kind,
                "stages": [stage.name for stage in self._stages],
            },
        )

    async def stop(self) -> None:
        for stage in self._stages:
            stage.stop()
        self.revocations.stop()
        for name, task in self._tasks.items():
            try:
                await asyncio.wait_for(task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("task did not stop in time; cancelled", extra={"task": name})
            except Exception:
                pass  # already logged by _spawn's callback
        await self.bus.stop()
        await self.store.stop()
        log.info("service stopped")

    async def check(self) -> Health:
        """Real round trips to the bus and the store, and the workers' state."""
        checks: dict[str, str] = {}
        for name, probe in (("bus", self.bus.check), ("store", self.store.check)):
            try:
                await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
                checks[name] = "ok"
            except (BackendError, TimeoutError) as e:
                checks[name] = f"fail: {e or 'timed out'}"
            BACKEND_UP.labels(backend=name).set(1 if checks[name] == "ok" else 0)
        for name, task in self._tasks.items():
            if name != "sample" and task.done():
                checks[name] = "fail: stopped"
        if not all(v == "ok" for v in checks.values()):
            return Health(status="fail", checks=checks)
        silent = await self._silent_workers()
        checks.update(silent)
        return Health(status="degraded" if silent else "ok", checks=checks)

    async def _silent_workers(self) -> dict[str, str]:
        """The roll's silent workers, each a check (``worker <name>``); ``soc_workers`` set."""
        try:
            workers = await asyncio.wait_for(self.roll.read(), CHECK_TIMEOUT_S)
        except (BackendError, TimeoutError) as e:
            return {"workers": f"fail: the roll could not be read: {e or 'timed out'}"}
        counts: dict[tuple[str, str], int] = {}
        for w in workers:
            key = (w.role, "silent" if w.silent else "live")
            counts[key] = counts.get(key, 0) + 1
        self._roles_seen |= {w.role for w in workers}
        for role in self._roles_seen:
            for state in ("live", "silent"):
                WORKERS.labels(role=role, state=state).set(counts.get((role, state), 0))
        return {
            f"worker {w.name}": f"fail: silent for {w.silent_s:.0f} s"
            f" (last beat {datetime.fromtimestamp(w.last_beat, UTC).isoformat(timespec='seconds')})"
            for w in workers
            if w.silent
        }

    async def replay_sample(self) -> None:
        """Post the bundled slice of real recorded events, as a connector would, re-timed.

        The slice was recorded in August 2023; each event is moved so the last one
        happens now, its gaps to the others kept (soc.ingest.retime), and the
        recorded time stays in the raw record. Each start replays it afresh, as a
        drill would: the origin names this replay, so its events are new events.
        """
        sample = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz")
        records = [
            fastjson.loads(line) for line in gzip.decompress(sample.read_bytes()).splitlines()
        ]
        replay = f"otrf-lsass#{secrets.token_hex(6)}"
        lines = [
            json.dumps(
                {
                    "record": record,
                    "time": time.isoformat(),
                    "origin": {"connector": "soc", "source": "sample", "stream": replay, "seq": i},
                },
                separators=(",", ":"),
            ).encode()
            + b"\n"
            for i, (record, time) in enumerate(retimed(records, end=utcnow()))
        ]
        accepted = 0
        for i in range(0, len(lines), SAMPLE_CHUNK_LINES):
            result = await ingest_ndjson(
                b"".join(lines[i : i + SAMPLE_CHUNK_LINES]),
                tenant=self.settings.sample.tenant,
                source="sample:otrf-lsass",
                bus=self.bus,
                settings=self.settings.ingest,
            )
            accepted += result.accepted
        log.info(
            "sample replayed",
            extra={"events": accepted, "tenant": self.settings.sample.tenant, "stream": replay},
        )

    def _spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self._tasks[name] = task


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "worker stopped on an error; the service is not ready",
            extra={"task": task.get_name()},
            exc_info=task.exception(),
        )


def build_bridge(settings: Settings, bus: Bus) -> KafkaBridge:
    """The ingest bridge of these settings, publishing to ``bus``; not yet running."""
    return KafkaBridge(
        bus=bus,
        kafka=settings.bus.kafka,
        settings=settings.ingest,
        tenants=accepted_tenants(settings),
    )


def build_correlator(settings: Settings, rules: LiveRules, bus: Bus, store: Store) -> Correlator:
    """The correlation stage over the catalog's correlations, as ``rules`` holds them now
    (they change live: soc.detect.live; the stage takes the latest at each batch)."""
    return Correlator(
        catalog=lambda: rules.current.correlations,
        bus=bus,
        store=store,
        settings=settings.correlate,
        correlation=settings.detect.correlation,
    )


async def run_correlate(settings: Settings, stop: asyncio.Event) -> None:
    """`soc correlate`: the bus, the store and the correlation stage alone, until ``stop``.

    Several share the matches topic's partitions (consumer group ``correlate.group``).
    Returns early, raising, only if the stage fails for good.
    """
    bus = build_bus(settings.bus)
    store = build_store(settings.store)
    await store.start()
    await bus.start()
    catalog = RuleCatalog(store, Cases(store).audit)
    await sync_files(catalog, settings.detect)
    rules = LiveRules(catalog, settings.detect)
    await rules.load()
    stage = build_correlator(settings, rules, bus, store)
    reloader = RuleReloader(rules)
    roll_call = RollCall(WorkerRoll(store, settings.workers), "correlate")
    tasks = {
        asyncio.create_task(stage.run(), name="correlate"),
        asyncio.create_task(reloader.run(), name="rules"),
        asyncio.create_task(roll_call.run(), name="roll-call"),
    }
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({*tasks, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stage.stop()
        reloader.stop()
        roll_call.stop()
        waiter.cancel()
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        finally:
            await bus.stop()
            await store.stop()


async def run_bridge(settings: Settings, stop: asyncio.Event) -> None:
    """`soc bridge`: the bus and the ingest bridge alone, until ``stop`` is set.

    Returns early, raising, only if the bridge fails for good.
    """
    bus = build_bus(settings.bus)
    await bus.start()
    bridge = build_bridge(settings, bus)
    task = asyncio.create_task(bridge.run(), name="bridge")
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        bridge.stop()
        waiter.cancel()
        try:
            await asyncio.wait_for(task, timeout=10)
        finally:
            await bus.stop()


def with_dev_keys(settings: Settings) -> Settings:
    """In development with no keys configured, make an ingest and an analyst key.

    The tokens are written to ``<data_dir>/ingest.token`` and ``analyst.token``
    (mode 0600) and reused on the next start; only their hashes are kept.
    """
    if settings.env != "development" or settings.auth.api_keys:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys = []
    tenant = settings.sample.tenant
    for role, tenants in (("ingest", [tenant]), ("analyst", [tenant])):
        path = settings.data_dir / f"{role}.token"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32) + "\n")
        token = path.read_text().strip()
        keys.append(
            ApiKey(name=f"dev-{role}", sha256=ApiKey.hash(token), role=role, tenants=tenants)
        )
        log.info("development key ready", extra={"role": role, "token_file": str(path)})
    return settings.model_copy(update={"auth": settings.auth.model_copy(update={"api_keys": keys})})


async def while_starting(what: str, step: Callable[[], Awaitable[object]]) -> None:
    """Run a start step, trying again for up to STARTUP_RETRY_S while its backend fails in
    a way that may pass; a lasting error (or one past the limit) stops the start."""
    deadline = time.monotonic() + STARTUP_RETRY_S
    await until_done(
        step,
        stage=f"start {what}",
        stopping=asyncio.Event(),
        give_up=lambda e: not e.retriable or time.monotonic() > deadline,
    )
