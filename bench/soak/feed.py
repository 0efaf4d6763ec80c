"""The load: recorded lines appended at a fixed rate to the files the connectors tail, and
what is measured meanwhile and after.

    result = await drive(stack, rate=500, seconds=300)

* Feed. Every :data:`TICK_S` the lines due by then (``rate`` x the connector's share
  x the time since the start) are written to each connector's file in one append,
  stamped with the current time (:mod:`.pools`). Each line is one event whose id
  follows from its connector, stream and line number (``Origin.seq``), so the
  ledger counts exactly.
* Probes. Every ``probe_every`` seconds one more Windows line that raises an alert,
  its host ``soakprobe-<n>``, alternately to the HTTP and the Kafka connector. The
  time it was written starts two clocks, stopped when the probe is first seen in
  ``GET /api/v1/alerts?q=soakprobe`` (ingest to alert visible) and in
  ``GET /api/v1/events?q=soakprobe`` (ingest to searchable); both are polled every
  :data:`POLL_S`, so a latency is late by half that on average.
* Samples, every ``sample_every`` seconds: each consumer group's lag (end offsets
  less committed offsets, summed over partitions), each connector's spool (events
  not yet acknowledged by the SOC), events stored so far (the detectors'
  ``soc_events_stored_total``), and CPU (%) and resident memory of every process
  (the `soc` processes, the connectors, this harness, the Kafka and OpenSearch JVMs).
* After the feed: the drain (until every group's lag and every spool is 0, at most
  ``drain_timeout`` seconds), then the ledger from the store itself: per connector,
  every (seq, documents) in the events indices, against the lines written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from .pools import PROBE_WORD
from .stack import TENANT, Stack, metric

TICK_S = 0.05
POLL_S = 0.25
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Probe:
    n: int
    host: str
    connector: str
    written: float
    at: float = 0.0
    """Seconds since the feed started."""
    alert_s: float | None = None
    search_s: float | None = None


@dataclass
class Ledger:
    sent: int
    """Lines written to the connectors' files (each is one event)."""
    stored: int
    """Distinct events of those lines in the store (one id each)."""
    lost: int
    """Lines written whose event is not in the store."""
    duplicated: int
    """Documents beyond one per line (the same line stored under a second id)."""
    unexpected: int
    """Documents of a line number never written (should be 0)."""
    dead_letters: int
    """Input the SOC refused (dead-letter store) during the run."""
    per_connector: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Sample:
    t: float
    """Seconds since the feed started."""
    lag: dict[str, int]
    spool: dict[str, int]
    stored: float
    cpu: dict[str, float]
    """Percent of one core, since the previous sample."""
    rss_mb: dict[str, float]
    wait: dict[str, float] = field(default_factory=dict)
    """Percent of wall time the process's threads spent ready to run but waiting for a
    core (the run queue: /proc/<pid>/task/*/schedstat), since the previous sample."""
    machine: dict[str, float] = field(default_factory=dict)
    """The whole machine: load1 (/proc/loadavg) and busy_pct (all cores, /proc/stat)."""


@dataclass
class RunResult:
    rate: float
    seconds: float
    written: int
    feed_s: float
    drain_s: float
    drained: bool
    probes: list[Probe]
    samples: list[Sample]
    ledger: Ledger
    max_behind: int = 0
    """Most lines the feed was ever behind its schedule (the harness starved of CPU)."""

    def figures(self) -> dict[str, Any]:
        return figures(self)


SINK_COMMIT_S = 5.0
"""sources.snapshot_s's default: the event sink's commit interval."""


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


def figures(r: RunResult) -> dict[str, Any]:
    """The run's figures: rates, latency percentiles, lag, CPU and memory, the ledger."""
    alert = [p.alert_s for p in r.probes if p.alert_s is not None]
    search = [p.search_s for p in r.probes if p.search_s is not None]
    during = [s for s in r.samples if s.t <= r.feed_s]
    lag_total = [sum(s.lag.values()) + sum(s.spool.values()) for s in during]
    third = max(len(lag_total) // 3, 1)
    middle, last = lag_total[third : 2 * third] or lag_total, lag_total[-third:] or lag_total
    mean_mid = sum(middle) / len(middle) if middle else 0.0
    mean_last = sum(last) / len(last) if last else 0.0
    # The event sink commits its offsets every sources.snapshot_s (5 s): its lag reads up to
    # that many seconds of events while it keeps up, a saw-tooth, not a growth.
    bounded = r.drained and r.drain_s <= 15 and mean_last <= 1.5 * mean_mid + SINK_COMMIT_S * r.rate
    stored_during = [s.stored for s in during]
    stored_rate = (
        (stored_during[-1] - stored_during[0]) / (during[-1].t - during[0].t)
        if len(during) >= 2 and during[-1].t > during[0].t
        else None
    )
    procs: dict[str, dict[str, float]] = {}
    for name in {n for s in during for n in s.cpu}:
        cpu = [s.cpu[name] for s in during if name in s.cpu]
        rss = [s.rss_mb[name] for s in during if name in s.rss_mb]
        waits = [s.wait[name] for s in during if name in s.wait]
        procs[name] = {
            "run_queue_wait_pct": round(sum(waits) / len(waits), 1) if waits else 0.0,
            "cpu_mean_pct": round(sum(cpu) / len(cpu), 1) if cpu else 0.0,
            "cpu_max_pct": round(max(cpu), 1) if cpu else 0.0,
            "rss_max_mb": round(max(rss), 1) if rss else 0.0,
        }

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000)

    p99_alert = percentile(alert, 99)
    # What each process spends per event, whatever else runs on the machine: the CPU-bound
    # ceiling of this layout on an otherwise idle machine is the cores over the sum.
    ours = {n: p for n, p in procs.items() if n != "harness"}
    per_k = {n: round(p["cpu_mean_pct"] / 100 * 1000 / r.rate, 3) for n, p in ours.items()}
    total_per_k = sum(per_k.values())
    cores = os.cpu_count() or 1
    return {
        "rate": r.rate,
        "seconds": round(r.feed_s, 1),
        "events_written": r.written,
        "events_per_s_sent": round(r.written / r.feed_s, 1) if r.feed_s else None,
        "events_per_s_stored": None if stored_rate is None else round(stored_rate, 1),
        "probes": len(r.probes),
        "alert_ms": {f"p{p}": ms(percentile(alert, p)) for p in (50, 95, 99)}
        | {"max": ms(max(alert) if alert else None), "unseen": len(r.probes) - len(alert)},
        "searchable_ms": {f"p{p}": ms(percentile(search, p)) for p in (50, 95, 99)}
        | {"max": ms(max(search) if search else None), "unseen": len(r.probes) - len(search)},
        "lag": {
            "max": max(lag_total, default=0),
            "mean_middle_third": round(mean_mid),
            "mean_last_third": round(mean_last),
            "bounded": bounded,
            "drain_s": round(r.drain_s, 1),
            "drained": r.drained,
        },
        "max_behind": r.max_behind,
        "machine": {
            "load1_mean": _mean([s.machine.get("load1", 0.0) for s in during]),
            "busy_pct_mean": _mean([s.machine.get("busy_pct", 0.0) for s in during]),
            "cores": os.cpu_count(),
        },
        "processes": dict(sorted(procs.items())),
        "ledger": asdict(r.ledger),
        "core_seconds_per_1000_events": dict(sorted(per_k.items(), key=lambda kv: -kv[1]))
        | {"total": round(total_per_k, 3)},
        "cpu_bound_ceiling_events_per_s": round(cores * 1000 / total_per_k)
        if total_per_k
        else None,
        "goal_met": bool(
            p99_alert is not None
            and p99_alert < 2.0
            and len(alert) == len(r.probes)
            and bounded
            and r.ledger.lost == 0
            and r.ledger.duplicated == 0
        ),
    }


# ------------------------------------------------------------------ samplers


def cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run_queue_s(pid: int) -> float | None:
    """Seconds every thread of ``pid`` has waited for a core so far."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for t in tasks:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[1])
    return total / 1e9


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far."""
    cols = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cols[3] + cols[4]
    return sum(cols) - idle, sum(cols)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Lag:
    """Each of the run's consumer groups' lag, from the broker."""

    def __init__(self, kafka: str, groups: list[str]) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        self._groups = groups
        self._admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self._consumer.stop()
        with contextlib.suppress(Exception):
            await self._admin.close()

    async def read(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for group in self._groups:
            try:
                committed = await self._admin.list_consumer_group_offsets(group)
            except Exception:
                continue
            if not committed:
                continue
            tps = list(committed)
            ends = await self._consumer.end_offsets(tps)
            out[group.split(".", 1)[1]] = sum(
                max(ends[tp] - max(committed[tp].offset, 0), 0) for tp in tps
            )
        return out


async def _sampler(
    stack: Stack, lag: Lag, t0: float, every: float, out: list[Sample], stop: asyncio.Event
) -> None:
    pids = stack.pids() | {"harness": os.getpid()}
    before = {n: cpu_seconds(p) for n, p in pids.items()}
    waited = {n: run_queue_s(p) for n, p in pids.items()}
    busy0 = machine_busy()
    last = time.monotonic()
    detectors = [p for n, p in stack.metrics_ports.items() if n.startswith("detect")]
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        now = time.monotonic()
        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        wait: dict[str, float] = {}
        for name, pid in pids.items():
            c, r = cpu_seconds(pid), rss_mb(pid)
            b = before.get(name)
            if c is not None and b is not None:
                cpu[name] = round((c - b) / (now - last) * 100, 1)
            if r is not None:
                rss[name] = round(r, 1)
            before[name] = c
            q, q0 = run_queue_s(pid), waited.get(name)
            if q is not None and q0 is not None:
                wait[name] = max(round((q - q0) / (now - last) * 100, 1), 0.0)
            waited[name] = q
        busy1 = machine_busy()
        machine = {
            "load1": os.getloadavg()[0],
            "busy_pct": round(100 * (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1), 1),
        }
        busy0 = busy1
        last = now
        loop = asyncio.get_running_loop()
        spool = {
            c.name: int(
                await loop.run_in_executor(
                    None, metric, c.metrics_port, "soc_connector_spool_events"
                )
            )
            for c in stack.connectors
        }
        stored = 0.0
        for port in detectors:
            stored += max(
                await loop.run_in_executor(None, metric, port, "soc_events_stored_total"), 0
            )
        try:
            lags = await lag.read()
        except Exception:
            lags = {}
        out.append(Sample(round(now - t0, 2), lags, spool, stored, cpu, rss, wait, machine))


# ------------------------------------------------------------------ probes


async def _prober(stack: Stack, probes: list[Probe], since: datetime, stop: asyncio.Event) -> None:
    """Polls both searches until ``stop`` and every probe was seen in both."""
    params = {"q": PROBE_WORD, "since": since.isoformat(), "limit": "200", "tenant": TENANT}
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.read_headers(), timeout=10
    ) as c:
        while not (stop.is_set() and all(p.alert_s and p.search_s for p in probes)):
            by_host = {p.host: p for p in probes}
            waiting_alert = any(p.alert_s is None for p in probes)
            waiting_search = any(p.search_s is None for p in probes)
            for path, attr, waiting in (
                ("/api/v1/alerts", "alert_s", waiting_alert),
                ("/api/v1/events", "search_s", waiting_search),
            ):
                if not waiting:
                    continue
                try:
                    r = await c.get(path, params=params)
                    items = r.json().get("items", []) if r.status_code == 200 else []
                except (httpx.HTTPError, ValueError):
                    continue
                seen = time.time()
                for item in items:
                    p = by_host.get(item.get("host") or "")
                    if p is not None and getattr(p, attr) is None:
                        setattr(p, attr, seen - p.written)
            await asyncio.sleep(POLL_S)


# ------------------------------------------------------------------ the ledger


async def ledger(stack: Stack, written: dict[str, int]) -> Ledger:
    """Per connector, every line number's documents in the store, against the lines written."""
    os_url = stack.config.opensearch
    index = f"{stack.prefix}-events-*"
    per: dict[str, dict[str, int]] = {}
    async with httpx.AsyncClient(base_url=os_url, timeout=120) as c:
        await c.post(f"/{index}/_refresh")
        for name, sent in written.items():
            distinct = dup = unexpected = docs = 0
            after: dict[str, Any] | None = None
            while True:
                composite: dict[str, Any] = {
                    "size": 10000,
                    "sources": [{"seq": {"terms": {"field": "origin.seq"}}}],
                }
                if after:
                    composite["after"] = after
                body = {
                    "size": 0,
                    "track_total_hits": True,
                    "query": {
                        "bool": {
                            "filter": [
                                {"term": {"tenant": TENANT}},
                                {"term": {"origin.connector": name}},
                            ]
                        }
                    },
                    "aggs": {"seqs": {"composite": composite}},
                }
                r = await c.post(f"/{index}/_search", json=body)
                r.raise_for_status()
                agg = r.json()["aggregations"]["seqs"]
                for b in agg["buckets"]:
                    n = b["doc_count"]
                    docs += n
                    if b["key"]["seq"] < sent:
                        distinct += 1
                        dup += n - 1
                    else:
                        unexpected += n
                after = agg.get("after_key")
                if not agg["buckets"] or not after:
                    break
            per[name] = {
                "sent": sent,
                "stored": distinct,
                "lost": sent - distinct,
                "duplicated": dup,
                "unexpected": unexpected,
                "documents": docs,
            }
        r = await c.get(f"/{stack.prefix}-deadletters-*/_count")
        dead = int(r.json().get("count", 0)) if r.status_code == 200 else 0
    return Ledger(
        sent=sum(v["sent"] for v in per.values()),
        stored=sum(v["stored"] for v in per.values()),
        lost=sum(v["lost"] for v in per.values()),
        duplicated=sum(v["duplicated"] for v in per.values()),
        unexpected=sum(v["unexpected"] for v in per.values()),
        dead_letters=dead,
        per_connector=per,
    )


# ------------------------------------------------------------------ the run


async def drive(
    stack: Stack,
    *,
    rate: float,
    seconds: float,
    probe_every: float = 1.0,
    sample_every: float = 5.0,
    drain_timeout: float = 180.0,
    progress: bool = False,
    stop: asyncio.Event | None = None,
) -> RunResult:
    """Feed ``rate`` events/s for ``seconds`` (or until ``stop`` is set), drain, count. The
    connectors' files keep growing across calls (several drives on one stack measure
    several rates)."""
    files = {c.name: os.open(c.path, os.O_WRONLY | os.O_APPEND) for c in stack.connectors}
    written = {c.name: _lines_in(c.path) for c in stack.connectors}
    start_written = dict(written)
    probes: list[Probe] = []
    samples: list[Sample] = []
    windows = [c for c in stack.connectors if c.pool.probes]
    lag = Lag(stack.config.kafka, stack.groups())
    await lag.start()
    stop_sampling, stop_probing = asyncio.Event(), asyncio.Event()
    since = datetime.now(UTC).replace(microsecond=0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sampler = asyncio.create_task(
        _sampler(stack, lag, time.monotonic(), sample_every, samples, stop_sampling)
    )
    prober = asyncio.create_task(_prober(stack, probes, since, stop_probing))
    due = {c.name: 0 for c in stack.connectors}
    max_behind = 0
    next_probe = probe_every
    next_report = 10.0
    try:
        while (elapsed := loop.time() - t0) < seconds and not (stop and stop.is_set()):
            now = datetime.now(UTC)
            behind = 0
            for c in stack.connectors:
                target = int(rate * c.share * elapsed)
                n = target - due[c.name]
                if n > 0:
                    lines = c.pool.take(n, now)
                    os.write(files[c.name], b"\n".join(lines) + b"\n")
                    due[c.name] = target
                    written[c.name] += n
                    behind += n
            max_behind = max(max_behind, behind - int(rate * TICK_S * 2))
            if elapsed >= next_probe and windows:
                c = windows[len(probes) % len(windows)]
                host = f"{PROBE_WORD}-{len(probes)}"
                os.write(files[c.name], c.pool.probe(host, now) + b"\n")
                written[c.name] += 1
                probes.append(Probe(len(probes), host, c.name, time.time(), round(elapsed, 2)))
                next_probe += probe_every
            if progress and elapsed >= next_report:
                next_report += 30
                _say_progress(elapsed, samples, probes)
            if stack.exited():
                raise RuntimeError(f"processes stopped under load: {stack.exited()}")
            await asyncio.sleep(max(0.0, TICK_S - (loop.time() - t0 - elapsed)))
        feed_s = loop.time() - t0
        drained = await _drain(stack, lag, drain_timeout)
        drain_s = loop.time() - t0 - feed_s
        stop_probing.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(prober), 60)
    finally:
        stop_sampling.set()
        stop_probing.set()
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await lag.stop()
        for fd in files.values():
            os.close(fd)
    sent = {n: written[n] - start_written[n] for n in written}
    led = await ledger(stack, written)
    led.per_connector = {n: v | {"sent_this_run": sent[n]} for n, v in led.per_connector.items()}
    return RunResult(
        rate=rate,
        seconds=seconds,
        written=sum(sent.values()),
        feed_s=feed_s,
        drain_s=drain_s,
        drained=drained,
        probes=probes,
        samples=samples,
        ledger=led,
        max_behind=max(max_behind, 0),
    )


def _lines_in(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _say_progress(elapsed: float, samples: list[Sample], probes: list[Probe]) -> None:
    s = samples[-1] if samples else None
    alert = [p.alert_s for p in probes if p.alert_s is not None]
    lag = (sum(s.lag.values()) + sum(s.spool.values())) if s else 0
    p = percentile(alert[-60:], 99)
    print(
        f"# {elapsed:6.0f} s  lag {lag:>7}  alert p99 (last 60) "
        f"{'-' if p is None else f'{p * 1000:.0f} ms'}  seen {len(alert)}/{len(probes)}",
        flush=True,
    )


async def _drain(stack: Stack, lag: Lag, limit_s: float) -> bool:
    """Until every group's lag and every connector's spool is 0 twice in a row."""
    deadline = time.monotonic() + limit_s
    zero = 0
    loop = asyncio.get_running_loop()
    while time.monotonic() < deadline:
        lags = await lag.read()
        spool = [
            await loop.run_in_executor(None, metric, c.metrics_port, "soc_connector_spool_events")
            for c in stack.connectors
        ]
        zero = zero + 1 if not any(lags.values()) and not any(spool) else 0
        if zero >= 2:
            return True
        await asyncio.sleep(1)
    return False
