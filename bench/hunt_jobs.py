"""`soc hunt` over one recorded campaign with --jobs 1 and --jobs 2 (and more): events/s.

    python bench/hunt_jobs.py                          # the whole Sigma snapshot, campaign 01
    python bench/hunt_jobs.py --jobs 1 2 4 --rules soc/detections/rules
    python bench/hunt_jobs.py --input ../shared/datasets/otrf/LSASS_campaign_06/*.zip

Runs the real command (``python -m soc.cli hunt``, stdout to a file) over the same input
once per --jobs value, after one warm-up run (over no record) that fills the compiled-rule
cache (so no run pays pySigma). Prints, for each, the wall time of the whole command
(rules loaded from the cache, workers started, every record matched), the hunt's own
seconds and events/s from its summary line, the CPU-seconds of the command and its
workers, and the ratio to --jobs 1; and checks that every run's output is byte-identical
to the first's. Human-readable lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIGMA = ROOT.parent / "shared/sigma"
SNAPSHOT = [SIGMA / d for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
SNAPSHOT.append(SIGMA / "rules-placeholder")
DATASET = ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01"
SUMMARY = re.compile(r"soc hunt: ([\d,]+) events from .*; ([\d,]+) matches; .*?([\d.]+) s \(")


def run(args: list[str], env: dict[str, str], out: Path) -> tuple[float, str, float]:
    """Wall seconds, stderr and CPU seconds (its workers' included) of one `soc hunt`, its
    stdout in ``out``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with out.open("wb") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "soc.cli", "hunt", *args],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            check=False,
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode not in (0, 1):  # 1: a rule of the snapshot does not compile
        raise SystemExit(f"soc hunt failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done.stderr, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, nargs="+", default=SNAPSHOT)
    parser.add_argument("--input", type=Path, nargs="+", default=sorted(DATASET.glob("*.zip")))
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a new one")
    args = parser.parse_args()
    rule_args = [a for path in args.rules for a in ("--rules", str(path))]
    inputs = [str(p) for p in args.input]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="soc-bench-hunt-") as tmp:
        cache = args.cache_dir or Path(tmp) / "cache"
        env = {**os.environ, "SOC_DETECT__CACHE_DIR": str(cache)}
        env["PYTHONPATH"] = str(ROOT)
        empty = Path(tmp) / "empty.jsonl"
        empty.touch()
        warm, _, _ = run([*rule_args, "--jobs", "1", str(empty)], env, Path(tmp) / "warm.jsonl")
        print(f"warm-up (compiles the rules into the cache): {warm:.1f} s; {os.cpu_count()} cores")
        digests: list[str] = []
        for jobs in args.jobs:
            out = Path(tmp) / f"jobs{jobs}.jsonl"
            wall, stderr, cpu = run([*rule_args, "--jobs", str(jobs), *inputs], env, out)
            found = SUMMARY.search(stderr)
            assert found, stderr[-2000:]
            events = int(found.group(1).replace(",", ""))
            matches = int(found.group(2).replace(",", ""))
            seconds = float(found.group(3))
            digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
            results.append(
                {
                    "jobs": jobs,
                    "events": events,
                    "matches": matches,
                    "hunt_s": seconds,
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "events_per_s": round(events / seconds),
                    "wall_events_per_s": round(events / wall),
                    "identical": digests[-1] == digests[0],
                }
            )
    base = results[0]
    for r in results:
        r["ratio"] = round(r["events_per_s"] / base["events_per_s"], 2)
        r["wall_ratio"] = round(base["wall_s"] / r["wall_s"], 2)
        print(f"--jobs {r['jobs']}: {r['events']:,} events, {r['matches']:,} matches; hunt "
              f"{r['hunt_s']:.1f} s = {r['events_per_s']:,} events/s (x{r['ratio']}); "
              f"whole command {r['wall_s']:.1f} s = {r['wall_events_per_s']:,} events/s "
              f"(x{r['wall_ratio']}), {r['cpu_s']:.1f} CPU-s; "
              f"output identical to --jobs {base['jobs']}: {r['identical']}")  # fmt: skip
    print(json.dumps({"inputs": inputs, "runs": results}))
    if not all(r["identical"] for r in results):
        raise SystemExit("the outputs differ")


if __name__ == "__main__":
    main()
