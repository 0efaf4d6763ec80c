"""Alert-queue latency: the queries the analysts' queue issues, on a million stored alerts.

    python bench/alert_queue.py                                # both stores, 1,000,000 alerts
    python bench/alert_queue.py --backend sqlite --alerts 20000
    python bench/alert_queue.py --backend opensearch --keep    # leave the indices for a look

Loads ``--alerts`` alerts into each store through its real write path
(``Store.put_alerts``, ``--batch`` at a time, the next batch made while the
store writes the last), then times ``Store.search_alerts`` for each shape of
query the queue issues: first page of one tenant, severity, status and host
filters, a word search, page 20 through ``next_cursor``, and the lead's view
of every tenant. Each shape runs ``--warmup`` times, then ``--runs`` times
timed; variants (hosts, words) take turns. Prints p50, p99 and mean in ms per
shape and store, the load rate, the size on disk, then one JSON line.

The alerts are seeded random, so both stores hold the same ones: 8 agencies
(one holds 40%), ~30 days of event time arriving roughly in order, rules
drawn from a seeded sample of the pinned SigmaHQ snapshot (id, title, level,
tags, author, logsource as written) with a few noisy rules raising most
alerts and low levels firing more than high ones, older alerts mostly closed.
Hosts come from the recorded datasets: they name two machines (the LSASS
campaign's Windows host, the auth log's Linux host), so the pool adds the
client addresses of the recorded Apache log, split among the agencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import httpx
import yaml

from soc.errors import StoreError
from soc.models import Alert, AlertQuery, AlertStatus, LogSource, Severity, digest
from soc.settings import OpenSearchSettings, SqliteSettings, StoreSettings
from soc.store import Store, build_store
from soc.store.opensearch.schema import templates

ROOT = Path(__file__).resolve().parents[1]
SIGMA = ROOT.parent / "shared/sigma/rules"
DATASETS = ROOT.parent / "shared/datasets"
END = datetime(2026, 1, 15, tzinfo=UTC)
"""The newest event time; the month before it spans two monthly indices."""
DAYS = 30
RECENT = timedelta(days=3)
"""Alerts younger than this are mostly still open."""
TENANTS = {
    "city-it": 40,
    "police": 15,
    "transport": 12,
    "water": 10,
    "health": 9,
    "education": 7,
    "parks": 4,
    "library": 3,
}
"""Agency -> share of the alerts (%)."""
LEVEL_RATE = {
    Severity.informational: 8.0,
    Severity.low: 6.0,
    Severity.medium: 3.0,
    Severity.high: 1.0,
    Severity.critical: 0.1,
}
"""How much more often a rule of each level fires than a high one."""
STATUS_RECENT = {AlertStatus.open: 60, AlertStatus.acknowledged: 25, AlertStatus.closed: 15}
STATUS_OLD = {AlertStatus.open: 5, AlertStatus.acknowledged: 10, AlertStatus.closed: 85}
SOURCE = {"windows": "winlog", "linux": "syslog"}
PAGE = 50
DEEP_PAGE = 20
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_HOSTNAME = re.compile(rb'"Hostname":"([^"]+)"')


@dataclass(frozen=True)
class SigmaRule:
    """What an alert carries of its rule, as the rule's YAML gives it."""

    id: str
    title: str
    level: Severity
    tags: list[str]
    version: str | None
    author: str | None
    logsource: LogSource


def sigma_rules(count: int, rng: random.Random) -> list[SigmaRule]:
    """A seeded sample of the snapshot's rules that have an id, a title and a level."""
    paths = sorted(SIGMA.rglob("*.yml"))
    rng.shuffle(paths)
    rules: list[SigmaRule] = []
    for path in paths:
        d = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        if not (isinstance(d, dict) and d.get("id") and d.get("title")):
            continue
        if d.get("level") not in Severity.__members__:
            continue
        ls = d.get("logsource") or {}
        version = d.get("modified") or d.get("date")
        rules.append(
            SigmaRule(
                id=str(d["id"]),
                title=str(d["title"]),
                level=Severity(d["level"]),
                tags=[str(t) for t in d.get("tags") or []],
                version=str(version) if version else None,
                author=str(d["author"]) if d.get("author") else None,
                logsource=LogSource(
                    product=ls.get("product"),
                    category=ls.get("category"),
                    service=ls.get("service"),
                ),
            )
        )
        if len(rules) == count:
            break
    return rules


def recorded_hosts() -> list[str]:
    """Machines the recorded datasets name, then the recorded Apache log's client addresses."""
    hosts: dict[str, None] = {}
    lsass = next((DATASETS / "otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(lsass) as z, z.open(z.namelist()[0]) as f:
        for line in f:
            if m := _HOSTNAME.search(line):
                hosts[m.group(1).decode()] = None
    with open(DATASETS / "linux/auth.log", encoding="utf-8") as f:
        hosts.update(dict.fromkeys(line.split()[3] for line in f if line.strip()))
    with open(DATASETS / "web/apache_access.log", encoding="utf-8") as f:
        hosts.update(dict.fromkeys(line.split(" ", 1)[0] for line in f if line.strip()))
    return list(hosts)


def zipf(n: int, s: float = 1.0) -> list[float]:
    """Cumulative weights of ``n`` items where the k-th is ``1 / k**s`` as likely as the first."""
    return list(accumulate(1 / (k + 1) ** s for k in range(n)))


@dataclass
class Corpus:
    """The seeded stream of alerts; made again with the same seed, it yields the same alerts."""

    total: int
    seed: int
    rules: list[SigmaRule]
    hosts: list[str]
    severities: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tenants = list(TENANTS)
        self.tenant_cw = list(accumulate(TENANTS.values()))
        order = list(range(len(self.rules)))
        random.Random(self.seed + 1).shuffle(order)  # which rules are the noisy ones
        rates = [0.0] * len(self.rules)
        for rank, i in enumerate(order):
            rates[i] = LEVEL_RATE[self.rules[i].level] / (rank + 1) ** 0.9
        self.rule_rate = [r / sum(rates) for r in rates]
        self.rule_cw = list(accumulate(rates))
        self.tenant_hosts: dict[str, list[str]] = {}
        start = 0
        for name, share in TENANTS.items():  # a slice of the pool per agency, by its share
            n = max(1, len(self.hosts) * share // 100)
            self.tenant_hosts[name] = self.hosts[start : start + n] or self.hosts[-1:]
            start += n
        self.host_cw = {t: zipf(len(h), 1.1) for t, h in self.tenant_hosts.items()}

    def batch(self, start: int, n: int) -> list[Alert]:
        rng, span = self.rng, timedelta(days=DAYS)
        tenants = rng.choices(self.tenants, cum_weights=self.tenant_cw, k=n)
        rules = rng.choices(self.rules, cum_weights=self.rule_cw, k=n)
        alerts = []
        for i, tenant, rule in zip(range(start, start + n), tenants, rules, strict=True):
            hosts = self.tenant_hosts[tenant]
            host = rng.choices(hosts, cum_weights=self.host_cw[tenant])[0]
            late = timedelta(seconds=rng.expovariate(1 / 60))  # events arrive nearly in order
            t = END - span + span * ((i + rng.random()) / self.total) - late
            weights = STATUS_RECENT if END - t < RECENT else STATUS_OLD
            status = rng.choices(list(weights), weights=list(weights.values()))[0]
            event_id = digest("bench-alert-queue", tenant, str(i))
            alerts.append(
                Alert(
                    id=Alert.make_id(rule_id=rule.id, event_id=event_id),
                    tenant=tenant,
                    rule_id=rule.id,
                    rule_title=rule.title,
                    rule_version=rule.version,
                    rule_author=rule.author,
                    severity=rule.level,
                    tags=rule.tags,
                    status=status,
                    event_id=event_id,
                    time=t,
                    created=t + timedelta(seconds=rng.uniform(0.5, 30)),
                    host=host,
                    source=SOURCE.get(rule.logsource.product or "", "http"),
                    logsource=rule.logsource,
                )
            )
            self.severities[rule.level.value] += 1
        return alerts

    def search_words(self, share: float, count: int) -> list[tuple[str, float]]:
        """Title words (4+ letters) whose expected share of alerts is nearest ``share``."""
        of_word: dict[str, float] = {}
        for rule, rate in zip(self.rules, self.rule_rate, strict=True):
            for w in set(re.findall(r"[a-z]{4,}", rule.title.lower())):
                of_word[w] = of_word.get(w, 0.0) + rate
        return sorted(of_word.items(), key=lambda wr: (abs(wr[1] - share), wr[0]))[:count]


async def load(store: Store, corpus: Corpus, batch: int) -> float:
    """Seconds to write every alert; the next batch is made while the store writes."""
    started = time.perf_counter()
    pending: asyncio.Task[None] | None = None
    for start in range(0, corpus.total, batch):
        alerts = corpus.batch(start, min(batch, corpus.total - start))
        if pending is not None:
            await pending
        pending = asyncio.create_task(store.put_alerts(alerts))
        await asyncio.sleep(0)  # let it send before the next batch is made
    if pending is not None:
        await pending
    return time.perf_counter() - started


async def page_cursor(store: Store, query: AlertQuery, page: int) -> str:
    """The ``next_cursor`` that opens page ``page`` (1-based) of ``query``."""
    cursor: str | None = None
    for _ in range(page - 1):
        result = await store.search_alerts(query.model_copy(update={"cursor": cursor}))
        if result.next_cursor is None:
            raise SystemExit(f"fewer than {page} pages of {PAGE}; load more alerts")
        cursor = result.next_cursor
    assert cursor is not None
    return cursor


async def shapes(store: Store, corpus: Corpus) -> dict[str, list[AlertQuery]]:
    """Query shape -> the variants it takes turns with."""
    big, small = corpus.tenants[0], corpus.tenants[-1]
    one = AlertQuery(tenants=[big], limit=PAGE)
    top_hosts = corpus.tenant_hosts[big][:10]
    common = [w for w, _ in corpus.search_words(0.10, 4)]
    rare = [w for w, _ in corpus.search_words(0.002, 4)]
    deep = await page_cursor(store, one, DEEP_PAGE)
    return {
        "first page, one tenant": [one],
        "first page, small tenant": [AlertQuery(tenants=[small], limit=PAGE)],
        "severity high+critical": [
            one.model_copy(update={"severity": [Severity.high, Severity.critical]})
        ],
        "severity critical, small": [
            AlertQuery(tenants=[small], severity=[Severity.critical], limit=PAGE)
        ],
        "status open": [one.model_copy(update={"status": [AlertStatus.open]})],
        "host (top 10 hosts)": [one.model_copy(update={"host": h}) for h in top_hosts],
        "text, common word": [one.model_copy(update={"text": w}) for w in common],
        "text, rare word": [one.model_copy(update={"text": w}) for w in rare],
        f"page {DEEP_PAGE} via cursor": [one.model_copy(update={"cursor": deep})],
        "all tenants (lead)": [AlertQuery(tenants=None, limit=PAGE)],
    }


@dataclass
class Timing:
    p50_ms: float
    p99_ms: float
    mean_ms: float
    items: int
    """Alerts on the page of the first variant (a full page is ``limit``)."""


async def measure(store: Store, variants: list[AlertQuery], runs: int, warmup: int) -> Timing:
    for i in range(warmup):
        await store.search_alerts(variants[i % len(variants)])
    samples: list[float] = []
    for i in range(runs):
        query = variants[i % len(variants)]
        started = time.perf_counter()
        await store.search_alerts(query)
        samples.append((time.perf_counter() - started) * 1000)
    items = len((await store.search_alerts(variants[0])).items)
    p99 = statistics.quantiles(samples, n=100, method="inclusive")[98] if runs > 1 else samples[0]
    return Timing(statistics.median(samples), p99, statistics.fmean(samples), items)


@dataclass
class Result:
    backend: str
    alerts: int
    load_s: float
    size_bytes: int
    timings: dict[str, Timing]
    notes: list[str]


async def run_queries(store: Store, corpus: Corpus, args: argparse.Namespace) -> dict[str, Timing]:
    timings = {}
    for name, variants in (await shapes(store, corpus)).items():
        timings[name] = await measure(store, variants, args.runs, args.warmup)
        t = timings[name]
        print(
            f"  {name:<28} p50 {t.p50_ms:8.2f}  p99 {t.p99_ms:8.2f}  mean {t.mean_ms:8.2f} ms",
            flush=True,
        )
    return timings


async def run_sqlite(corpus: Corpus, args: argparse.Namespace) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="soc-bench-alert-queue-"))
    path = folder / "alerts.db"
    store = build_store(StoreSettings(kind="sqlite", sqlite=SqliteSettings(path=path)))
    await store.start()
    try:
        load_s = await load(store, corpus, args.batch)
        print(f"sqlite: loaded {corpus.total:,} alerts in {load_s:.1f} s", flush=True)
        timings = await run_queries(store, corpus, args)
    finally:
        await store.stop()
    size = file_size(path, keep=args.keep)
    notes = [f"kept in {path}" if args.keep else "temporary file, deleted"]
    return Result("sqlite", corpus.total, load_s, size, timings, notes)


def file_size(path: Path, *, keep: bool) -> int:
    """Bytes of the database (its WAL is folded in on close); removes its folder unless kept."""
    size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))
    if not keep:
        shutil.rmtree(path.parent)
    return size


async def run_opensearch(corpus: Corpus, args: argparse.Namespace) -> Result:
    prefix = f"bench-aq-{os.getpid()}-{int(time.time())}"
    settings = OpenSearchSettings(hosts=[args.opensearch], index_prefix=prefix)
    store = build_store(StoreSettings(kind="opensearch", opensearch=settings))
    admin = httpx.AsyncClient(base_url=args.opensearch, timeout=600)
    await store.start()
    try:
        load_s = await load(store, corpus, args.batch)
        await admin.post(f"/{prefix}-alerts-*/_refresh")
        settle_s = await settle(admin, f"{prefix}-alerts-*")
        stats = (await admin.get(f"/{prefix}-alerts-*/_stats/docs,store,segments")).json()
        total = stats["_all"]["primaries"]
        print(f"opensearch: loaded {total['docs']['count']:,} alerts in {load_s:.1f} s", flush=True)
        timings = await run_queries(store, corpus, args)
        notes = [
            f"indices {prefix}-alerts-* ({len(stats['indices'])}, 1 shard each, refresh 1 s)",
            f"{total['segments']['count']} segments; merges settled {settle_s:.0f} s after refresh",
        ]
    finally:
        await store.stop()
        if not args.keep:
            await remove(admin, prefix, settings)
        await admin.aclose()
    notes.append("kept" if args.keep else "deleted")
    return Result(
        "opensearch", corpus.total, load_s, total["store"]["size_in_bytes"], timings, notes
    )


async def remove(admin: httpx.AsyncClient, prefix: str, settings: OpenSearchSettings) -> None:
    """Delete the bench's indices and index templates, each by its name."""
    found = await admin.get(f"/{prefix}-*/_settings")
    names = [*found.json(), *(f"_index_template/{t}" for t in templates(settings))]
    for name in names:
        response = await admin.delete(f"/{name}")
        if response.status_code not in (200, 404):
            print(f"could not delete {name}: {response.status_code} {response.text[:200]}")


async def settle(admin: httpx.AsyncClient, index: str, within: float = 300) -> float:
    """Seconds until no merge runs on ``index`` (queries during merges measure the merges)."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        merges = (await admin.get(f"/{index}/_stats/merge")).json()
        if merges["_all"]["primaries"]["merges"]["current"] == 0:
            break
        await asyncio.sleep(1)
    return time.perf_counter() - started


def table(results: list[Result]) -> Iterator[str]:
    head = "".join(f" | {r.backend:>10}  p50     p99    mean" for r in results)
    yield f"{'query (ms)':<28}{head} | items"
    for name in results[0].timings:
        row = "".join(
            f" | {t.p50_ms:16.2f} {t.p99_ms:7.2f} {t.mean_ms:7.2f}"
            for t in (r.timings[name] for r in results)
        )
        yield f"{name:<28}{row} | {results[0].timings[name].items}"
    for r in results:
        yield (
            f"{r.backend}: load {r.alerts / r.load_s:,.0f} alerts/s ({r.load_s:.1f} s); "
            f"size {r.size_bytes / 2**20:,.0f} MiB; {'; '.join(r.notes)}"
        )


async def run(args: argparse.Namespace) -> list[Result]:
    rng = random.Random(args.seed)
    rules, hosts = sigma_rules(args.rules, rng), recorded_hosts()
    backends = ["sqlite", "opensearch"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        corpus = Corpus(args.alerts, args.seed, rules, hosts)  # the same alerts each time
        run_backend = run_sqlite if backend == "sqlite" else run_opensearch
        results.append(await run_backend(corpus, args))
    mix = {k: f"{v / args.alerts:.1%}" for k, v in sorted(corpus.severities.items())}
    print(
        f"\n{args.alerts:,} alerts, {len(TENANTS)} tenants ({corpus.tenants[0]} "
        f"{TENANTS[corpus.tenants[0]]}%), {len(rules)} Sigma rules, {len(hosts)} hosts, "
        f"{DAYS} days; severity {mix}; {args.runs} runs per shape after {args.warmup} warm-up"
    )
    for line in table(results):
        print(line)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "opensearch", "both"], default="both")
    p.add_argument("--alerts", type=int, default=1_000_000)
    p.add_argument(
        "--opensearch",
        default=os.environ.get("SOC_TEST_OPENSEARCH", "http://127.0.0.1:19200"),
        help="node URL (default: $SOC_TEST_OPENSEARCH or the local services' node)",
    )
    p.add_argument("--keep", action="store_true", help="keep the SQLite file and the indices")
    p.add_argument("--batch", type=int, default=5_000, help="alerts per put_alerts call")
    p.add_argument("--runs", type=int, default=200, help="timed runs per query shape")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--rules", type=int, default=400, help="Sigma rules sampled")
    p.add_argument("--seed", type=int, default=20260115)
    args = p.parse_args()
    try:
        results = asyncio.run(run(args))
    except StoreError as e:
        raise SystemExit(f"store failed: {e}") from e
    out: list[dict[str, Any]] = [
        {
            "backend": r.backend,
            "alerts": r.alerts,
            "load_alerts_per_s": round(r.alerts / r.load_s),
            "size_mib": round(r.size_bytes / 2**20, 1),
            "ms": {
                k: {
                    "p50": round(t.p50_ms, 2),
                    "p99": round(t.p99_ms, 2),
                    "mean": round(t.mean_ms, 2),
                }
                for k, t in r.timings.items()
            },
        }
        for r in results
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
