"""The agent's throughput: recorded lines in, until Kafka acknowledged all of them.

    python bench/connector.py                  # 200,000 auth.log lines (`make services-up` first)
    python bench/connector.py --lines 500000 --format auth --kafka 127.0.0.1:19092
    python bench/connector.py --source tcp --spool 1MiB   # syslog over TCP into a tiny spool

The lines are real ones of ../shared/datasets/linux/auth.log (cycled to reach
--lines). The agent runs in this one process, on one event loop (one core),
exactly as `soc-connector run` wires it: source -> parse -> on-disk spool ->
idempotent Kafka producer (acks=all). The source is either a file tail (the
file is written before the agent starts) or a syslog TCP listener that a
separate process sends the lines to, newline-framed, as fast as the agent
reads them (--source tcp): with a small --spool that is the backpressure
path, where reading, spooling and sending must overlap to go fast.
Prints lines, seconds, events/s by the wall clock and per CPU second of the
agent's process, and its peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from connectors.agent import Agent
from connectors.config import parse_config
from connectors.metrics import EVENTS_ACKED
from connectors.sources.syslog import SyslogSource

ROOT = Path(__file__).resolve().parents[1]
AUTH_LOG = ROOT.parent / "shared/datasets/linux/auth.log"
SEND = """
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s:
    s.sendall(open(sys.argv[2], "rb").read())
"""


def acked(source: str) -> float:
    return EVENTS_ACKED.labels(source)._value.get()


def source_yaml(kind: str, log: Path, fmt: str) -> str:
    if kind == "tcp":
        return f"{{name: net, type: syslog, protocol: tcp, listen: '127.0.0.1:0', format: {fmt}}}"
    return f'{{name: net, type: file, paths: ["{log}"], format: {fmt}, scan_interval_s: 0.2}}'


async def bench(
    lines: int, fmt: str, kafka: str, fsync: str, kind: str, spool: str
) -> dict[str, object]:
    base = AUTH_LOG.read_bytes().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "auth.log"
        with log.open("wb") as f:
            for i in range(lines):
                f.write(base[i % len(base)] + b"\n")
        size = log.stat().st_size
        cfg = parse_config(
            f"""
connector: {{id: bench, tenant: bench, data_dir: "{tmp}/data", host: bench-host}}
output:
  type: kafka
  bootstrap_servers: ["{kafka}"]
  topic: bench-connector-{uuid.uuid4().hex[:8]}
delivery: {{batch_events: 5000, batch_bytes: 4MiB}}
spool: {{max_bytes: {spool}, fsync: {fsync}}}
metrics: {{listen: null}}
sources:
  - {source_yaml(kind, log, fmt)}
"""
        )
        agent = Agent(cfg)
        stop = asyncio.Event()
        before = acked("net")
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        task = asyncio.create_task(agent.run(stop))
        sender = None
        if kind == "tcp":
            source = agent.sources["net"]
            assert isinstance(source, SyslogSource)
            await source.started.wait()
            sender = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SEND, str(source.port), str(log)
            )
        while acked("net") - before < lines:
            if task.done():
                await task
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stop.set()
        await task
        if sender is not None:
            await sender.wait()
    return {
        "source": kind,
        "lines": lines,
        "format": fmt,
        "spool": spool,
        "fsync": fsync,
        "bytes": size,
        "seconds": round(seconds, 2),
        "events_per_s": round(lines / seconds),
        "cpu_seconds": round(cpu, 2),
        "events_per_cpu_s": round(lines / cpu),
        "mib_per_s": round(size / seconds / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lines", type=int, default=200_000)
    p.add_argument("--format", default="auth")
    p.add_argument("--kafka", default="127.0.0.1:19092")
    p.add_argument("--fsync", default="batch", choices=["always", "batch", "never"])
    p.add_argument("--source", default="file", choices=["file", "tcp"])
    p.add_argument("--spool", default="1GiB", help="spool.max_bytes (default 1GiB)")
    a = p.parse_args()
    result = asyncio.run(bench(a.lines, a.format, a.kafka, a.fsync, a.source, a.spool))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
