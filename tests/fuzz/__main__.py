"""``python -m tests.fuzz run [--target T ...] [--seconds S] [--jobs J]``: fuzz the targets
under atheris, one subprocess each, and print per target the executions run and the
crashes found (their inputs under .soc/fuzz/crashes). Exit status 1 when any crashed.

``python -m tests.fuzz list`` names the targets; ``python -m tests.fuzz replay`` runs
every seed (and every regression input) through its target in this process.
"""

from __future__ import annotations

import argparse
import os
import sys

from tests.fuzz.runner import run_all_in_one, run_many
from tests.fuzz.targets import TARGETS, seeds, target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="fuzz the targets under atheris")
    run.add_argument("--target", action="append", choices=TARGETS, help="(repeatable) default: all")
    run.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("FUZZ_SECONDS", "60")),
        help="per target (default: $FUZZ_SECONDS or 60)",
    )
    run.add_argument("--jobs", type=int, default=1, help="targets run at once (default 1)")
    run.add_argument("--rss-limit-mb", type=int, default=2048)
    run.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    run.add_argument(
        "--all-in-one",
        action="store_true",
        help="every target in one process for --seconds in all (a brief run)",
    )
    sub.add_parser("list", help="name the targets")
    sub.add_parser("replay", help="run every seed through its target, in this process")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(TARGETS))
        return 0
    if args.command == "replay":
        return replay()
    if args.all_in_one:
        result, counts = run_all_in_one(args.seconds, rss_limit_mb=args.rss_limit_mb)
        for name in TARGETS:
            print(f"{name:<18} {counts.get(name, 0):>9,} executions")
        print(result.line())
        if result.failed:
            print(result.output_tail)
        return 1 if result.failed else 0
    results = run_many(
        args.target or TARGETS,
        args.seconds,
        jobs=args.jobs,
        rss_limit_mb=args.rss_limit_mb,
        timeout_s=args.timeout,
    )
    total = sum(r.executions for r in results)
    crashed = [r.target for r in results if r.failed]
    print(f"{len(results)} targets, {total:,} executions, crashed: {', '.join(crashed) or 'none'}")
    return 1 if crashed else 0


def replay() -> int:
    failed = 0
    for name in TARGETS:
        fuzz_one = target(name)
        for seed in seeds(name):
            try:
                fuzz_one(seed.read_bytes())
            except Exception as e:
                failed += 1
                print(f"{name}: {seed.name}: {type(e).__name__}: {e}")
        print(f"{name:<18} {len(seeds(name))} seeds")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
