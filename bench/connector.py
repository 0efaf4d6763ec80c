"""The agent's throughput: tail a file of recorded lines to Kafka, until Kafka acknowledged all.

    python bench/connector.py                  # 200,000 auth.log lines (`make services-up` first)
    python bench/connector.py --lines 500000 --format auth --kafka 127.0.0.1:19092

The file holds real lines of ../shared/datasets/linux/auth.log (cycled to reach
--lines) and is written before the agent starts. The agent runs in this one
process, on one event loop (one core), exactly as `soc-connector run` wires it:
file tail -> parse -> on-disk spool -> idempotent Kafka producer (acks=all).
Prints lines, seconds, events/s by the wall clock and per CPU second, and the
process's peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
import uuid
from pathlib import Path

from connectors.agent import Agent
from connectors.config import parse_config
from connectors.metrics import EVENTS_ACKED

ROOT = Path(__file__).resolve().parents[1]
AUTH_LOG = ROOT.parent / "shared/datasets/linux/auth.log"


def acked(source: str) -> float:
    return EVENTS_ACKED.labels(source)._value.get()


async def bench(lines: int, fmt: str, kafka: str, fsync: str) -> dict[str, object]:
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
spool: {{max_bytes: 1GiB, fsync: {fsync}}}
metrics: {{listen: null}}
sources:
  - {{name: auth, type: file, paths: ["{log}"], format: {fmt}, scan_interval_s: 0.2}}
"""
        )
        agent = Agent(cfg)
        stop = asyncio.Event()
        before = acked("auth")
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        task = asyncio.create_task(agent.run(stop))
        while acked("auth") - before < lines:
            if task.done():
                await task
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stop.set()
        await task
    return {
        "lines": lines,
        "format": fmt,
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
    a = p.parse_args()
    print(json.dumps(asyncio.run(bench(a.lines, a.format, a.kafka, a.fsync))))


if __name__ == "__main__":
    main()
