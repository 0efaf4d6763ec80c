"""Running targets under atheris, one subprocess each, with limits; the results counted.

Each target runs in its own process (``tests.fuzz.worker``) for ``seconds`` with
libFuzzer's ``-rss_limit_mb`` (unbounded memory is a crash) and ``-timeout`` (a hang is a
crash); the process itself is killed if it outlives its time by ``GRACE_S``. New inputs
go to a working corpus (``.soc/fuzz/corpus/<target>``, kept between runs, not in git); the
seeds under tests/fuzz/corpus are read, never written. A crash's input is written to
``.soc/fuzz/crashes/<target>-crash-<sha1>`` (or ``timeout-``, ``oom-``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.targets import CORPUS, TARGETS, seeds

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".soc" / "fuzz"
GRACE_S = 120
"""Past its time, a worker is given this long (start, instrumenting imports) before it is
killed and reported as hung."""
MAX_LEN = {
    "evtx_reader": 1 << 17,
    "json_reader": 1 << 14,
    "rule_pack": 1 << 14,
    "s3_object": 1 << 14,
}
"""libFuzzer's -max_len by target (default ``DEFAULT_MAX_LEN``): big enough for the seeds
of formats that come whole (an EVTX file, a zip), small elsewhere, where a longer input
is only more lines of the same and slows every execution."""
DEFAULT_MAX_LEN = 4096
_STAT = re.compile(rb"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(rb"#(\d+)\s")


@dataclass
class Result:
    target: str
    executions: int = 0
    seconds: float = 0.0
    crashes: list[Path] = field(default_factory=list)
    exit_code: int | None = None
    output_tail: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.crashes) or self.exit_code not in (0, None)

    def line(self) -> str:
        state = "ok" if not self.failed else f"FAILED (exit {self.exit_code})"
        found = ", ".join(p.name for p in self.crashes)
        return (
            f"{self.target:<18} {self.executions:>9,} executions  {self.seconds:6.1f} s  "
            f"{len(self.crashes)} crashes  {state}" + (f"  [{found}]" if found else "")
        )


def libfuzzer_flags(
    seconds: float,
    *,
    rss_limit_mb: int,
    timeout_s: int,
    prefix: Path,
    max_len: int,
    seed: int | None = None,
    runs: int | None = None,
) -> list[str]:
    return [
        *([f"-seed={seed}"] if seed is not None else []),
        *([f"-runs={runs}"] if runs is not None else []),
        f"-max_total_time={max(1, round(seconds))}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-timeout={timeout_s}",
        "-print_final_stats=1",
        f"-artifact_prefix={prefix}",
        f"-max_len={max_len}",
    ]


def fresh_peak_rss(cmd: Sequence[str]) -> list[str]:
    """``cmd`` started one process further from this one, so that its peak memory starts
    at its own. Linux copies a forked child's memory counters from its parent and keeps
    them across ``exec``: a worker spawned straight from a pytest process that has grown
    to 2.4 GB over a whole ``make test`` reads 2.4 GB as its own ``ru_maxrss``, and
    libFuzzer's ``-rss_limit_mb`` reports that as an out-of-memory before any input has
    run. A small shell forks the worker afresh (the ``; exit`` keeps it from exec'ing)."""
    return ["/bin/sh", "-c", '"$@"; exit $?', "sh", *cmd]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_target(
    name: str,
    seconds: float,
    *,
    rss_limit_mb: int = 2048,
    timeout_s: int = 20,
    work: Path = WORK,
    corpus_dirs: Sequence[Path] | None = None,
    env: dict[str, str] | None = None,
    seed: int | None = None,
    runs: int | None = None,
) -> Result:
    """Fuzz ``name`` (or ``all``) for ``seconds``; its executions and crashes."""
    corpus = work / "corpus" / name
    crashes = work / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    prefix = crashes / f"{name}-"
    before = set(crashes.glob(f"{name}-*"))
    dirs = list(corpus_dirs) if corpus_dirs is not None else [CORPUS / name]
    cmd = [
        sys.executable,
        "-m",
        "tests.fuzz.worker",
        name,
        *libfuzzer_flags(
            seconds,
            rss_limit_mb=rss_limit_mb,
            timeout_s=timeout_s,
            prefix=prefix,
            max_len=max(MAX_LEN.values()) if name == "all" else MAX_LEN.get(name, DEFAULT_MAX_LEN),
            seed=seed,
            runs=runs,
        ),
        str(corpus),
        *(str(d) for d in dirs if d.is_dir()),
    ]
    started = time.monotonic()
    result = Result(name)
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(
            fresh_peak_rss(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or _env(),
            start_new_session=True,
        )
        try:
            result.exit_code = proc.wait(timeout=seconds + GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result.exit_code = -9
        out.seek(0)
        text = out.read()
    result.seconds = time.monotonic() - started
    stat = _STAT.search(text)
    progress = _PROGRESS.findall(text)
    result.executions = int(stat.group(1)) if stat else int(progress[-1]) if progress else 0
    result.crashes = sorted(set(crashes.glob(f"{name}-*")) - before)
    result.output_tail = text[-6000:].decode("utf-8", "replace")
    return result


def run_all_in_one(
    seconds: float,
    *,
    work: Path = WORK,
    rss_limit_mb: int = 2048,
    seed: int | None = None,
    runs: int | None = None,
) -> tuple[Result, dict[str, int]]:
    """Every target in one atheris process (``worker all``), seeded with every target's seeds
    (each behind its target's byte); the result and the executions per target. ``seed``
    fixes libFuzzer's random draw, so a run explores the same inputs in the same order;
    ``runs`` stops it after that many inputs (or ``seconds``, whichever comes first)."""
    mux = work / "mux-seeds"
    shutil.rmtree(mux, ignore_errors=True)
    mux.mkdir(parents=True)
    for i, name in enumerate(TARGETS):
        for n, path in enumerate(seeds(name)):
            (mux / f"{name}-{n}").write_bytes(bytes([i]) + path.read_bytes())
    counts_file = work / "mux-counts.json"
    counts_file.unlink(missing_ok=True)
    env = _env() | {"SOC_FUZZ_COUNTS": str(counts_file)}
    result = run_target(
        "all",
        seconds,
        work=work,
        corpus_dirs=[mux],
        env=env,
        rss_limit_mb=rss_limit_mb,
        seed=seed,
        runs=runs,
    )
    counts: dict[str, int] = {}
    if counts_file.exists():
        counts = json.loads(counts_file.read_text(encoding="utf-8"))
    return result, counts


def run_many(
    names: Iterable[str], seconds: float, *, jobs: int = 1, **kwargs: object
) -> list[Result]:
    """Each target for ``seconds``, ``jobs`` at a time; printed as each ends."""
    from concurrent.futures import ThreadPoolExecutor

    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_target, n, seconds, **kwargs) for n in names]  # type: ignore[arg-type]
        for f in futures:
            r = f.result()
            print(r.line(), flush=True)
            if r.failed:
                print(r.output_tail[-3000:], flush=True)
            results.append(r)
    return results
