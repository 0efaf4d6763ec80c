"""Indicator matching's cost on one core: the detector's engine with 100,000 live indicators
of mixed types against none, and the time to rebuild the matcher.

    python bench/intel.py                          # bundled rules, LSASS campaign 01
    python bench/intel.py --indicators 200000 --rounds 5
    python bench/intel.py --rules ../shared/sigma/rules   # a bigger rule set

Reads the recorded campaign into memory as bytes lines (bench/detect.py's loading, not
timed), builds seeded random indicators (40 % addresses, 10 % networks of /8 to /30, 20 %
domains, 10 % URLs, 20 % MD5/SHA-1/SHA-256 hashes, a few IPv6) plus a few dozen values
taken from the recorded events themselves (so hits and their alerts are in the figure),
then times, pinned to one CPU, the detector's per-event path three ways, in alternating
rounds (the best round of each kept, as the machine is shared):

- ``none``: ``fastjson.loads`` -> ``normalize`` -> ``Engine.match`` -> ``make_alert``
  (bench/detect.py's path);
- ``empty``: the same with an empty matcher (the detector skips it);
- ``loaded``: the same plus ``IndicatorMatcher.match`` and ``indicator_alert`` per hit.

And the same three on events already parsed (``Engine.match`` and the matcher only), where
the matcher's share is largest. Last, the build time of the matcher from the indicators
(what a rebuild costs after a change, store read excluded), best of three.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from detect import recorded_lines, to_event

from soc.detect.engine import Engine
from soc.detect.load import load_engine
from soc.detect.rule import make_alert
from soc.intel.alerts import indicator_alert
from soc.intel.event_values import ADDRESS, DOMAIN, HASH, event_values
from soc.intel.matcher import IndicatorMatcher
from soc.intel.models import Indicator, IndicatorType
from soc.models import Event
from soc.settings import DetectSettings

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TYPES = {ADDRESS: IndicatorType.ip, DOMAIN: IndicatorType.domain, HASH: IndicatorType.hash}
TLDS = ("com", "net", "org", "vn", "info", "xyz", "ru", "cn", "io", "top")


def _label(rng: random.Random) -> str:
    return "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(4, 12))
    )


def _public_v4(rng: random.Random) -> str:
    while True:
        first = rng.randint(1, 223)
        if first not in (10, 127, 169, 172, 192):
            return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _make(kind: IndicatorType, value: str, n: int) -> Indicator:
    source = "national-feed" if n % 3 else "sector-isac"
    return Indicator(
        id=Indicator.make_id(source, kind, value),
        type=kind,
        value=value,
        source=source,
        confidence=n % 101,
        valid_from=NOW - timedelta(days=30),
        valid_until=NOW + timedelta(days=30 + n % 60) if n % 2 else None,
    )


def indicators(count: int, seed: int = 15) -> list[Indicator]:
    """``count`` random indicators of mixed types."""
    rng = random.Random(seed)
    out: list[Indicator] = []
    for n in range(count):
        share = n % 10
        if share < 4:
            if n % 50 == 0:
                value = ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(8))
                value = "2001:db8:" + value.split(":", 2)[2]
            else:
                value = _public_v4(rng)
            out.append(_make(IndicatorType.ip, value, n))
        elif share == 4:
            prefix = rng.choice((8, 12, 16, 20, 22, 24, 24, 24, 28, 30))
            out.append(_make(IndicatorType.cidr, f"{_public_v4(rng)}/{prefix}", n))
        elif share < 7:
            name = f"{_label(rng)}.{_label(rng)}.{rng.choice(TLDS)}"
            out.append(_make(IndicatorType.domain, name, n))
        elif share == 7:
            url = f"http://{_label(rng)}.{rng.choice(TLDS)}/{_label(rng)}/{_label(rng)}.php"
            out.append(_make(IndicatorType.url, url, n))
        else:
            length = rng.choice((32, 40, 64))
            out.append(_make(IndicatorType.hash, f"{rng.getrandbits(length * 4):0{length}x}", n))
    return out


def planted(events: Sequence[Event], per_type: int = 10) -> list[Indicator]:
    """Rare values of the recorded events as indicators (addresses, domains, hashes seen in
    one event each, the way a real indicator hits): some hits, not a flood."""
    seen: dict[tuple[IndicatorType, str], int] = {}
    for event in events:
        found = event_values(event)
        values = {(TYPES[kind], text) for kind, _, _, text in found if kind in TYPES}
        for key in values:
            seen[key] = seen.get(key, 0) + 1
    out: list[Indicator] = []
    for kind in (IndicatorType.ip, IndicatorType.domain, IndicatorType.hash):
        rare = [v for (k, v), count in seen.items() if k is kind and count == 1]
        for n, value in enumerate(rare[:per_type]):
            out.append(_make(kind, value, n * 2))  # even n: no valid_until
    return out


def run_lines(lines: Sequence[bytes], engine: Engine, matcher: IndicatorMatcher | None) -> int:
    """The detector's per-event path from bytes; the alerts made."""
    alerts = 0
    now = NOW
    active = matcher if matcher is not None and not matcher.empty else None
    for line in lines:
        event = to_event(line)
        for rule in engine.match(event):
            make_alert(rule, event)
            alerts += 1
        if active is not None:
            for hit in active.match(event, now):
                indicator_alert(hit, event)
                alerts += 1
    return alerts


def run_events(events: Sequence[Event], engine: Engine, matcher: IndicatorMatcher | None) -> int:
    """Engine and matcher only, on parsed events; the matches."""
    found = 0
    now = NOW
    active = matcher if matcher is not None and not matcher.empty else None
    for event in events:
        found += len(engine.match(event))
        if active is not None:
            found += len(active.match(event, now))
    return found


def best(
    rounds: int, cases: dict[str, Callable[[], int]]
) -> tuple[dict[str, float], dict[str, int]]:
    """The best seconds of each case over ``rounds`` alternating rounds, and its count."""
    seconds = {name: float("inf") for name in cases}
    counts: dict[str, int] = {}
    for _ in range(rounds):
        for name, case in cases.items():
            started = time.perf_counter()
            counts[name] = case()
            seconds[name] = min(seconds[name], time.perf_counter() - started)
    return seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, nargs="*", default=None, help="default: bundled")
    parser.add_argument("--indicators", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=None, help="default: all of them")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: first)")
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    with tempfile.TemporaryDirectory(prefix="soc-bench-cache-") as cache:
        settings = DetectSettings(cache_dir=Path(cache))
        if args.rules:
            settings = settings.model_copy(update={"rules": args.rules})
        engine = load_engine(settings)
    lines = recorded_lines(args.events)
    events = [to_event(line) for line in lines]
    n = len(lines)

    random_ones = indicators(args.indicators - 30)
    loaded = random_ones + planted(events)
    build_s = min(_timed(lambda: IndicatorMatcher(loaded, now=NOW, generation=1)) for _ in range(3))
    matcher = IndicatorMatcher(loaded, now=NOW, generation=1)
    empty = IndicatorMatcher(now=NOW)
    kinds: dict[str, int] = {}
    for ind in loaded:
        kinds[ind.type.value] = kinds.get(ind.type.value, 0) + 1
    print(f"rules: {len(engine.rules)}; events: {n} (LSASS campaign 01); one core (CPU {cpu})")
    print(f"indicators: {len(loaded):,} live ({kinds}); matcher built in {build_s:.3f} s")

    out: dict[str, Any] = {"cpu": cpu, "rules": len(engine.rules), "events": n}
    out |= {"indicators": len(loaded), "kinds": kinds, "rebuild_s": round(build_s, 3)}
    for label, cases in (
        (
            "end to end (json+normalize+engine+matcher+alerts)",
            {
                "none": lambda: run_lines(lines, engine, None),
                "empty": lambda: run_lines(lines, engine, empty),
                "loaded": lambda: run_lines(lines, engine, matcher),
            },
        ),
        (
            "engine+matcher on parsed events",
            {
                "none": lambda: run_events(events, engine, None),
                "empty": lambda: run_events(events, engine, empty),
                "loaded": lambda: run_events(events, engine, matcher),
            },
        ),
    ):
        seconds, counts = best(args.rounds, cases)
        rates = {name: n / s for name, s in seconds.items()}
        cost = 1 - rates["loaded"] / rates["none"]
        print(f"{label}: none {rates['none']:,.0f} events/s ({counts['none']} alerts), "
              f"empty matcher {rates['empty']:,.0f}, {len(loaded):,} indicators "
              f"{rates['loaded']:,.0f} ({counts['loaded'] - counts['none']} indicator matches): "
              f"{cost:.1%} slower")  # fmt: skip
        key = "end_to_end" if label.startswith("end") else "parsed"
        out[key] = {name: round(rate) for name, rate in rates.items()}
        out[key]["slower"] = round(cost, 4)
        out[key]["indicator_matches"] = counts["loaded"] - counts["none"]
    print(json.dumps(out))


def _timed(f: Callable[[], object]) -> float:
    started = time.perf_counter()
    f()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
