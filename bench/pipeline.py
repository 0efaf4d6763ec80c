"""Ingest-to-alert throughput and CPU cost: recorded events over HTTP, until every one is detected.

    python bench/pipeline.py                        # both pairs (kafka+opensearch if they answer)
    python bench/pipeline.py --runs 3               # each pair three times: median and spread
    python bench/pipeline.py --pin 0                # everything (this process, the JVMs) on CPU 0
    python bench/pipeline.py --store-all-events     # store every event, not only alerts' events
    python bench/pipeline.py --rate 2000 --batch-lines 20   # a steady trickle, not a burst
    python bench/pipeline.py --pair memory+sqlite --events 53698 --batch-lines 2000

Each run starts one in-process service as `soc run` does (API, detector, grouping,
dead-letter sink and, on Kafka, the ingest bridge: all on one event loop), posts
the first ``--warmup`` events for another tenant and waits for them (consumer
groups joined, connections open, caches warm, and the indices and incidents that
the first alerts create made; not measured), then posts ``--events`` recorded
events for the bench tenant (new event ids: they are not duplicates of the
warm-up's) and times them until the detector has processed every one.

Per run it measures the events/s and the CPU-seconds spent in that window
(utime + stime from /proc/<pid>/stat) by this process and, on the Kafka pair, by
the Kafka and OpenSearch JVMs. Their pids come from the pid files of
deploy/local/services.sh under ``$SOC_LOCAL_CACHE/run/`` (default
``.cache/local-services``), checked against the process that listens on the
port; when there is no pid file, the process listening on the port. Events per
CPU-second is the pipeline's cost per core, comparable between pairs however
the machine's cores are shared. ``--pin CPU`` puts this process and every
thread of the JVMs on one CPU for the run (their affinity is restored after);
the same by hand: ``taskset -c 0 python bench/pipeline.py`` and
``taskset -a -c -p 0 <jvm pid>``.

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

Prints one JSON line per run, a JSON line per pair (median, min and max over
the runs) and one with the Kafka pair's slowdown against the embedded pair,
then a short human summary on lines that start with ``#``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from soc.api.server import serving
from soc.detections import RULES
from soc.metrics import ALERTS_RAISED, EVENTS_PROCESSED
from soc.settings import ApiKey, Settings

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01"
TOKEN = "bench-ingest-token"
WARMUP_TOKEN = "bench-warmup-token"
PAIRS = ("memory+sqlite", "kafka+opensearch")
"""Measured by default: the embedded pair and the production pair."""
MIXED = ("kafka+sqlite", "memory+opensearch")
"""Measured when asked for, to split a gap between the bus and the store."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def recorded_lines(n: int) -> list[bytes]:
    path = next(DATASET.glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        lines = []
        for line in f:
            lines.append(line.rstrip(b"\n"))
            if len(lines) >= n:
                break
    return lines


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


async def clean_up(prefix: str, services: list[str], args: argparse.Namespace) -> None:
    """Delete a run's topics and indices, so runs do not pile up on the services."""
    if "kafka" in services:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=args.kafka)
        try:
            await admin.start()
            topics = [t for t in await admin.list_topics() if t.startswith(f"{prefix}.")]
            if topics:
                await admin.delete_topics(topics)
        except Exception as e:
            print(f"# could not delete topics {prefix}.*: {e!r}", file=sys.stderr)
        finally:
            await admin.close()
    if "opensearch" in services:
        async with httpx.AsyncClient(timeout=30) as c:
            with contextlib.suppress(httpx.HTTPError):
                await c.delete(f"{args.opensearch}/{prefix}-*")


# ------------------------------------------------------------------ one run


def settings_for(pair: str, args: argparse.Namespace, tmp: Path, prefix: str) -> Settings:
    bus, store = pair.split("+")
    return Settings(
        env="production",
        log_level="WARNING",
        auth={
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
        bus={
            "kind": bus,
            "kafka": {"bootstrap_servers": args.kafka, "topic_prefix": prefix, "partitions": 3},
        },
        store={
            "kind": store,
            "sqlite": {"path": str(tmp / "bench.db")},
            "opensearch": {"hosts": [args.opensearch], "index_prefix": prefix},
        },
        detect={
            "rules": [str(p) for p in args.rules],
            "batch_size": 500,
            "store_all_events": args.store_all_events,
        },
        data_dir=str(tmp),
    )


def counter_total(counter: Any, **labels: str) -> float:
    return sum(
        s.value
        for m in counter.collect()
        for s in m.samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )


def detected() -> float:
    return counter_total(EVENTS_PROCESSED, stage="detect")


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


async def until_detected(target: float) -> None:
    while detected() < target:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def run(
    pair: str, args: argparse.Namespace, lines: list[bytes], pids: dict[str, int | None]
) -> dict[str, Any]:
    warmup, measured = lines[: args.warmup], lines[: args.events]
    prefix = f"bench{time.time_ns() // 1000}"
    jvms = {name: pid for name, pid in pids.items() if pid is not None}
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(pair, args, Path(tmp), prefix)
        try:
            async with (
                serving(settings) as url,
                httpx.AsyncClient(base_url=url, timeout=120) as c,
            ):
                if warmup:
                    start = detected()
                    warm = await post_all(c, warmup, args, WARMUP_TOKEN)
                    await until_detected(start + warm)
                processed0 = detected()
                alerts0 = counter_total(ALERTS_RAISED)
                cpu0 = {"bench": cpu_seconds("self")} | {n: cpu_seconds(p) for n, p in jvms.items()}
                started = time.perf_counter()
                accepted = await post_all(c, measured, args, rate=args.rate)
                ingested = time.perf_counter() - started
                await until_detected(processed0 + accepted)
                total = time.perf_counter() - started
                cpu1 = {"bench": cpu_seconds("self")} | {n: cpu_seconds(p) for n, p in jvms.items()}
                alerts = int(counter_total(ALERTS_RAISED) - alerts0)
        finally:
            await clean_up(prefix, services_of(pair), args)
    cpu = {n: round(cpu1[n] - cpu0[n], 2) for n in cpu0}
    cpu_total = sum(cpu.values())
    return {
        "pair": pair,
        "events": accepted,
        "store_all_events": args.store_all_events,
        "pinned_cpu": args.pin,
        "ingest_seconds": round(ingested, 2),
        "ingest_events_per_s": round(accepted / ingested),
        "ingest_to_alert_seconds": round(total, 2),
        "events_per_s": round(accepted / total),
        "cpu_seconds": cpu,
        "cpu_seconds_total": round(cpu_total, 2),
        "events_per_cpu_second": round(accepted / cpu_total) if cpu_total else None,
        "alerts": alerts,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


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


def summarize(pair: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    rate = Spread([r["events_per_s"] for r in results])
    per_cpu = Spread([r["events_per_cpu_second"] for r in results])
    cpu = {
        n: round(statistics.median(r["cpu_seconds"][n] for r in results), 2)
        for n in results[0]["cpu_seconds"]
    }
    return {
        "summary": pair,
        "runs": len(results),
        "events": results[0]["events"],
        "events_per_s": rate.summary(),
        "events_per_cpu_second": per_cpu.summary(),
        "cpu_seconds_median": cpu,
        "_human": f"{pair:<17} {rate.human()} events/s   {per_cpu.human()} events/CPU-s   "
        f"CPU-s {' '.join(f'{n} {v}' for n, v in cpu.items())}",
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
    p.add_argument("--runs", type=int, default=1, help="runs of each pair, alternating")
    p.add_argument("--batch-lines", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument(
        "--rate", type=float, default=None, help="events/s: paced bodies instead of a burst"
    )
    p.add_argument("--rules", type=Path, action="append", default=None)
    p.add_argument("--store-all-events", action="store_true", help="detect.store_all_events")
    p.add_argument("--pin", type=int, default=None, metavar="CPU", help="all on this one CPU")
    p.add_argument("--kafka", default=f"127.0.0.1:{kafka_port}")
    p.add_argument("--opensearch", default=f"http://127.0.0.1:{opensearch_port}")
    args = p.parse_args()
    args.rules = args.rules or [RULES]
    pairs = args.pair or list(PAIRS)
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})  # before any thread starts: they inherit it
    lines = recorded_lines(max(args.events, args.warmup))
    if len(lines) < args.events:
        sys.exit(f"the dataset has {len(lines)} events, fewer than --events")

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
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in pairs if p not in skipped}
    for _ in range(args.runs):
        for pair in results:
            jvms = {s: pids[s] for s in services_of(pair)}
            with pinned([p for p in jvms.values() if p is not None], args.pin):
                result = asyncio.run(run(pair, args, lines, jvms))
            results[pair].append(result)
            print(json.dumps(result), flush=True)

    summaries = {pair: summarize(pair, r) for pair, r in results.items()}
    human = []
    for s in summaries.values():
        human.append(s.pop("_human"))
        print(json.dumps(s), flush=True)
    if "memory+sqlite" in summaries and "kafka+opensearch" in summaries:
        embedded, kafka = summaries["memory+sqlite"], summaries["kafka+opensearch"]
        ratio = {
            k: round(embedded[k]["median"] / kafka[k]["median"], 2)
            for k in ("events_per_s", "events_per_cpu_second")
        }
        print(json.dumps({"kafka_vs_embedded_slower_by": ratio}), flush=True)
        human.append(
            f"kafka+opensearch is {ratio['events_per_s']}x slower than memory+sqlite in "
            f"events/s, {ratio['events_per_cpu_second']}x in events per CPU-second"
        )
    pinned_to = f"pinned to CPU {args.pin}" if args.pin is not None else "not pinned"
    print(
        f"# {args.events:,} events, {args.runs} run(s) each, median (min-max), {pinned_to}, "
        f"{'every event stored' if args.store_all_events else 'only alerts events stored'}:"
    )
    for line in human:
        print(f"#   {line}")
    for pair, why in skipped.items():
        print(f"#   {pair:<17} NOT MEASURED: {why}")
    if skipped and args.pair:
        sys.exit(1)  # a pair asked for by name was not measured


if __name__ == "__main__":
    main()
