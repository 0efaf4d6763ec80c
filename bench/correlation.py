"""Correlation and filter cost on one core: the Sigma snapshot alone, then with 50
correlation rules, then with 50 Sigma filters.

    python bench/correlation.py                      # snapshot + LSASS campaign, 1,000,000 keys
    python bench/correlation.py --keys 200000 --events 20000

Loads every rule of ../shared/sigma as bench/detect.py does, picks the 50 SigmaHQ
rules that fire most on the recorded events, and writes 50 correlation rules over them
(event_count, value_count, temporal, value_sum, value_avg in turn, grouped by host,
``generate: true`` so the base alerts are still made). Pinned to one CPU, it times the
detect path per event (``fastjson.loads`` -> ``normalize`` -> ``Engine.match`` ->
``make_alert``) with the snapshot alone, then the same plus each match turned into
correlation matches and fed to the evaluator in batches of 500 (the detector's batch),
alternating the two ``--rounds`` times and keeping each one's best (the machine is shared).
Then the snapshot with 50 Sigma filters, one on each of those rules (``condition: not
selection`` over a host name no event has, so every match is checked and none dropped:
the alerts must be the same), timed the same way against the snapshot alone.
Last, memory: ``--keys`` distinct group keys (one failure each from as many source
addresses) fed to an evaluator capped at ``detect.correlation.max_groups``, the memory
it holds (tracemalloc) printed at each quarter: flat once the cap is reached.
Human-readable lines, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from detect import RECEIVED, SNAPSHOT, load, recorded_lines, to_event

from soc.detect.correlation.catalog import Correlations
from soc.detect.correlation.evaluate import Evaluator
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.detect.rule import make_alert
from soc.detect.rules import load_rules
from soc.ingest.normalize import known_logsources
from soc.settings import CorrelationSettings, DetectSettings

BATCH = 500
SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("event_count", {"gte": 20}),
    ("value_count", {"field": "TargetImage", "gte": 3}),
    ("temporal", {}),
    ("value_sum", {"field": "ProcessId", "gt": 1_000_000}),
    ("value_avg", {"field": "ProcessId", "gt": 5000}),
]


def correlation_yaml(i: int, rule_ids: list[str]) -> str:
    kind, condition = SHAPES[i % len(SHAPES)]
    refs = rule_ids[i : i + 2] if kind == "temporal" else [rule_ids[i]]
    lines = [
        f"title: bench correlation {i} ({kind})",
        f"id: 00000000-0000-4000-8000-{i:012d}",
        "level: high",
        "correlation:",
        f"    type: {kind}",
        "    generate: true",
        "    rules:",
        *[f"        - {r}" for r in refs],
        "    group-by:",
        "        - Hostname",
        "    timespan: 10m",
    ]
    if condition:
        lines.append("    condition:")
        lines += [f"        {k}: {v}" for k, v in condition.items()]
    return "\n".join(lines) + "\n"


def filter_yaml(i: int, rule_id: str) -> str:
    return "\n".join(
        [
            f"title: bench filter {i}",
            f"id: 00000000-0000-4000-9000-{i:012d}",
            "logsource:",
            "    product: windows",
            "filter:",
            "    rules:",
            f"        - {rule_id}",
            "    selection:",
            f"        Hostname|startswith: 'no-such-host-{i}-'",
            "    condition: not selection",
            "",
        ]
    )


def run(lines: list[bytes], engine: Engine, catalog: Correlations | None) -> tuple[float, int, int]:
    """Seconds for the detect path over ``lines``; base alerts and correlation alerts."""
    evaluator = Evaluator(catalog, CorrelationSettings()) if catalog else None
    alerts = correlated = 0
    started = time.perf_counter()
    batch: list[CorrelationMatch] = []
    for n, line in enumerate(lines, 1):
        event = to_event(line)
        rules = engine.match(event)
        for rule in rules:
            make_alert(rule, event)
            alerts += 1
        if evaluator is not None and catalog is not None:
            if rules:
                batch += catalog.matches_of_rules([r.id for r in rules], event)
            if n % BATCH == 0:
                correlated += len(evaluator.feed(batch))
                batch = []
    if evaluator is not None:
        correlated += len(evaluator.feed(batch)) + len(evaluator.finish())
    return time.perf_counter() - started, alerts, correlated


def memory(keys: int, cap: int) -> tuple[list[float], float, int]:
    """Memory the evaluator holds (tracemalloc, MiB) at each quarter of ``keys`` distinct
    group keys, capped at ``cap`` groups; the peak; the groups held at the end."""
    text = (
        "title: b\nid: 11111111-1111-4111-8111-111111111111\nname: fail\n"
        "logsource: {product: linux}\ndetection: {s: {a: b}, condition: s}\n---\n"
        "title: spray\nid: 22222222-2222-4222-8222-222222222222\n"
        "correlation: {type: event_count, rules: [fail], group-by: [src_ip], timespan: 1h, "
        "condition: {gte: 5}}\n"
    )
    from soc.detect.rules import load_rule_text

    catalog = Correlations(load_rule_text(text, name="mem.yml").correlations)
    tracemalloc.start()
    evaluator = Evaluator(catalog, CorrelationSettings(max_groups=cap, max_pending=cap))
    held = [0.0]
    rule_id = "11111111-1111-4111-8111-111111111111"
    batch = []
    for i in range(keys):
        batch += catalog.matches(
            rule_id,
            {"src_ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/{i >> 24}"},
            tenant="bench",
            time=RECEIVED + timedelta(milliseconds=i),
            alert_id=f"a{i}",
            event_ids=(f"e{i}",),
        )
        if len(batch) == BATCH:
            evaluator.feed(batch)
            batch = []
        if (i + 1) % (keys // 4) == 0:
            held.append(round(tracemalloc.get_traced_memory()[0] / 2**20, 1))
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert evaluator.groups <= cap
    return held, round(peak, 1), evaluator.groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="default: all of them")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--cap", type=int, default=CorrelationSettings().max_groups)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    pipelines = [str(p) for p in DetectSettings().pipelines]
    with tempfile.TemporaryDirectory(prefix="soc-bench-corr-") as tmp:
        _, _, ruleset = load(SNAPSHOT, Path(tmp) / "cache", pipelines)
        engine = Engine.from_ruleset(ruleset)
        lines = recorded_lines(args.events)
        fires: Counter[str] = Counter()
        for line in lines[:20000]:
            fires.update(r.id for r in engine.match(to_event(line)))
        top = [rule_id for rule_id, _ in fires.most_common(51)]
        while len(top) < 51:
            top += top[: 51 - len(top)]
        folder = Path(tmp) / "correlations"
        folder.mkdir()
        for i in range(50):
            (folder / f"mr_bench_{i:02d}.yml").write_text(correlation_yaml(i, top))
        both = load_rules([*SNAPSHOT, folder], cache_dir=Path(tmp) / "cache", pipelines=pipelines)
        tuned = Path(tmp) / "filters"
        tuned.mkdir()
        for i in range(50):
            (tuned / f"flt_bench_{i:02d}.yml").write_text(filter_yaml(i, top[i]))
        filtered = load_rules(
            [*SNAPSHOT, tuned], cache_dir=Path(tmp) / "cache", pipelines=pipelines
        )
    assert len(both.correlations) == 50, [e.reason for e in both.errors if "bench" in str(e.path)]
    assert len(filtered.filters) == 50, [
        e.reason for e in filtered.errors if "bench" in str(e.path)
    ]
    with_engine = Engine.from_ruleset(both)
    filter_engine = Engine.from_ruleset(filtered)
    catalog = Correlations(both.correlations)
    n = len(lines)
    print(f"rules: {len(ruleset.rules)} SigmaHQ rules; 50 correlations over the {len(fires)} "
          f"that fire on the first 20,000 events; {n} events; one core (CPU {cpu})")  # fmt: skip
    for each in (engine, with_engine, filter_engine):
        each.prepare(known_logsources())  # as the service does: routes built before timing
    run(lines[:2000], engine, None)
    run(lines[:2000], with_engine, catalog)
    alone_s = with_s = float("inf")
    for _ in range(args.rounds):  # alternated, best of each: the machine is shared
        seconds, alone_alerts, _ = run(lines, engine, None)
        alone_s = min(alone_s, seconds)
        seconds, with_alerts, correlated = run(lines, with_engine, catalog)
        with_s = min(with_s, seconds)
    assert with_alerts == alone_alerts
    slower = (with_s / alone_s - 1) * 100
    plain_s = filters_s = float("inf")
    run(lines[:2000], filter_engine, None)
    for _ in range(args.rounds):
        seconds, plain_alerts, _ = run(lines, engine, None)
        plain_s = min(plain_s, seconds)
        seconds, filter_alerts, _ = run(lines, filter_engine, None)
        filters_s = min(filters_s, seconds)
    assert filter_alerts == plain_alerts, (filter_alerts, plain_alerts)
    filters_slower = (filters_s / plain_s - 1) * 100
    print(f"snapshot alone: {n / alone_s:,.0f} events/s ({alone_alerts} alerts)")
    print(f"snapshot + 50 correlations: {n / with_s:,.0f} events/s "
          f"({correlated} correlation alerts); {slower:+.1f} % time")  # fmt: skip
    print(f"snapshot + 50 filters: {n / filters_s:,.0f} events/s against {n / plain_s:,.0f} "
          f"alone ({filter_alerts} alerts); {filters_slower:+.1f} % time")  # fmt: skip
    held, peak, groups = memory(args.keys, args.cap)
    half, _, _ = memory(args.keys // 2, args.cap)
    print(f"memory: {args.keys:,} distinct group keys, cap {args.cap:,} groups: held (MiB, "
          f"tracemalloc) at 0 and each quarter {held}, peak {peak} MiB, {groups:,} groups "
          f"at the end; with half the keys, at each quarter {half}")  # fmt: skip
    out = {
        "cpu": cpu,
        "events": n,
        "rules": len(ruleset.rules),
        "correlations": 50,
        "events_per_s_alone": round(n / alone_s),
        "events_per_s_with_correlations": round(n / with_s),
        "slower_percent": round(slower, 1),
        "correlation_alerts": correlated,
        "filters": 50,
        "events_per_s_with_filters": round(n / filters_s),
        "filters_slower_percent": round(filters_slower, 1),
        "keys": args.keys,
        "max_groups": args.cap,
        "held_mib_quarters": held,
        "peak_mib": peak,
        "held_mib_quarters_half_keys": half,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
