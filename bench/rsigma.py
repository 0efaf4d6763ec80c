"""RSigma (the Rust Sigma engine, ``cargo install rsigma``) on bench/detect.py's rules and events.

    python bench/rsigma.py --write      # regenerate bench/rsigma_windows.yml from the map

RSigma evaluates every rule on every event unless a processing pipeline turns a rule's
logsource into conditions on the event; bench/rsigma_windows.yml does that the way
``soc.ingest.normalize.infer_logsource`` and ``Engine`` route (from
soc/ingest/windows_logsources.yml and the snapshot's logsources):

    service S              Channel is one of S's channels
    category C (Windows)   EventID is one of the ids the map gives C (registry_event: its
                           own and its children's); where a field decides (Sysmon 12),
                           EventType too. Numeric EventID only, no Channel: RSigma is
                           fast only so, and the recorded campaigns match the same.
    another product, or a category the map does not give
                           a field no event has: never matches, as the engine never
                           routes a Windows event to such a rule

``run`` times ``rsigma engine eval`` over the events (CPU time of the child, pinned to the
caller's CPU), once over all of them and once over one, so that the difference is the
marginal cost per event without the rule loading; ``matches`` reads its detections as
(rule id, event) pairs to compare with the engine's.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soc import fastjson  # noqa: E402

PIPELINE = Path(__file__).with_name("rsigma_windows.yml")
MAP = ROOT / "soc/ingest/windows_logsources.yml"
PARENTS = {"registry_event": ("registry_add", "registry_delete", "registry_set", "registry_rename")}
"""As soc.detect.engine.CATEGORY_PARENTS, the other way round."""
ABSENT = "soc_bench_no_such_field"


def rule_logsources(folders: Iterable[Path]) -> set[tuple[str | None, str | None, str | None]]:
    """(product, category, service) of every rule document under the folders."""
    found: set[tuple[str | None, str | None, str | None]] = set()
    for folder in folders:
        for path in sorted(folder.rglob("*.yml")):
            try:
                docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except yaml.YAMLError:
                continue
            for doc in docs:
                ls = doc.get("logsource") if isinstance(doc, dict) else None
                if isinstance(ls, dict):
                    found.add((ls.get("product"), ls.get("category"), ls.get("service")))
    return found


FIELD_NAMES: list[dict[str, Any]] = [
    {
        "id": "security_4688_process_creation",
        "type": "field_name_mapping",
        "mapping": {
            "Image": ["Image", "NewProcessName"],
            "ParentImage": ["ParentImage", "ParentProcessName"],
        },
        "rule_conditions": [
            {"type": "logsource", "product": "windows", "category": "process_creation"}
        ],
    },
    {
        "id": "nxlog_provider_name",
        "type": "field_name_mapping",
        "mapping": {"Provider_Name": ["Provider_Name", "SourceName"]},
        "rule_conditions": [{"type": "logsource", "product": "windows"}],
    },
]
"""The names soc/detections/pipelines/windows.yml maps that the recorded campaigns need:
Security 4688 names the process NewProcessName (and its parent ParentProcessName), and
NXLog names the provider SourceName. Without them RSigma misses the rules on those."""


def pipeline(folders: Iterable[Path]) -> dict[str, Any]:
    """The processing pipeline (pySigma's YAML shape, which RSigma reads)."""
    data = yaml.safe_load(MAP.read_text(encoding="utf-8"))
    channels: dict[str, list[str]] = {}
    for channel, service in data["channels"].items():
        channels.setdefault(service, []).append(channel)
    plain: dict[str, set[int]] = {}  # category -> event ids deciding it alone
    decided: dict[str, list[tuple[int, str, list[str]]]] = {}  # category -> (id, field, values)
    for ids in data["categories"].values():
        for event_id, rule in ids.items():
            if isinstance(rule, str):
                plain.setdefault(rule, set()).add(int(event_id))
                continue
            plain.setdefault(rule["default"], set()).add(int(event_id))
            by_category: dict[str, list[str]] = {}
            for value, category in rule["values"].items():
                by_category.setdefault(category, []).append(value)
            for category, values in by_category.items():
                decided.setdefault(category, []).append((int(event_id), rule["field"], values))
    for parent, children in PARENTS.items():
        for child in children:
            plain.setdefault(parent, set()).update(plain.get(child, set()))
            plain[parent].update(i for i, _, _ in decided.get(child, []))
    items: list[dict[str, Any]] = []

    def add(name: str, conditions: dict[str, Any], **logsource: str) -> None:
        items.append(
            {
                "id": name,
                "type": "add_condition",
                "conditions": conditions,
                "rule_conditions": [{"type": "logsource", **logsource}],
            }
        )

    logsources = rule_logsources(folders)
    for service in sorted({s for _, _, s in logsources if s}):
        if service in channels:
            add(f"service_{service}", {"Channel": sorted(channels[service])}, service=service)
    for category in sorted({c for p, c, _ in logsources if c and p in (None, "windows")}):
        if category in plain:
            add(f"category_{category}", {"EventID": sorted(plain[category])}, category=category)
        elif category in decided and len(decided[category]) == 1:
            ((event_id, field, values),) = decided[category]
            add(f"category_{category}", {"EventID": event_id, field: values}, category=category)
        else:
            add(f"category_{category}_unknown", {ABSENT: "x"}, category=category)
    for product in sorted({p for p, _, _ in logsources if p and p != "windows"}):
        add(f"product_{product}", {ABSENT: "x"}, product=product)
    items += FIELD_NAMES
    return {
        "name": "soc bench: Windows logsources as Channel/EventID conditions",
        "priority": 10,
        "transformations": items,
    }


def pipeline_text(folders: Iterable[Path]) -> str:
    head = "# Generated by `python bench/rsigma.py --write`; see bench/rsigma.py.\n"
    return head + yaml.safe_dump(pipeline(folders), sort_keys=False, width=100)


@dataclass(frozen=True)
class Run:
    events: int
    cpu_s: float
    wall_s: float
    matches: Counter[tuple[str, str]]


def find(explicit: str | None) -> str | None:
    """The rsigma binary: ``explicit``, else on PATH, else ~/.cargo/bin/rsigma."""
    if explicit:
        return explicit
    found = shutil.which("rsigma")
    cargo = Path.home() / ".cargo/bin/rsigma"
    return found or (str(cargo) if cargo.exists() else None)


def rule_folder(folders: Sequence[Path], into: Path) -> Path:
    """One folder holding copies of the rule folders (RSigma takes one path)."""
    for folder in folders:
        shutil.copytree(folder, into / folder.name)
    return into


def write_events(lines: Sequence[bytes], into: Path) -> Path:
    """The lines as an NDJSON file, which RSigma and `soc hunt` both read."""
    path = into / f"events-{len(lines)}.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(binary: str, rules: Path, events: Path, count: int) -> Run:
    """``rsigma engine eval`` over the events file; CPU time, wall time and detections."""
    out = events.with_suffix(".detections")
    command = [binary, "engine", "eval", "-r", str(rules), "-p", str(PIPELINE)]
    command += ["--logsource-routing", "--include-event", "-e", f"@{events}", "-o", str(out)]
    cpu, started = cpu_of_children(), time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True)
    wall, cpu = time.perf_counter() - started, cpu_of_children() - cpu
    if done.returncode not in (0, 1):  # 1: detections found, with --fail-on-detection only
        raise RuntimeError(f"rsigma failed ({done.returncode}): {done.stderr[-2000:]!r}")
    return Run(count, cpu, wall, detections(out))


def event_key(record: Any) -> str:
    """An event's identity for comparing matches: its canonical JSON."""
    return fastjson.canonical(record)


def detections(path: Path) -> Counter[tuple[str, str]]:
    """(rule id, event key) of each detection RSigma wrote (correlations left out)."""
    found: Counter[tuple[str, str]] = Counter()
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        result = fastjson.loads(line)
        if "correlation_type" in result or result.get("event") is None:
            continue
        found[(str(result.get("rule_id")), event_key(result["event"]))] += 1
    return found


def compare(ours: Counter[tuple[str, str]], theirs: Counter[tuple[str, str]]) -> str:
    """ "equal", or what each side has that the other does not (by rule id)."""
    if ours == theirs:
        return "equal"
    only_ours = Counter({k: v for k, v in (ours - theirs).items()})
    only_theirs = Counter({k: v for k, v in (theirs - ours).items()})

    def by_rule(c: Counter[tuple[str, str]]) -> str:
        rules = Counter(rule for (rule, _), n in c.items() for _ in range(n))
        return ", ".join(f"{r} x{n}" for r, n in rules.most_common(8)) or "-"

    return (
        f"differ: {sum(only_ours.values())} only ours ({by_rule(only_ours)}); "
        f"{sum(only_theirs.values())} only RSigma's ({by_rule(only_theirs)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate the pipeline")
    parser.add_argument("--rules", type=Path, nargs="+", default=None)
    args = parser.parse_args()
    from detect import SNAPSHOT  # the bench's own rule folders

    text = pipeline_text(args.rules or SNAPSHOT)
    if args.write:
        PIPELINE.write_text(text, encoding="utf-8")
        print(f"wrote {PIPELINE}")
    else:
        same = PIPELINE.exists() and PIPELINE.read_text(encoding="utf-8") == text
        print(f"{PIPELINE}: {'up to date' if same else 'stale: run with --write'}")


if __name__ == "__main__":
    main()
