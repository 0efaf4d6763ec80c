"""Ingest-to-alert and ingest-to-stored throughput and CPU cost: recorded events over HTTP.

    python bench/pipeline.py                        # both pairs (kafka+opensearch if they answer)
    python bench/pipeline.py --runs 3               # each pair three times: median and spread
    python bench/pipeline.py --pin 0                # everything (this process, the JVMs) on CPU 0
    python bench/pipeline.py --keep-events alerting # only alerting events stored (the old way)
    python bench/pipeline.py --keep-events both     # both, and the cost of storing every event
    python bench/pipeline.py --detectors 2          # also `soc api` + 2 `soc detect` processes
    python bench/pipeline.py --rate 2000 --batch-lines 20   # a steady trickle, not a burst
    python bench/pipeline.py --pair memory+sqlite --events 53698 --batch-lines 2000

Each run starts the service, posts the first ``--warmup`` events for another
tenant and waits for them (consumer groups joined, connections open, caches
warm, and the indices and incidents that the first alerts create made; not
measured), then posts ``--events`` recorded events for the bench tenant (new
event ids: they are not duplicates of the warm-up's) and times them until the
detector has processed every one and, when every event is kept
(``store.keep_events`` = ``all``, the default), until the event sink has
written every one (``soc_events_stored_total``): the run's events/s and CPU
are taken there. It then waits until the store itself counts them all
(``Store.event_histogram`` over the bench tenant; on OpenSearch, once a
refresh made them searchable), reported apart as ingest-to-searchable. The
recording repeats some records whole; those are one event each in the store,
so the store's count is checked against the distinct events posted.

Layouts. ``one`` (always): one in-process service as ``soc run`` runs it
(API, detector, event sink, grouping, dead-letter sink and, on Kafka, the
ingest bridge: all on one event loop). ``--detectors N``: on the Kafka pairs
with OpenSearch, also ``soc api`` (API and ingest bridge) and N ``soc detect``
processes (detector, event sink, grouping, dead letters: they share the
consumer groups and the topics' 3 partitions), started from a settings file
(``SOC_CONFIG``); they join their groups and settle (``--settle`` seconds)
before the warm-up. Their progress is read from each detector's /metrics.

Hosts. The recording comes from one host, and one host's events share a
partition (to keep their order), so one detector would get them all. The
lines are spread round robin over ``--hosts`` host names (``MKT01.pandalab.com``
-> ``MKT01-h07.pandalab.com``), as a fleet would send them; ``--hosts 1``
posts the recording as it is.

Retention is off in these runs (``store.retention.events_days`` null): the
recorded events are dated 2023, and a retention pass must not delete them
while they are counted.

Per run it measures the events/s and the CPU-seconds spent in that window
(utime + stime from /proc/<pid>/stat) by this process, by each ``soc``
process of the split layout and, on the Kafka pair, by the Kafka and
OpenSearch JVMs. Their pids come from the pid files of
deploy/local/services.sh under ``$SOC_LOCAL_CACHE/run/`` (default
``.cache/local-services``), checked against the process that listens on the
port; when there is no pid file, the process listening on the port. Events per
CPU-second is the pipeline's cost per core, comparable between pairs however
the machine's cores are shared. ``--pin CPU`` puts this process and every
thread of the JVMs on one CPU for the run (their affinity is restored after);
the same by hand: ``taskset -c 0 python bench/pipeline.py`` and
``taskset -a -c -p 0 <jvm pid>``. (The split layout's processes are not
pinned.)

The Kafka pair runs when Kafka and OpenSearch answer at ``--kafka`` and
``--opensearch`` (defaults: 127.0.0.1 on ``$SOC_LOCAL_KAFKA_PORT`` and
``$SOC_LOCAL_OPENSEARCH_PORT``, else 19092 and 19200); when they do not, it
says so and measures the embedded pair alone. Its topics and indices are
deleted after each run. ``--pair kafka+sqlite`` and ``--pair memory+opensearch``
split a gap between the two pairs into the bus's part and the store's. With
``--rate`` the measured events arrive at a steady pace rather than as fast as
the service takes them, which shows the per-poll costs (polls, commits, store
round trips per batch) that a burst hides; events/s is then the rate, and
events per CPU-second the figure to compare.

``--keep-events both`` runs every pair and layout with ``all`` and with
``alerting``, alternating, and prints what storing every event costs: the
drop in events/s and in events per CPU-second against alerting-only storage
(the target: at most 30%).

Prints one JSON line per run, a JSON line per pair, layout and keep_events
(median, min and max over the runs), one with the Kafka pair's slowdown
against the embedded pair and, with ``--keep-events both``, one per pair and
layout with the cost of keeping every event; then a short human summary on
lines that start with ``#``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from soc.api.server import free_port, serving
from soc.detections import RULES
from soc.ingest.ndjson import parse_ndjson
from soc.metrics import ALERTS_RAISED, EVENTS_PROCESSED, EVENTS_STORED
from soc.models import utcnow
from soc.settings import ApiKey, Settings
from soc.store import Store, build_store
from soc.store.eventquery import EventQuery

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01"
TOKEN = "bench-ingest-token"
WARMUP_TOKEN = "bench-warmup-token"
PAIRS = ("memory+sqlite", "kafka+opensearch")
"""Measured by default: the embedded pair and the production pair."""
MIXED = ("kafka+sqlite", "memory+opensearch")
"""Measured when asked for, to split a gap between the bus and the store."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RECORDED_HOST = "MKT01.pandalab.com"
"""The one host of the recording (its Hostname field)."""
QUOTED_HOST = f'"{RECORDED_HOST}"'.encode()
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
COUNT_BUCKET_S = 1_000_000_000
"""A histogram bucket of ~31 years: the store's count of a tenant's events in one or two."""


def recorded_lines(n: int, hosts: int) -> list[bytes]:
    """The first ``n`` lines of the recording, spread round robin over ``hosts`` host names."""
    path = next(DATASET.glob("*.zip"))
    names = [RECORDED_HOST] if hosts == 1 else [fleet_host(i) for i in range(hosts)]
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        lines = []
        for line in f:
            host = names[len(lines) % len(names)]
            lines.append(line.rstrip(b"\n").replace(QUOTED_HOST, f'"{host}"'.encode()))
            if len(lines) >= n:
                break
    return lines


def fleet_host(i: int) -> str:
    """``MKT01.pandalab.com`` -> ``MKT01-h07.pandalab.com``."""
    name, _, domain = RECORDED_HOST.partition(".")
    return f"{name}-h{i:02d}.{domain}"


# ------------------------------------------------------------------ processes and CPU


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of every thread of ``pid`` so far (``self`` for this process)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for row in f:
                cols = row.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":
                    inodes.add(cols[9])
    return inodes


def owns_socket(pid: int, inodes: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    return False


def service_pid(service: str, port: int) -> tuple[int | None, str]:
    """The pid of the process listening on ``port``, and how it was found."""
    inodes = listening_inodes(port)
    cache = Path(os.environ.get("SOC_LOCAL_CACHE", ROOT / ".cache/local-services"))
    pidfile = cache / "run" / service / f"{service}.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        if owns_socket(pid, inodes):
            return pid, str(pidfile)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == "java" and owns_socket(
                int(entry.name), inodes
            ):
                return int(entry.name), f"listener of port {port}"
    return None, f"no process found listening on port {port}"


def threads(pid: int) -> list[int]:
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


@contextlib.contextmanager
def pinned(pids: list[int], cpu: int | None) -> Iterator[None]:
    """Every thread of ``pids`` on ``cpu`` meanwhile (no-op when ``cpu`` is None)."""
    if cpu is None:
        yield
        return
    before = {pid: os.sched_getaffinity(pid) for pid in pids}
    for pid in pids:
        for tid in threads(pid):
            with contextlib.suppress(OSError):  # a thread may end meanwhile
                os.sched_setaffinity(tid, {cpu})
    try:
        yield
    finally:
        for pid, cpus in before.items():
            for tid in threads(pid):  # also those started meanwhile
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(tid, cpus)


# ------------------------------------------------------------------ the services


def port_of(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def services_of(pair: str) -> list[str]:
    """The external services a pair runs on: kafka, opensearch, both or none."""
    bus, store = pair.split("+")
    return [name for name in (bus, store) if name in ("kafka", "opensearch")]


async def unreachable(service: str, args: argparse.Namespace) -> str | None:
    """Why ``service`` cannot be used, or None when it answers."""
    if service == "kafka":
        host, port = port_of(args.kafka.split(",")[0])
        try:
            with socket.create_connection((host, port), timeout=2):
                return None
        except OSError as e:
            return f"kafka at {args.kafka} does not answer ({e})"
    try:
        async with httpx.AsyncClient(timeout=5) as c:
            r = await c.get(f"{args.opensearch}/_cluster/health")
            status = r.json().get("status")
            if status not in ("green", "yellow"):
                return f"opensearch at {args.opensearch} is {status}"
    except (httpx.HTTPError, ValueError) as e:
        return f"opensearch at {args.opensearch} does not answer ({e!r})"
    return None


def jvm_pid(service: str, args: argparse.Namespace) -> int | None:
    address = args.kafka.split(",")[0] if service == "kafka" else args.opensearch
    pid, how = service_pid(service, port_of(address.split("://")[-1])[1])
    if pid is None:
        print(f"# {service}: its CPU is not counted: {how}", file=sys.stderr)
    return pid


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics ``{prefix}.*`` (a failure is printed, not raised)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        topics = [t for t in await admin.list_topics() if t.startswith(f"{prefix}.")]
        if topics:
            await admin.delete_topics(topics)
    except Exception as e:
        print(f"# could not delete topics {prefix}.*: {e!r}", file=sys.stderr)
    finally:
        await admin.close()


async def delete_indices(url: str, prefix: str, *, request_s: float = 30) -> None:
    """Delete the indices ``{prefix}-*`` (best effort; ``request_s``: the HTTP timeout)."""
    async with httpx.AsyncClient(timeout=request_s) as c:
        with contextlib.suppress(httpx.HTTPError):
            await c.delete(f"{url}/{prefix}-*")


async def clean_up(prefix: str, services: list[str], args: argparse.Namespace) -> None:
    """Delete a run's topics and indices, so runs do not pile up on the services."""
    if "kafka" in services:
        await delete_topics(args.kafka, prefix)
    if "opensearch" in services:
        await delete_indices(args.opensearch, prefix)


# ------------------------------------------------------------------ one run


@dataclass(frozen=True)
class Case:
    """What one run measures: a pair of backends, a layout of processes, what is stored."""

    pair: str
    detectors: int
    """0: one in-process service (`soc run`); N: `soc api` + N `soc detect` processes."""
    keep_events: str

    @property
    def layout(self) -> str:
        return "one process" if not self.detectors else f"api+{self.detectors} detect"

    @property
    def label(self) -> str:
        return f"{self.pair} {self.layout}"


def settings_for(
    case: Case, args: argparse.Namespace, tmp: Path, prefix: str, detect_port: int | None = None
) -> dict[str, Any]:
    """The service's settings (keyword arguments of Settings, or a SOC_CONFIG file)."""
    bus, store = case.pair.split("+")
    return {
        "env": "production",
        "log_level": "WARNING",
        "auth": {
            "secret_key": "bench-secret-not-default",
            # measure the pipeline, not the per-key ingest limit
            "ingest_rate": {"enabled": False},
            "api_keys": [
                {
                    "name": "bench",
                    "sha256": ApiKey.hash(TOKEN),
                    "role": "ingest",
                    "tenants": ["bench"],
                },
                {
                    "name": "warmup",
                    "sha256": ApiKey.hash(WARMUP_TOKEN),
                    "role": "ingest",
                    "tenants": ["warmup"],
                },
            ],
        },
        "bus": {
            "kind": bus,
            "kafka": {"bootstrap_servers": args.kafka, "topic_prefix": prefix, "partitions": 3},
        },
        "store": {
            "kind": store,
            "sqlite": {"path": str(tmp / "bench.db")},
            "opensearch": {"hosts": [args.opensearch], "index_prefix": prefix},
            "keep_events": case.keep_events,
            # the recorded events are from 2023: no retention pass may delete them meanwhile
            "retention": {"events_days": None},
            "events_group": f"{prefix}-events",
        },
        "detect": {
            "rules": [str(p) for p in args.rules],
            "batch_size": 500,
            "group": f"{prefix}-detect",
            "metrics_port": detect_port,
        },
        "incidents": {"group": f"{prefix}-incidents"},
        "data_dir": str(tmp),
    }


def counter_total(counter: Any, **labels: str) -> float:
    return sum(
        s.value
        for m in counter.collect()
        for s in m.samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def stored_by_store(store: Store, tenant: str) -> int:
    """The tenant's events in the store, as the store counts them (searchable ones)."""
    counts = await store.event_histogram(
        EventQuery(tenants=[tenant], since=EPOCH, until=utcnow() + timedelta(days=1)),
        bucket_s=COUNT_BUCKET_S,
    )
    return sum(counts.values())


class Progress:
    """What the service has done so far: events detected, stored, alerts raised."""

    interval = 0.01
    """Seconds between two looks (reading this process's counters costs next to nothing)."""

    async def detected(self) -> float:
        return counter_total(EVENTS_PROCESSED, stage="detect")

    async def stored(self) -> float:
        """Events the event sink says it wrote (the cheap signal; the store count confirms)."""
        return counter_total(EVENTS_STORED)

    async def alerts(self) -> float:
        return counter_total(ALERTS_RAISED)


class ScrapedProgress(Progress):
    """The same, summed over the /metrics of the `soc detect` processes."""

    interval = 0.1
    """Each look costs an HTTP request to every process, paid by both sides: not too often."""

    def __init__(self, client: httpx.AsyncClient, ports: list[int]) -> None:
        self._client = client
        self._ports = ports

    async def per_process(self, name: str) -> list[float]:
        """``name``'s value in each process's /metrics; -1 where a process does not answer."""
        values = []
        for port in self._ports:
            try:
                r = await self._client.get(f"http://127.0.0.1:{port}/metrics")
                text = r.text
            except httpx.HTTPError:
                values.append(-1.0)
                continue
            values.append(
                sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith(name) and not line.startswith("#")
                )
            )
        return values

    async def detected(self) -> float:
        return sum(await self.per_process('soc_events_processed_total{stage="detect"}'))

    async def stored(self) -> float:
        return sum(await self.per_process("soc_events_stored_total"))

    async def alerts(self) -> float:
        return sum(await self.per_process("soc_alerts_total{"))


async def post_all(
    c: httpx.AsyncClient,
    lines: list[bytes],
    args: argparse.Namespace,
    token: str = TOKEN,
    rate: float | None = None,
) -> int:
    """Post ``lines`` in bodies of ``--batch-lines``: ``--concurrency`` at a time, or, with a
    ``rate`` (events/s), one body at a time on a fixed schedule."""
    bodies = [
        b"\n".join(lines[i : i + args.batch_lines]) for i in range(0, len(lines), args.batch_lines)
    ]
    sem = asyncio.Semaphore(args.concurrency if rate is None else 1)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def post(i: int, body: bytes) -> int:
        async with sem:
            if rate is not None:
                await asyncio.sleep(start + i * args.batch_lines / rate - loop.time())
            r = await c.post(
                "/api/v1/ingest", content=body, headers={"Authorization": f"Bearer {token}"}
            )
            r.raise_for_status()
            return int(r.json()["accepted"])

    return sum(await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies))))


async def until(condition: Any, interval: float = 0.01) -> None:
    while not await condition():  # noqa: ASYNC110
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def store_client(settings: dict[str, Any]) -> AsyncIterator[Store]:
    """A store of its own on the service's data, to count what the service stored."""
    store = build_store(Settings(**settings).store)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


@dataclass
class Service:
    """A service under measure: its URL, how to read its progress, its processes' pids."""

    url: str
    progress: Progress
    pids: dict[str, int]


@contextlib.asynccontextmanager
async def in_process(settings: dict[str, Any]) -> AsyncIterator[Service]:
    async with serving(Settings(**settings)) as url:
        yield Service(url, Progress(), {"bench": os.getpid()})


def start_processes(
    configs: dict[str, dict[str, Any]], api_port: int, tmp: Path, log: Path
) -> dict[str, subprocess.Popen[bytes]]:
    """`soc api` (the config named api) and `soc detect` (the others), each with its file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    procs = {}
    with log.open("ab") as err:
        for name, settings in configs.items():
            command = ["api", "--port", str(api_port)] if name == "api" else ["detect"]
            config = tmp / f"{name}.yml"
            config.write_text(yaml.safe_dump(settings))
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "soc.cli", *command],
                env={**env, "SOC_CONFIG": str(config)},
                cwd=ROOT,  # the rule cache of .soc/rule-cache, as `soc run` in this process
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
    return procs


@contextlib.asynccontextmanager
async def split_processes(
    case: Case, args: argparse.Namespace, tmp: Path, prefix: str
) -> AsyncIterator[Service]:
    """`soc api` and ``case.detectors`` `soc detect` processes, ready and settled."""
    api_port = free_port()
    detect_ports = [free_port() for _ in range(case.detectors)]
    log = tmp / "processes.log"
    configs = {"api": settings_for(case, args, tmp, prefix)} | {
        f"detect{i + 1}": settings_for(case, args, tmp, prefix, port)
        for i, port in enumerate(detect_ports)
    }
    procs = start_processes(configs, api_port, tmp, log)
    url = f"http://127.0.0.1:{api_port}"
    try:
        async with httpx.AsyncClient(timeout=10) as c:
            progress = ScrapedProgress(c, detect_ports)
            deadline = time.monotonic() + 180

            async def ready() -> bool:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        sys.exit(f"`soc {name}` stopped at start:\n{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    sys.exit(f"not ready after 180 s:\n{log.read_text()[-3000:]}")
                try:
                    api_ok = (await c.get(f"{url}/readyz")).status_code == 200
                except httpx.HTTPError:
                    api_ok = False
                return api_ok and min(await progress.per_process("soc_rules_loaded")) > 0

            await until(ready, interval=0.5)
            await asyncio.sleep(args.settle)  # the consumer groups' first rebalances settle
            # this process only posts here; counted as in the one-process layout, where the
            # posting cannot be told apart from the service
            pids = {"bench": os.getpid()} | {name: p.pid for name, p in procs.items()}
            yield Service(url, progress, pids)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def distinct_events(lines: list[bytes]) -> int:
    """Events these lines make once stored: the recording repeats some records whole, and an
    event posted twice is stored once (its id is its tenant, source and record)."""
    parsed = parse_ndjson(
        b"\n".join(lines), tenant="bench", source="http", received=utcnow(), max_line_bytes=1 << 20
    )
    return len({e.id for e in parsed.events})


async def run(
    case: Case, args: argparse.Namespace, lines: list[bytes], jvms: dict[str, int]
) -> dict[str, Any]:
    warmup, measured = lines[: args.warmup], lines[: args.events]
    distinct = args.distinct
    prefix = f"bench{time.time_ns() // 1000}"
    keep_all = case.keep_events == "all"
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        settings = settings_for(case, args, tmp, prefix)
        try:
            service = (
                split_processes(case, args, tmp, prefix) if case.detectors else in_process(settings)
            )
            async with (
                service as svc,
                httpx.AsyncClient(base_url=svc.url, timeout=120) as c,
                store_client(settings) as store,
            ):
                progress = svc.progress
                if warmup:
                    detected0, stored0 = await progress.detected(), await progress.stored()
                    warm = await post_all(c, warmup, args, WARMUP_TOKEN)

                    async def warmed() -> bool:
                        return await progress.detected() >= detected0 + warm and (
                            not keep_all or await progress.stored() >= stored0 + warm
                        )

                    await until(warmed, progress.interval)
                if isinstance(progress, ScrapedProgress):
                    shares0 = await progress.per_process(
                        'soc_events_processed_total{stage="detect"}'
                    )
                detected0, stored0 = await progress.detected(), await progress.stored()
                alerts0 = await progress.alerts()
                pids = svc.pids | jvms
                cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
                started = time.perf_counter()
                accepted = await post_all(c, measured, args, rate=args.rate)
                ingested = time.perf_counter() - started
                done: dict[str, float] = {}
                cpu_at: dict[str, dict[str, float]] = {}

                async def all_detected() -> bool:
                    return await progress.detected() >= detected0 + accepted

                async def all_stored() -> bool:
                    return await progress.stored() >= stored0 + accepted

                async def all_searchable() -> bool:
                    return await stored_by_store(store, "bench") >= distinct

                async def detect_done() -> None:
                    await until(all_detected, progress.interval)
                    done["alert"] = time.perf_counter() - started
                    cpu_at["alert"] = {n: cpu_seconds(p) for n, p in pids.items()}

                async def store_done() -> None:
                    if keep_all:
                        await until(all_stored, progress.interval)
                        done["stored"] = time.perf_counter() - started
                        cpu_at["stored"] = {n: cpu_seconds(p) for n, p in pids.items()}
                        await until(all_searchable, interval=0.05)
                        done["searchable"] = time.perf_counter() - started

                try:
                    await asyncio.wait_for(
                        asyncio.gather(detect_done(), store_done()), args.timeout
                    )
                except TimeoutError:
                    sys.exit(
                        f"{case.label}: not done after {args.timeout} s: "
                        f"{await progress.detected() - detected0:.0f} of {accepted} detected, "
                        f"{await stored_by_store(store, 'bench')} of {distinct} in the store"
                    )
                # the run is done when every event is detected and (keeping all) stored; the
                # wait for them to be searchable (an OpenSearch refresh) is reported apart
                last = max(cpu_at, key=lambda k: done[k])
                total, cpu1 = done[last], cpu_at[last]
                alerts = int(await progress.alerts() - alerts0)
                shares = None
                if isinstance(progress, ScrapedProgress):
                    shares1 = await progress.per_process(
                        'soc_events_processed_total{stage="detect"}'
                    )
                    shares = [int(b - a) for a, b in zip(shares0, shares1, strict=True)]
        finally:
            await clean_up(prefix, services_of(case.pair), args)
    cpu = {n: round(cpu1[n] - cpu0[n], 2) for n in cpu0}
    cpu_total = sum(cpu.values())
    result = {
        "pair": case.pair,
        "layout": case.layout,
        "keep_events": case.keep_events,
        "events": accepted,
        "distinct_events": distinct,
        "hosts": args.hosts,
        "pinned_cpu": args.pin,
        "ingest_seconds": round(ingested, 2),
        "ingest_events_per_s": round(accepted / ingested),
        "ingest_to_alert_seconds": round(done["alert"], 2),
        "ingest_to_stored_seconds": round(done["stored"], 2) if "stored" in done else None,
        "ingest_to_searchable_seconds": (
            round(done["searchable"], 2) if "searchable" in done else None
        ),
        "events_per_s": round(accepted / total),
        "cpu_seconds": cpu,
        "cpu_seconds_total": round(cpu_total, 2),
        "events_per_cpu_second": round(accepted / cpu_total) if cpu_total else None,
        "alerts": alerts,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if shares is not None:
        result["detected_per_process"] = shares
    return result


# ------------------------------------------------------------------ summary


@dataclass
class Spread:
    values: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        v = self.values
        return {"median": round(statistics.median(v)), "min": round(min(v)), "max": round(max(v))}

    def human(self) -> str:
        s = self.summary()
        return f"{s['median']:>7,} ({s['min']:,}-{s['max']:,})"


def summarize(case: Case, results: list[dict[str, Any]]) -> dict[str, Any]:
    rate = Spread([r["events_per_s"] for r in results])
    per_cpu = Spread([r["events_per_cpu_second"] for r in results])
    cpu = {
        n: round(statistics.median(r["cpu_seconds"][n] for r in results), 2)
        for n in results[0]["cpu_seconds"]
    }
    summary: dict[str, Any] = {
        "summary": case.pair,
        "layout": case.layout,
        "keep_events": case.keep_events,
        "runs": len(results),
        "events": results[0]["events"],
        "events_per_s": rate.summary(),
        "events_per_cpu_second": per_cpu.summary(),
        "ingest_to_alert_seconds_median": statistics.median(
            r["ingest_to_alert_seconds"] for r in results
        ),
        "cpu_seconds_median": cpu,
    }
    stored = [r["ingest_to_stored_seconds"] for r in results]
    if None not in stored:
        summary["ingest_to_stored_seconds_median"] = statistics.median(stored)
        summary["ingest_to_searchable_seconds_median"] = statistics.median(
            r["ingest_to_searchable_seconds"] for r in results
        )
        summary["stored_events_per_s"] = Spread(
            [r["events"] / s for r, s in zip(results, stored, strict=True)]
        ).summary()
    kept = "every event" if case.keep_events == "all" else "alerting only"
    summary["_human"] = (
        f"{case.label:<32} {kept:<13} {rate.human()} events/s   {per_cpu.human()} events/CPU-s   "
        f"CPU-s {' '.join(f'{n} {v}' for n, v in cpu.items())}"
    )
    return summary


def keeping_cost(all_: dict[str, Any], alerting: dict[str, Any]) -> dict[str, Any]:
    """How much throughput storing every event costs against alerting-only storage, in %."""

    def drop(key: str) -> float:
        return round(100 * (1 - all_[key]["median"] / alerting[key]["median"]), 1)

    return {
        "keep_all_cost": all_["summary"],
        "layout": all_["layout"],
        "events_per_s_drop_pct": drop("events_per_s"),
        "events_per_cpu_second_drop_pct": drop("events_per_cpu_second"),
        "target_pct": 30,
    }


def main() -> None:
    kafka_port = os.environ.get("SOC_LOCAL_KAFKA_PORT", "19092")
    opensearch_port = os.environ.get("SOC_LOCAL_OPENSEARCH_PORT", "19200")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--pair", action="append", choices=PAIRS + MIXED, help=f"default: {' and '.join(PAIRS)}"
    )
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--warmup", type=int, default=1_000, help="events posted first, not measured")
    p.add_argument("--runs", type=int, default=1, help="runs of each case, alternating")
    p.add_argument("--batch-lines", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument(
        "--rate", type=float, default=None, help="events/s: paced bodies instead of a burst"
    )
    p.add_argument("--rules", type=Path, action="append", default=None)
    p.add_argument(
        "--keep-events",
        choices=("all", "alerting", "both"),
        default="all",
        help="store.keep_events; both: each case with both, and the cost of keeping all",
    )
    p.add_argument(
        "--detectors",
        type=int,
        default=0,
        metavar="N",
        help="also run the Kafka pairs with OpenSearch as `soc api` + N `soc detect` processes",
    )
    p.add_argument(
        "--only-split",
        action="store_true",
        help="with --detectors: measure only the split layout, not the one-process one",
    )
    p.add_argument(
        "--settle", type=float, default=8.0, help="seconds the split processes settle first"
    )
    p.add_argument(
        "--timeout", type=float, default=1800, help="seconds a run may wait for its events"
    )
    p.add_argument("--hosts", type=int, default=12, help="host names the lines are spread over")
    p.add_argument("--pin", type=int, default=None, metavar="CPU", help="all on this one CPU")
    p.add_argument("--kafka", default=f"127.0.0.1:{kafka_port}")
    p.add_argument("--opensearch", default=f"http://127.0.0.1:{opensearch_port}")
    args = p.parse_args()
    args.rules = args.rules or [RULES]
    pairs = args.pair or list(PAIRS)
    if args.only_split and not args.detectors:
        p.error("--only-split needs --detectors N")
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})  # before any thread starts: they inherit it
    lines = recorded_lines(max(args.events, args.warmup), args.hosts)
    if len(lines) < args.events:
        sys.exit(f"the dataset has {len(lines)} events, fewer than --events")
    args.distinct = distinct_events(lines[: args.events])

    down: dict[str, str] = {}
    pids: dict[str, int | None] = {}
    for service in sorted({s for pair in pairs for s in services_of(pair)}):
        why = asyncio.run(unreachable(service, args))
        if why is None:
            pids[service] = jvm_pid(service, args)
        else:
            down[service] = why
    skipped: dict[str, str] = {}
    for pair in pairs:
        whys = [down[s] for s in services_of(pair) if s in down]
        if whys:
            hint = "start them with `make services-up`, or pass --kafka and --opensearch"
            skipped[pair] = f"{'; '.join(whys)} ({hint})"
            print(json.dumps({"pair": pair, "skipped": skipped[pair]}), flush=True)
    keeps = ["all", "alerting"] if args.keep_events == "both" else [args.keep_events]
    cases = []
    for pair in pairs:
        if pair in skipped:
            continue
        layouts = [] if args.only_split else [0]
        if args.detectors and pair.startswith("kafka+") and pair.endswith("+opensearch"):
            layouts.append(args.detectors)
        cases += [Case(pair, d, keep) for d in layouts for keep in keeps]
    results: dict[Case, list[dict[str, Any]]] = {case: [] for case in cases}
    for _ in range(args.runs):
        for case in cases:
            jvms = {s: pids[s] for s in services_of(case.pair)}
            live = {s: pid for s, pid in jvms.items() if pid is not None}
            with pinned(list(live.values()), args.pin):
                result = asyncio.run(run(case, args, lines, live))
            results[case].append(result)
            print(json.dumps(result), flush=True)

    summaries = {case: summarize(case, r) for case, r in results.items()}
    human = []
    for s in summaries.values():
        human.append(s.pop("_human"))
        print(json.dumps(s), flush=True)
    for keep in keeps:
        embedded = summaries.get(Case("memory+sqlite", 0, keep))
        kafka = summaries.get(Case("kafka+opensearch", 0, keep))
        if embedded and kafka:
            ratio = {
                k: round(embedded[k]["median"] / kafka[k]["median"], 2)
                for k in ("events_per_s", "events_per_cpu_second")
            }
            print(json.dumps({"kafka_vs_embedded_slower_by": ratio, "keep_events": keep}))
            human.append(
                f"keep_events={keep}: kafka+opensearch (one process) is "
                f"{ratio['events_per_s']}x slower than memory+sqlite in events/s, "
                f"{ratio['events_per_cpu_second']}x in events per CPU-second"
            )
    for case, s in summaries.items():
        if "ingest_to_stored_seconds_median" in s:
            human.append(
                f"{case.label}: every event stored in {s['ingest_to_stored_seconds_median']} s "
                f"(ingest-to-stored {s['stored_events_per_s']['median']:,} events/s), "
                f"searchable in {s['ingest_to_searchable_seconds_median']} s, "
                f"detected in {s['ingest_to_alert_seconds_median']} s"
            )
        if case.keep_events == "all" and (
            other := summaries.get(Case(case.pair, case.detectors, "alerting"))
        ):
            cost = keeping_cost(s, other)
            print(json.dumps(cost), flush=True)
            verdict = "within" if cost["events_per_s_drop_pct"] <= 30 else "OVER"
            human.append(
                f"{case.label}: keeping every event costs {cost['events_per_s_drop_pct']}% of "
                f"events/s, {cost['events_per_cpu_second_drop_pct']}% of events per CPU-second, "
                f"against alerting-only ({verdict} the 30% target)"
            )
    pinned_to = f"pinned to CPU {args.pin}" if args.pin is not None else "not pinned"
    print(
        f"# {args.events:,} events over {args.hosts} host name(s), {args.runs} run(s) each, "
        f"median (min-max), {pinned_to}:"
    )
    for line in human:
        print(f"#   {line}")
    for pair, why in skipped.items():
        print(f"#   {pair:<17} NOT MEASURED: {why}")
    if skipped and args.pair:
        sys.exit(1)  # a pair asked for by name was not measured


if __name__ == "__main__":
    main()
