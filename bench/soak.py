"""Sustained load on the production path (issue 16, item 1), and the figures it gives.

    python bench/soak.py --rate 300 --minutes 30           # what `make soak` runs
    python bench/soak.py --rate 300 --minutes 3            # a short look
    python bench/soak.py --find-rate 100,200,300,400 --minutes 2   # steps up; the best rate
    python bench/soak.py --rate 300 --minutes 5 --profile detect1  # py-spy on one process

Real processes on the local Kafka and OpenSearch (``make services-up``):
`soc api` (HTTP API and the Kafka ingest bridge), ``--detectors`` `soc detect`
(detection, the event sink storing every event on OpenSearch, the grouping stage
making incidents), `soc correlate`, and four `soc-connector` agents tailing files:
the two recorded OTRF Windows campaigns (one over HTTP, one over Kafka), the Linux
auth.log (HTTP) and the Apache access log (Kafka). The harness appends the
recorded lines to those files at ``--rate`` events/s (Windows 70 %, auth 15 %,
access 15 %), each re-stamped with the current time (bench/soak/pools.py); every
line becomes one event with an id of its own (connector, file stream, line
number), so the ledger counts exactly. It sends nothing off this machine.

Printed and saved (``--out``, default bench/results/soak-<time>/: figures.json,
samples.json, plot.svg): events/s sent and stored; p50/p95/p99 from the moment
a probe line is written to its alert visible in GET /api/v1/alerts and to its
event searchable in GET /api/v1/events; consumer lag over time per group and
the connectors' spools; CPU and memory per process over time; the loss ledger
(sent, stored, lost, duplicated) from the store itself. "Bounded lag": the
pipeline drained within 15 s of the feed's end and the lag of the last third of
the run is not above the middle third's by more than half plus five seconds of
events (the event sink commits every 5 s: its lag is a saw-tooth of that much).
The goal: p99 ingest-to-alert under 2 s with bounded lag and nothing lost.

``--find-rate`` runs the listed rates in turn on one stack (``--minutes`` each)
and prints the highest that met the goal. ``--profile NAME`` records the named
process (api, detect1, correlate, win-http, ...) with py-spy for 60 s in the
middle of the run (``pip install py-spy``) into the results folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.soak import drive, start_stack  # noqa: E402
from bench.soak.report import save, summary  # noqa: E402
from bench.soak.stack import Stack, StackConfig  # noqa: E402


def _args() -> argparse.Namespace:
    kafka = os.environ.get(
        "SOC_TEST_KAFKA", f"127.0.0.1:{os.environ.get('SOC_LOCAL_KAFKA_PORT', '19092')}"
    )
    opensearch = os.environ.get(
        "SOC_TEST_OPENSEARCH",
        f"http://127.0.0.1:{os.environ.get('SOC_LOCAL_OPENSEARCH_PORT', '19200')}",
    )
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, default=300.0, help="events/s (default 300)")
    p.add_argument("--minutes", type=float, default=30.0, help="length of the load (default 30)")
    p.add_argument("--find-rate", help="comma-separated rates to step through, e.g. 100,200,400")
    p.add_argument("--detectors", type=int, default=2)
    p.add_argument("--kafka", default=kafka)
    p.add_argument("--opensearch", default=opensearch)
    p.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--probe-every", type=float, default=1.0, help="seconds between probes")
    p.add_argument("--profile", help="a process to record with py-spy (api, detect1, ...)")
    p.add_argument("--out", type=Path, help="results folder (default bench/results/soak-<time>)")
    p.add_argument("--keep", action="store_true", help="keep the topics and indices")
    return p.parse_args()


async def _profile(stack: Stack, name: str, delay: float, out: Path) -> None:
    """py-spy record of one process for 60 s, ``delay`` seconds into the run."""
    exe = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if exe is None:
        print("# --profile: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return
    await asyncio.sleep(delay)
    pid = stack.pids().get(name)
    if pid is None:
        print(f"# --profile: no process {name!r}: {sorted(stack.pids())}", file=sys.stderr)
        return
    for fmt, suffix in (("speedscope", "json"), ("raw", "txt")):
        proc = await asyncio.create_subprocess_exec(
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            "30",
            "--rate",
            "50",
            "--format",
            fmt,
            "--output",
            str(out / f"profile-{name}.{suffix}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await proc.wait()


IDLE_LEAVES = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py",
    "wait (threading.py",
)
"""Leaf frames of a thread waiting (the event loop's poll, an idle executor thread)."""


def top_frames(raw: Path, n: int = 15) -> list[str]:
    """The functions most often on top of the stack in a py-spy raw (collapsed) profile,
    as shares of the samples where the process was not waiting (and that share first)."""
    counts: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = busy = 0
    for line in raw.read_text().splitlines():
        stack, _, k = line.rpartition(" ")
        if not k.isdigit():
            continue
        total += int(k)
        leaf = stack.split(";")[-1]
        if any(idle in leaf for idle in IDLE_LEAVES):
            continue
        busy += int(k)
        counts[leaf] = counts.get(leaf, 0) + int(k)
        for frame in set(stack.split(";")):
            if "(soc/" in frame or "(connectors/" in frame:
                inclusive[frame] = inclusive.get(frame, 0) + int(k)
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    ours = sorted(inclusive.items(), key=lambda kv: -kv[1])[: 2 * n]
    head = (
        f"running (or ready to run) in {100 * busy / max(total, 1):.0f}% of the samples, "
        "the rest waiting on I/O; of those, on top of the stack:"
    )
    return (
        [head]
        + [f"{100 * v / max(busy, 1):5.1f}%  {k}" for k, v in top]
        + ["the project's functions, with what they call:"]
        + [f"{100 * v / max(busy, 1):5.1f}%  {k}" for k, v in ours]
    )


async def main() -> None:
    args = _args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "bench/results" / f"soak-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    rates = [float(r) for r in args.find_rate.split(",")] if args.find_rate else [float(args.rate)]
    seconds = args.minutes * 60
    cfg = StackConfig(
        kafka=args.kafka,
        opensearch=args.opensearch,
        detectors=args.detectors,
        workdir=out / "work",
        keep=args.keep,
    )
    stop = asyncio.Event()  # SIGINT or SIGTERM: end the feed now, then drain, count, stop
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(f"# starting the stack ({args.detectors} detectors); results in {out}", flush=True)
    results: list[dict[str, Any]] = []
    async with start_stack(cfg) as stack:
        print(f"# ready: prefix {stack.prefix}, api {stack.api_url}", flush=True)
        for rate in rates:
            folder = out if len(rates) == 1 else out / f"rate-{rate:g}"
            folder.mkdir(parents=True, exist_ok=True)
            prof = (
                asyncio.create_task(_profile(stack, args.profile, seconds / 2 - 15, folder))
                if args.profile
                else None
            )
            print(f"# feeding {rate:g} events/s for {seconds:g} s", flush=True)
            result = await drive(
                stack,
                rate=rate,
                seconds=seconds,
                probe_every=args.probe_every,
                sample_every=args.sample_every,
                progress=True,
                stop=stop,
            )
            if prof is not None:
                await prof
            extra: dict[str, Any] = {"detectors": args.detectors, "prefix": stack.prefix}
            raw = folder / f"profile-{args.profile}.txt"
            if args.profile and raw.exists():
                extra["profile"] = {"process": args.profile, "top": top_frames(raw)}
            figs = save(result, folder, extra)
            results.append(figs)
            print(summary(figs), flush=True)
            if "profile" in extra:
                print(f"profile of {args.profile} (share of samples on top of the stack):")
                print("\n".join(f"  {line}" for line in extra["profile"]["top"]))
            print(f"# saved {folder}/figures.json, plot.svg", flush=True)
            if stop.is_set():
                break
    if len(rates) > 1:
        met = [f["rate"] for f in results if f["goal_met"]]
        best = max(met) if met else None
        (out / "find-rate.json").write_text(
            json.dumps({"rates": results, "best": best}, indent=2) + "\n"
        )
        print(f"# highest rate meeting the goal: {best if best is not None else 'none'}")


if __name__ == "__main__":
    asyncio.run(main())
