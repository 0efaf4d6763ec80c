"""The SOC under load, for injecting faults: real processes on a private Kafka and OpenSearch.

    two `soc api` (the HTTP connector posts to the first; both run the Kafka ingest bridge)
    two `soc detect` (detection, the event sink, grouping), one `soc correlate`
    two `soc-connector run`: recorded linux/auth.log lines over HTTP, recorded Windows
    events (OTRF LSASS campaign 01) over Kafka, each tailing a file the load appends to

The load appends ``rate`` lines a second to each file for ``seconds``; a fault runs beside
it. An observer samples every process's /readyz, /metrics and /healthz twice a second,
each sample labelled with the phase the test is in ("fault" while the fault lasts).
At the end, :meth:`FaultRig.ledger` reads OpenSearch directly: every line sent stored once
by id, the alerts and incidents, and the audit chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from soc.detect.correlation.model import silent_ids
from soc.detect.engine import Engine
from soc.detect.load import load_engine
from soc.incidents.cases import Cases, IncidentQuery
from soc.models import Alert, Event
from soc.settings import OpenSearchSettings, StoreSettings
from soc.store import Store, build_store
from tests.e2e.faults.services import ROOT, PrivateServices
from tests.e2e.harness import TOKENS, api_keys, free_port, service_settings

RULES = ROOT / "soc/detections/rules"
TENANT = "hue-ioc"
LOAD_S = float(os.environ.get("SOC_FAULT_LOAD_S", "30"))
"""Seconds of load per fault test (the soak variant runs longer)."""
OUTAGE_S = float(os.environ.get("SOC_FAULT_OUTAGE_S", "25"))
"""How long OpenSearch stays stopped (the issue's two minutes: SOC_FAULT_OUTAGE_S=120)."""
RATE = int(os.environ.get("SOC_FAULT_RATE", "25"))
"""Lines a second appended to each connector's file."""
TICK_S = 0.25


def recorded_lines(shared_dir: Path, n: int) -> tuple[list[bytes], list[bytes]]:
    """``n`` recorded auth.log lines and ``n`` recorded Windows events (NDJSON lines)."""
    auth = (shared_dir / "datasets/linux/auth.log").read_bytes().splitlines()
    auth = [auth[i % len(auth)] for i in range(n)]
    path = next((shared_dir / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        windows = [f.readline().rstrip(b"\n") for _ in range(n)]
    return auth, windows


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def total(metrics: dict[str, float], name: str) -> float:
    """The sum of a series over its labels."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


@dataclass
class Proc:
    """One process of the rig: its command, log file and the port it answers on."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen else None
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            return None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


@dataclass
class Sample:
    """What the observer saw at one moment."""

    t: float
    phase: str
    ready: dict[str, tuple[int, dict[str, str]]]
    """Per API: /readyz status (0: no answer) and its checks."""
    metrics: dict[str, dict[str, float] | None]
    """Per process: its /metrics (None: no answer)."""
    health: dict[str, dict[str, Any] | None]
    """Per connector: its /healthz (None: no answer)."""


@dataclass
class Ledger:
    sent: int
    stored: int
    """Event documents in OpenSearch."""
    distinct: int
    """Distinct event ids among them."""
    lost: int
    """Lines sent whose (connector, seq) no stored event has."""
    duplicated: int
    """Stored documents beyond one per event id, plus (connector, seq) stored under two ids."""
    alerts: int
    alert_duplicates: int
    """Alert documents beyond one per id, plus alerts of the same content under two ids."""
    alerts_missing: int
    """Alerts the rules raise on the stored events that are not stored."""
    incidents: int
    incident_duplicates: int
    """Incidents beyond one per id, plus alerts held by two incidents."""
    audit_ok: bool
    audit_summary: str

    def line(self) -> str:
        return (
            f"sent {self.sent}, stored {self.stored} ({self.distinct} ids), lost {self.lost}, "
            f"duplicated {self.duplicated}; alerts {self.alerts} (duplicates "
            f"{self.alert_duplicates}, missing {self.alerts_missing}); incidents "
            f"{self.incidents} (duplicates {self.incident_duplicates}); audit "
            f"{'ok' if self.audit_ok else 'BROKEN'}"
        )

    def check(self) -> None:
        assert (self.lost, self.duplicated, self.stored) == (0, 0, self.sent), self.line()
        assert self.alert_duplicates == 0 and self.alerts_missing == 0, self.line()
        assert self.alerts > 0 and self.incidents > 0, self.line()
        assert self.incident_duplicates == 0, self.line()
        assert self.audit_ok, self.audit_summary


@dataclass
class Agent:
    name: str
    proc: Proc
    log_file: Path
    """The file it tails (the load appends to it)."""
    lines: list[bytes]
    written: int = 0


@dataclass
class FaultRig:
    services: PrivateServices
    prefix: str
    tmp: Path
    shared_dir: Path
    spool_dir: Path | None = None
    """The HTTP connector's data dir (default: under tmp); the disk-full test fills its disk."""
    runs: int = 1
    """Loads this rig will carry (each of ``LOAD_S`` seconds): the lines prepared."""
    apis: list[Proc] = field(default_factory=list)
    detectors: list[Proc] = field(default_factory=list)
    correlator: Proc | None = None
    agents: dict[str, Agent] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    phase: str = "before"
    engine: Engine | None = None
    ledgers: list[Ledger] = field(default_factory=list)
    """Each test's ledger, in order (each counts everything since the rig started)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds from the start to each milestone, for the report."""

    # -- set up --------------------------------------------------------------------

    def soc_env(self) -> dict[str, str]:
        s = self.services
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
            "PYTHONUNBUFFERED": "1",
            "SOC_ENV": "production",
            "SOC_AUTH__SECRET_KEY": "test-secret-not-default",
            "SOC_AUTH__API_KEYS": json.dumps(api_keys()),
            "SOC_BUS__KIND": "kafka",
            "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": s.kafka,
            "SOC_BUS__KAFKA__TOPIC_PREFIX": self.prefix,
            "SOC_BUS__KAFKA__PARTITIONS": "3",
            "SOC_STORE__KIND": "opensearch",
            "SOC_STORE__OPENSEARCH__HOSTS": json.dumps([s.opensearch]),
            "SOC_STORE__OPENSEARCH__INDEX_PREFIX": self.prefix,
            # The recorded events are of 2023: no retention may expire them here (100 years).
            "SOC_STORE__RETENTION__EVENTS_DAYS": "36500",
            "SOC_STORE__RETENTION__DEAD_LETTERS_DAYS": "36500",
            "SOC_DETECT__RULES": json.dumps([str(RULES)]),
            "SOC_DETECT__CACHE_DIR": str(self.tmp / "rule-cache"),
            "SOC_LOG_LEVEL": "INFO",
            # Workers beat each second and are named silent after 3 (a fault lasts 8 s).
            "SOC_WORKERS__BEAT_S": "1",
            "SOC_WORKERS__SILENT_AFTER_S": "3",
        }

    def _proc(self, name: str, args: list[str], port: int, **env: str) -> Proc:
        return Proc(
            name=name,
            args=[sys.executable, *args],
            env={**self.soc_env(), **env},
            log=self.tmp / f"{name}.log",
            port=port,
        )

    def _agent(
        self, name: str, output: str, source: str, data_dir: Path, lines: list[bytes]
    ) -> Agent:
        port = free_port()
        log_file = self.tmp / f"{name}.input"
        log_file.write_bytes(b"")
        config = self.tmp / f"{name}.yml"
        config.write_text(
            f"""
connector: {{id: {name}, tenant: {TENANT}, data_dir: "{data_dir}", host: {name},
             heartbeat_s: 2}}
output: {output}
delivery: {{batch_events: 500, retry_max_s: 1}}
spool: {{max_bytes: 64MiB, segment_bytes: 256KiB, fsync: batch}}
metrics: {{listen: "127.0.0.1:{port}"}}
sources:
  - {{name: {name}, type: file, paths: ["{log_file}"], {source}, scan_interval_s: 0.2}}
"""
        )
        proc = Proc(
            name=name,
            args=[sys.executable, "-m", "connectors.cli", "run", "--config", str(config)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            log=self.tmp / f"{name}.log",
            port=port,
        )
        return Agent(name=name, proc=proc, log_file=log_file, lines=lines)

    async def start(self) -> None:
        for i in range(2):
            port = free_port()
            self.apis.append(
                self._proc(f"api{i}", ["-m", "soc.cli", "api", "--port", str(port)], port)
            )
        for i in range(2):
            port = free_port()
            self.detectors.append(
                self._proc(
                    f"detect{i}",
                    ["-m", "soc.cli", "detect"],
                    port,
                    SOC_DETECT__METRICS_PORT=str(port),
                    SOC_SOURCES__OWNER=f"detect{i}",  # two event sinks on one host
                )
            )
        port = free_port()
        self.correlator = self._proc(
            "correlate", ["-m", "soc.cli", "correlate"], port, SOC_CORRELATE__METRICS_PORT=str(port)
        )
        # The first imports the rule files into the catalog; the others find them there.
        started = time.monotonic()
        self.apis[0].start()
        await self.until_ready(self.apis[0])
        rest = [*self.detectors, self.correlator, self.apis[1]]
        for p in rest:
            p.start()
        await asyncio.gather(*(self.until_ready(p) for p in rest))
        self.timings["soc started"] = time.monotonic() - started
        n = int(RATE * LOAD_S * self.runs)
        auth, windows = recorded_lines(self.shared_dir, n)
        token = self.tmp / "ingest.token"
        token.write_text(TOKENS["ingest"] + "\n")
        token.chmod(0o600)
        api = f"http://127.0.0.1:{self.apis[0].port}"
        self.agents = {
            "auth": self._agent(
                "auth",
                f'{{type: http, url: "{api}", token_file: "{token}", timeout_s: 10}}',
                "format: auth",
                self.spool_dir or self.tmp / "auth-data",
                auth,
            ),
            "win": self._agent(
                "win",
                f'{{type: kafka, bootstrap_servers: ["{self.services.kafka}"], '
                f"topic: {self.prefix}.ingest.{TENANT}, request_timeout_s: 2}}",
                "format: windows-json",
                self.tmp / "win-data",
                windows,
            ),
        }
        for agent in self.agents.values():
            agent.proc.start()
        await asyncio.gather(*(self.until_ready(a.proc) for a in self.agents.values()))
        self.timings["connectors started"] = time.monotonic() - started

    async def until_ready(self, p: Proc, within: float = 90) -> None:
        """Until the process answers: /readyz 200 for an API, /metrics or /healthz else."""
        path = "/readyz" if p.name.startswith("api") else "/metrics"
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                assert p.alive(), f"{p.name} exited:\n{p.tail()}"
                assert time.monotonic() < deadline, f"{p.name} not ready:\n{p.tail()}"
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"http://127.0.0.1:{p.port}{path}")
                    if r.status_code == 200:
                        return
                await asyncio.sleep(0.3)

    def procs(self) -> list[Proc]:
        soc = [*self.apis, *self.detectors, *([self.correlator] if self.correlator else [])]
        return soc + [a.proc for a in self.agents.values()]

    async def close(self) -> None:
        for agent in self.agents.values():
            agent.proc.stop()
        for p in [*self.apis, *self.detectors, *([self.correlator] if self.correlator else [])]:
            p.stop()

    def logs(self) -> str:
        return "\n".join(f"----- {p.name}\n{p.tail(1500)}" for p in self.procs())

    # -- load, faults and observation -------------------------------------------------

    @contextlib.contextmanager
    def during(self, phase: str) -> Iterator[None]:
        self.phase = phase
        try:
            yield
        finally:
            self.phase = "after"

    async def run(
        self, fault: Callable[[], Awaitable[None]], *, at: float = 0.2, seconds: float = LOAD_S
    ) -> None:
        """Append the recorded lines for ``seconds``; ``fault`` starts at that fraction."""

        async def delayed() -> None:
            await asyncio.sleep(seconds * at)
            await fault()

        self.samples = []
        self.phase = "before"
        observer = asyncio.create_task(self._observe())
        started = time.monotonic()
        try:
            await asyncio.gather(self._load(seconds), delayed())
            self.timings["load and fault"] = time.monotonic() - started
        finally:
            observer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await observer

    async def _load(self, seconds: float) -> None:
        """``RATE`` more lines a second on each connector's file, in ticks of ``TICK_S``."""
        ticks = int(seconds / TICK_S)
        start = time.monotonic()
        first = {name: a.written for name, a in self.agents.items()}
        count = int(RATE * seconds)
        for i in range(ticks):
            for name, agent in self.agents.items():
                upto = min(len(agent.lines), first[name] + count * (i + 1) // ticks)
                chunk = agent.lines[agent.written : upto]
                with agent.log_file.open("ab") as f:
                    f.write(b"".join(line + b"\n" for line in chunk))
                agent.written = upto
            await asyncio.sleep(max(0.0, start + (i + 1) * TICK_S - time.monotonic()))

    async def _observe(self) -> None:
        async with httpx.AsyncClient(timeout=4) as client:

            async def get(url: str) -> httpx.Response | None:
                try:
                    return await client.get(url)
                except httpx.HTTPError:
                    return None

            async def readyz(p: Proc) -> tuple[int, dict[str, str]]:
                r = await get(f"http://127.0.0.1:{p.port}/readyz")
                return (r.status_code, r.json().get("checks", {})) if r is not None else (0, {})

            async def metrics(p: Proc) -> dict[str, float] | None:
                r = await get(f"http://127.0.0.1:{p.port}/metrics")
                return parse_metrics(r.text) if r is not None else None

            async def health(a: Agent) -> dict[str, Any] | None:
                r = await get(f"http://127.0.0.1:{a.proc.port}/healthz")
                return dict(r.json()) if r is not None else None

            while True:  # all at once: a /readyz waiting on a dead backend delays no other
                phase, t = self.phase, time.monotonic()
                procs, agents = self.procs(), list(self.agents.values())
                ready, got, healths = await asyncio.gather(
                    asyncio.gather(*(readyz(p) for p in self.apis)),
                    asyncio.gather(*(metrics(p) for p in procs)),
                    asyncio.gather(*(health(a) for a in agents)),
                )
                self.samples.append(
                    Sample(
                        t,
                        phase,
                        {p.name: r for p, r in zip(self.apis, ready, strict=True)},
                        {p.name: m for p, m in zip(procs, got, strict=True)},
                        {a.name: h for a, h in zip(agents, healths, strict=True)},
                    )
                )
                await asyncio.sleep(0.5)

    def seen(self, phase: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == phase]

    # -- the ledger --------------------------------------------------------------------

    async def _scan(
        self, client: httpx.AsyncClient, index: str, fields: list[str] | bool
    ) -> list[Any]:
        """Every document of ``index`` (a pattern): its _id and the given _source fields."""
        url = self.services.opensearch
        r = await client.post(
            f"{url}/{index}/_search",
            params={"scroll": "1m", "ignore_unavailable": "true", "allow_no_indices": "true"},
            json={"size": 2000, "_source": fields, "sort": ["_doc"]},
        )
        r.raise_for_status()
        body = r.json()
        docs: list[Any] = []
        while body["hits"]["hits"]:
            docs += body["hits"]["hits"]
            r = await client.post(
                f"{url}/_search/scroll", json={"scroll": "1m", "scroll_id": body["_scroll_id"]}
            )
            r.raise_for_status()
            body = r.json()
        return docs

    def sent(self) -> int:
        return sum(a.written for a in self.agents.values())

    async def ledger(self, within: float = 300) -> Ledger:
        """Once every sent line is stored (or ``within`` passed) and the alerts settled."""
        async with httpx.AsyncClient(timeout=30) as client:
            await client.post(f"{self.services.opensearch}/{self.prefix}-*/_refresh")
            deadline = time.monotonic() + within
            while True:
                events = await self._scan(client, f"{self.prefix}-events-*", ["id", "origin"])
                if len({e["_id"] for e in events}) >= self.sent():
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(2)
                await client.post(f"{self.services.opensearch}/{self.prefix}-*/_refresh")
            self.timings["events stored"] = time.monotonic() - deadline + within
            # Alerts and incidents follow the events: until their counts stop moving.
            alerts: list[Any] = []
            stable = 0
            while stable < 3 and time.monotonic() < deadline + 60:
                await asyncio.sleep(2)
                await client.post(f"{self.services.opensearch}/{self.prefix}-*/_refresh")
                again = await self._scan(client, f"{self.prefix}-alerts-*", ["id"])
                stable = stable + 1 if len(again) == len(alerts) else 0
                alerts = again
            events = await self._scan(client, f"{self.prefix}-events-*", True)
            alerts = await self._scan(
                client,
                f"{self.prefix}-alerts-*",
                ["id", "rule_id", "event_id", "correlation", "origin"],
            )
        self.timings["alerts settled"] = time.monotonic() - deadline + within
        return await self._account(events, alerts)

    async def _account(self, events: list[Any], alerts: list[Any]) -> Ledger:
        store = build_store(
            StoreSettings(
                kind="opensearch",
                opensearch=OpenSearchSettings(
                    hosts=[self.services.opensearch], index_prefix=self.prefix
                ),
            )
        )
        await store.start()
        try:
            return await self._reckon(store, events, alerts)
        finally:
            await store.stop()

    async def _reckon(self, store: Store, events: list[Any], alerts: list[Any]) -> Ledger:
        started = time.monotonic()
        origins: dict[tuple[str, int], set[str]] = {}
        for doc in events:
            o = doc["_source"].get("origin") or {}
            origins.setdefault((o.get("connector", ""), int(o.get("seq", -1))), set()).add(
                doc["_id"]
            )
        expected = {(a.name, seq) for a in self.agents.values() for seq in range(a.written)}
        ids = Counter(doc["_id"] for doc in events)
        duplicated = sum(n - 1 for n in ids.values()) + sum(len(v) - 1 for v in origins.values())

        alert_ids = Counter(a["_id"] for a in alerts)
        content = Counter(
            (
                a["_source"]["rule_id"],
                a["_source"]["event_id"],
                json.dumps(a["_source"].get("correlation"), sort_keys=True),
            )
            for a in alerts
        )
        alert_dups = sum(n - 1 for n in alert_ids.values()) + sum(n - 1 for n in content.values())
        # Every alert the rules raise on the stored events must be there (the stream's).
        engine = self.engine = self.engine or load_engine(service_settings().detect)
        silent = silent_ids(engine.correlations)
        want: set[str] = set()
        for doc in events:
            event = Event.model_validate(doc["_source"])
            want |= {
                Alert.make_id(rule_id=r.id, event_id=event.id)
                for r in engine.match(event)
                if r.id not in silent
            }
        missing = len(want - set(alert_ids))

        cases = Cases(store)
        incidents = []
        cursor = None
        while True:
            page = await cases.incidents.find(IncidentQuery(tenants=None, limit=500, cursor=cursor))
            incidents += page.items
            cursor = page.next_cursor
            if not cursor:
                break
        held = Counter(a for i in incidents for a in i.alert_ids)
        inc_ids = Counter(i.id for i in incidents)
        incident_dups = sum(n - 1 for n in held.values()) + sum(n - 1 for n in inc_ids.values())
        report = await cases.audit.verify()
        self.timings["accounted"] = time.monotonic() - started
        return Ledger(
            sent=self.sent(),
            stored=len(events),
            distinct=len(ids),
            lost=len(expected - set(origins)),
            duplicated=duplicated,
            alerts=len(alerts),
            alert_duplicates=alert_dups,
            alerts_missing=missing,
            incidents=len(incidents),
            incident_duplicates=incident_dups,
            audit_ok=report.ok,
            audit_summary=report.summary,
        )
