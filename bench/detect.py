"""Detection throughput on one core: JSON bytes in, alerts out, the whole Sigma snapshot loaded.

    python bench/detect.py                       # the snapshot, the LSASS campaign, one core
    python bench/detect.py --naive-events 0      # skip the naive evaluator
    python bench/detect.py --rules soc/detections/rules --events 10000
    python bench/detect.py --rules ../shared/sigma/rules ... my-filters/   # with Sigma filters

Loads every rule of ../shared/sigma (rules, rules-emerging-threats,
rules-threat-hunting, rules-placeholder: whatever compiles, with the
processing pipelines the detector applies by default) twice, cold (pySigma,
into an empty cache) and warm (from that cache). Reads the
recorded events from the dataset zip into memory as bytes lines (not timed),
then times, pinned to one CPU, what the detect path does per event:
``fastjson.loads`` -> ``normalize`` (as ingest does) -> ``Engine.match`` ->
``make_alert`` for each rule that fires. It runs the events in four quarters
and prints the process's RSS after each, to show memory does not grow with
events, then a second pass (routes and their indexes already built), then
the parts alone. Last, a naive evaluator (every rule's matcher on every
event: no routing, no index) on the first ``--naive-events`` events,
extrapolated.

The engine memoizes (soc/detect/memo.py): its first pass fills the memo, the second
pass hits it more. The memo's lookups and hits are printed.

Then `soc hunt` over the events written as one NDJSON file, with a fresh engine (its
memo empty, as `soc hunt` starts: the figure), then once more with that engine (its memo
filled, as a long-running detector's is), and RSigma over the same file
on the same CPU when an ``rsigma`` binary is found (``--rsigma PATH``, else on PATH, else
~/.cargo/bin; ``--no-rsigma`` skips it; bench/rsigma.py). Ours is ``soc.hunt.files.hunt``
over the file (reading, normalizing, matching, the match lines made), timed by CPU time; RSigma's is
``rsigma engine eval`` with bench/rsigma_windows.yml (the logsources as Channel/EventID
conditions) and ``--logsource-routing``, timed by the child's CPU time, marginal: its
run over one event (the rule loading) taken from its run over all. Prints both rates,
the ratio, and whether the (rule id, event) match sets are equal.
Human-readable lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import rsigma

from soc import fastjson
from soc.detect.engine import Engine
from soc.detect.rule import RuleSet, make_alert
from soc.detect.rules import load_rules
from soc.detect.scan import hyperscan_available
from soc.detect.view import EventView
from soc.hunt.files import HuntCorrelation, HuntMatch, hunt
from soc.ingest.normalize import known_logsources, normalize
from soc.models import Event
from soc.settings import DetectSettings

ROOT = Path(__file__).resolve().parents[1]
SIGMA = ROOT.parent / "shared/sigma"
SNAPSHOT = [SIGMA / d for d in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
SNAPSHOT.append(SIGMA / "rules-placeholder")
DATASET = ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01"
RECEIVED = datetime(2026, 1, 1, tzinfo=UTC)


def recorded_lines(limit: int | None) -> list[bytes]:
    """The dataset's NDJSON lines, as bytes, in memory."""
    path = next(DATASET.glob("*.zip"))
    lines: list[bytes] = []
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        for line in f:
            if line.strip():
                lines.append(line.rstrip(b"\r\n"))
            if limit is not None and len(lines) >= limit:
                break
    return lines


def rss_mib() -> float:
    """The process's resident set size now."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def to_event(line: bytes) -> Event:
    return normalize(fastjson.loads(line), tenant="bench", source="bench", received=RECEIVED)


def detect(lines: Sequence[bytes], match: Callable[[Event], list[Any]]) -> int:
    """The timed path: bytes -> event -> rules -> alerts; returns the alert count."""
    alerts = 0
    for line in lines:
        event = to_event(line)
        for rule in match(event):
            make_alert(rule, event)
            alerts += 1
    return alerts


def timed(f: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = f()
    return time.perf_counter() - started, result


def load(paths: list[Path], cache: Path, pipelines: list[str]) -> tuple[float, float, RuleSet]:
    cold, ruleset = timed(lambda: load_rules(paths, cache_dir=cache, pipelines=pipelines))
    warm, again = timed(lambda: load_rules(paths, cache_dir=cache, pipelines=pipelines))
    assert [r.id for r in again.rules] == [r.id for r in ruleset.rules], "cache changed the rules"
    return cold, warm, again


def parts(lines: Sequence[bytes], engine: Engine) -> tuple[float, float, float, int]:
    """Seconds for json+normalize alone, for Engine.match alone, for every routed rule
    without the index (the engine before it), and the matches."""
    parse_s, events = timed(lambda: [to_event(line) for line in lines])
    match_s, matched = timed(lambda: sum(len(engine.match(e)) for e in events))
    routed_s, routed = timed(lambda: sum(len(routed_match(engine, e)) for e in events))
    assert routed == matched, "the index changed the matches"
    return parse_s, match_s, routed_s, matched


def routed_match(engine: Engine, event: Event) -> list[Any]:
    view = EventView(event.fields)
    return [rule for rule in engine.rules_for(event.logsource) if rule.matches(view)]


def naive_matcher(engine: Engine) -> Callable[[Event], list[Any]]:
    rules = engine.rules

    def match(event: Event) -> list[Any]:
        view = EventView(event.fields)
        return [rule for rule in rules if rule.matches(view)]

    return match


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, nargs="+", default=SNAPSHOT)
    parser.add_argument(
        "--pipelines", nargs="*", default=[str(p) for p in DetectSettings().pipelines]
    )
    parser.add_argument("--events", type=int, default=None, help="default: all of them")
    parser.add_argument("--naive-events", type=int, default=2000)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: first)")
    parser.add_argument("--rsigma", default=None, help="the rsigma binary (default: found)")
    parser.add_argument("--no-rsigma", action="store_true", help="skip `soc hunt` vs RSigma")
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    out: dict[str, Any] = {"cpu": cpu, "scanner": "hyperscan" if hyperscan_available() else "aho"}
    out["pipelines"] = args.pipelines

    with tempfile.TemporaryDirectory(prefix="soc-bench-cache-") as cache:
        cold, warm, ruleset = load(args.rules, Path(cache), args.pipelines)
    engine = Engine.from_ruleset(ruleset)
    prepare_s, _ = timed(lambda: engine.prepare(known_logsources()))  # as the service does
    out |= {"rules_loaded": len(ruleset.rules), "rules_failed": len(ruleset.errors)}
    out |= {"filters_loaded": len(ruleset.filters)}
    out |= {"prepare_routes_s": round(prepare_s, 2)}
    out |= {"compile_cold_s": round(cold, 2), "compile_warm_s": round(warm, 2)}
    out |= {"rules_" + k: v for k, v in engine.index_stats().items()}
    print(f"rules: {len(ruleset.rules)} loaded, {len(ruleset.errors)} failed "
          f"({out['rules_indexed']} indexed, {out['rules_always']} always evaluated); "
          f"{len(ruleset.filters)} Sigma filters")  # fmt: skip
    print(f"compile: cold {cold:.2f} s (pySigma), warm {warm:.2f} s (cache); "
          f"routes and scanners prepared in {prepare_s:.2f} s")  # fmt: skip

    lines = recorded_lines(args.events)
    n = len(lines)
    rss_before = rss_mib()
    print(f"events: {n} in memory ({sum(map(len, lines)) / 2**20:.1f} MiB of JSON); "
          f"RSS {rss_before:.0f} MiB; one core (CPU {cpu}), scanner {out['scanner']}")  # fmt: skip

    quarters = [lines[i * n // 4 : (i + 1) * n // 4] for i in range(4)]
    total_s, alerts, rss = 0.0, 0, []
    for quarter in quarters:
        seconds, count = timed(partial(detect, quarter, engine.match))
        total_s, alerts = total_s + seconds, alerts + count
        rss.append(round(rss_mib(), 1))
    second_s, second_alerts = timed(lambda: detect(lines, engine.match))
    rss.append(round(rss_mib(), 1))
    assert second_alerts == alerts
    print(f"end to end: {n / total_s:,.0f} events/s ({total_s:.2f} s, {alerts} alerts); "
          f"second pass {n / second_s:,.0f} events/s")  # fmt: skip
    peak = peak_mib()
    print(f"RSS after each quarter and after the second pass (MiB): {rss}; peak {peak:.0f} MiB")

    parse_s, match_s, routed_s, matched = parts(lines, engine)
    print(f"parts: json+normalize {n / parse_s:,.0f} events/s; "
          f"Engine.match {n / match_s:,.0f} events/s ({matched} matches); "
          f"routed without the index {n / routed_s:,.0f} events/s")  # fmt: skip
    out |= {"events": n, "alerts": alerts, "events_per_s": round(n / total_s)}
    out |= {"events_per_s_second_pass": round(n / second_s), "seconds": round(total_s, 3)}
    out |= {"parse_normalize_per_s": round(n / parse_s), "match_per_s": round(n / match_s)}
    out |= {"routed_no_index_match_per_s": round(n / routed_s)}
    out |= {"rss_mib": rss, "peak_rss_mib": round(peak, 1)}

    if args.naive_events > 0:
        subset = lines[: args.naive_events]
        naive_s, naive_alerts = timed(lambda: detect(subset, naive_matcher(engine)))
        _, indexed_alerts = timed(lambda: detect(subset, engine.match))
        rate = len(subset) / naive_s
        print(f"naive (every rule on every event, first {len(subset)} events): "
              f"{rate:,.0f} events/s, {naive_alerts} alerts (the engine: {indexed_alerts}, "
              f"routing by logsource); all {n} would take ~{n / rate:,.0f} s")  # fmt: skip
        out |= {"naive_events": len(subset), "naive_events_per_s": round(rate, 1)}
        out |= {"naive_alerts": naive_alerts, "engine_alerts_same_events": indexed_alerts}
        out |= {"naive_extrapolated_s": round(n / rate, 1)}
    memo = engine.memo_stats()
    mib = memo["bytes"] / 2**20
    print(f"memo (engine.py, memo.py): {memo['hits']:,} of {memo['lookups']:,} lookups hit "
          f"over both passes; {memo['keys']:,} keys, {mib:.1f} MiB charged")  # fmt: skip
    out |= {"memo_" + k: v for k, v in memo.items()}
    binary = None if args.no_rsigma else rsigma.find(args.rsigma)

    def fresh() -> Engine:
        """A new engine, its memo empty, its routes prepared (as `soc hunt` starts)."""
        new = Engine.from_ruleset(ruleset)
        new.prepare(known_logsources())
        return new

    out |= against_rsigma(binary, args.rules, lines, fresh)
    print(json.dumps(out))


def hunt_file(path: Path, engine: Engine, lines: Sequence[bytes]) -> tuple[float, Counter[Any]]:
    """`soc hunt` over the file: CPU seconds, and its (rule id, event) matches."""
    found: list[HuntMatch] = []

    def keep(match: HuntMatch | HuntCorrelation) -> None:
        if isinstance(match, HuntMatch):
            match.model_dump_json()  # the line `soc hunt` prints
            found.append(match)

    started = time.process_time()
    hunt([path], engine=engine, on_match=keep)
    cpu = time.process_time() - started
    keys = Counter(
        (m.rule_id, rsigma.event_key(fastjson.loads(lines[m.position - 1]))) for m in found
    )
    return cpu, keys


def against_rsigma(
    binary: str | None,
    folders: Sequence[Path],
    lines: Sequence[bytes],
    fresh: Callable[[], Engine],
) -> dict[str, Any]:
    """`soc hunt` over the events file, one core, with a ``fresh()`` engine (its memo
    empty: the figure), then again with the same engine (its memo filled: what a detector
    that has run a while sees); and RSigma over it when ``binary`` is given: rates, ratio,
    matches."""
    n = len(lines)
    engine = fresh()
    with tempfile.TemporaryDirectory(prefix="soc-bench-rsigma-") as work:
        events = rsigma.write_events(lines, Path(work))
        ours_s, ours = hunt_file(events, engine, lines)
        ours_rate = n / ours_s
        memo = engine.memo_stats()
        again_s, again = hunt_file(events, engine, lines)
        assert again == ours
        print(f"soc hunt over the events file: {ours_rate:,.0f} events/s "
              f"(CPU time, {sum(ours.values())} matches; a fresh engine, its memo hit "
              f"{memo['hits'] / max(memo['lookups'], 1):.0%}); the same engine again: "
              f"{n / again_s:,.0f} events/s")  # fmt: skip
        found: dict[str, Any] = {"hunt_events_per_s_cpu": round(ours_rate)}
        found["hunt_events_per_s_cpu_again"] = round(n / again_s)
        found["hunt_memo_hit_ratio"] = round(memo["hits"] / max(memo["lookups"], 1), 3)
        found["hunt_matches"] = sum(ours.values())
        if binary is None:
            print("RSigma: not found (--rsigma PATH, or `cargo install rsigma`); skipped")
            return found
        rules = rsigma.rule_folder(folders, Path(work) / "rules")
        start = rsigma.run(binary, rules, rsigma.write_events(lines[:1], Path(work)), 1)
        full = rsigma.run(binary, rules, events, n)
    theirs_rate = (n - 1) / max(full.cpu_s - start.cpu_s, 1e-9)
    verdict = rsigma.compare(ours, full.matches)
    print(f"RSigma: {theirs_rate:,.0f} events/s marginal (start {start.cpu_s:.2f} s CPU, "
          f"{full.cpu_s:.2f} s CPU for all, {sum(full.matches.values())} matches); "
          f"RSigma / soc hunt = {theirs_rate / ours_rate:.2f}; matches {verdict}")  # fmt: skip
    return found | {
        "rsigma": binary,
        "rsigma_events_per_s_marginal": round(theirs_rate),
        "rsigma_start_cpu_s": round(start.cpu_s, 2),
        "rsigma_cpu_s": round(full.cpu_s, 2),
        "rsigma_matches": sum(full.matches.values()),
        "rsigma_over_hunt": round(theirs_rate / ours_rate, 2),
        "matches_equal": verdict == "equal",
    }


if __name__ == "__main__":
    main()
