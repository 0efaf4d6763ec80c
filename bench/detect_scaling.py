"""The streaming detector's scale-out on Kafka: 1, 2 and 4 `soc detect` processes, events/s.

    python bench/detect_scaling.py                       # Kafka 127.0.0.1:19092, OpenSearch :19200
    python bench/detect_scaling.py --processes 1 2 4 --events 40000 --partitions 12
    python bench/detect_scaling.py --rules ../shared/sigma/rules   # another rule set

For each count of processes, on topics and indices of its own (the rig of
tests/e2e/detectors.py: real `soc detect` processes, production settings, Kafka bus,
OpenSearch store): starts the detectors, waits until each has joined the consumer group
and the group has settled, publishes the recorded events (the first ``--events`` lines of
the LSASS campaign 01 and the bundled slice, spread over ``--hosts`` host names as a fleet
sends them, since one host's events share a partition), and times from the first publish
until the detectors' ``soc_events_processed_total`` add up to every event. Prints events/s
for each count, each process's share, and the ratio to one process; then one JSON line.
Needs Kafka and OpenSearch (deploy/local/services.sh); leaves the run's topics and indices
(named ``bench-scale-*``) behind, as the e2e tests do.

On a machine of 2 cores, 4 processes cannot beat 2: the figure shows what the consumer
group's split costs, and the scale-out needs cores (or machines) to pay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
import uuid
from contextlib import aclosing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the rig lives in tests/e2e

from tests.e2e.detectors import kafka_rig, processed  # noqa: E402

SHARED = ROOT.parent / "shared"


async def one_count(args: argparse.Namespace, count: int) -> dict[str, Any]:
    prefix = f"bench-scale-{count}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="soc-bench-scale-") as tmp:
        rigs = kafka_rig(
            kafka=args.kafka,
            opensearch=args.opensearch,
            prefix=prefix,
            shared_dir=SHARED,
            tmp=Path(tmp),
            extra_events=args.events,
            partitions=args.partitions,
        )
        async with aclosing(rigs):  # its clients closed, its processes ended, on return
            async for rig in rigs:
                rig.events = [
                    e.model_copy(update={"host": f"ws{i % args.hosts:02d}"})
                    for i, e in enumerate(rig.events)
                ]
                if args.rules:
                    rig.env["SOC_DETECT__RULES"] = json.dumps([str(p) for p in args.rules])
                started = [rig.start_detector() for _ in range(count)]
                ports = [port for _, port in started]
                deadline = time.monotonic() + args.start_timeout
                marker = '"msg": "stage started", "stage": "detect"'
                while (
                    min(processed(p) for p in ports) < 0
                    or rig.log.read_text().count(marker) < count
                ):
                    rig.check_running(deadline)
                    await asyncio.sleep(0.2)
                await asyncio.sleep(args.settle)  # the group's rebalances settle
                n = len(rig.events)
                began = time.perf_counter()
                await rig.publish_events()
                published = time.perf_counter() - began
                deadline = time.monotonic() + args.timeout
                while sum(processed(p) for p in ports) < n:
                    rig.check_running(deadline)
                    await asyncio.sleep(0.05)
                seconds = time.perf_counter() - began
                shares = [int(processed(p)) for p in ports]
                for proc, _ in started:
                    proc.send_signal(signal.SIGTERM)
                for proc, _ in started:
                    proc.wait(timeout=60)
                return {
                    "processes": count,
                    "events": n,
                    "seconds": round(seconds, 2),
                    "publish_s": round(published, 2),
                    "events_per_s": round(n / seconds),
                    "shares": shares,
                }
    raise AssertionError("the rig yielded nothing")


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for count in args.processes:
        result = await one_count(args, count)
        results.append(result)
        print(f"{count} x soc detect: {result['events']:,} events in {result['seconds']:.1f} s "
              f"= {result['events_per_s']:,} events/s (publish {result['publish_s']:.1f} s); "
              f"per process {result['shares']}", flush=True)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="127.0.0.1:19092")
    parser.add_argument("--opensearch", default="http://127.0.0.1:19200")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--events", type=int, default=20_000, help="campaign lines (+ slice)")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--hosts", type=int, default=48, help="host names the events spread on")
    parser.add_argument("--rules", type=Path, nargs="*", default=None)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds after all joined")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    if max(args.processes) > args.partitions:
        raise SystemExit("more processes than partitions: some would idle")
    results = asyncio.run(run(args))
    base = results[0]["events_per_s"]
    for r in results:
        r["ratio"] = round(r["events_per_s"] / base, 2)
    print("ratio to " + f"{results[0]['processes']} process: "
          + ", ".join(f"{r['processes']}: x{r['ratio']}" for r in results))  # fmt: skip
    print(json.dumps({"partitions": args.partitions, "runs": results}))


if __name__ == "__main__":
    main()
