"""On Kafka: `soc correlate` killed mid-window and restarted, or scaled from one process to
two mid-run, raises exactly the correlation alerts of an uninterrupted run.

Each run has topics and indices of its own and is fed the same stream: the matches the
detector publishes for the recorded auth.log (the shipped SSH failure rule, counted per
source address by two test correlations, one with six-hour windows that are open
whenever the kill or the rebalance lands), published in order, a few at a time, while the
stages run. Real `soc correlate` processes, real Kafka and OpenSearch.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from soc.bus import Bus, Topic, build_bus
from soc.bus.codec import encode
from soc.detect.correlation.model import CorrelationMatch
from soc.detect.engine import Engine
from soc.models import Alert, AlertQuery
from soc.settings import (
    BusSettings,
    CorrelationSettings,
    KafkaSettings,
    OpenSearchSettings,
    StoreSettings,
)
from soc.store import Store, build_store
from tests.correlating import (
    BRUTE_FORCE,
    LINUX_RULES,
    SLOW_GUESSING,
    auth_events,
    comparable,
    engine_with,
    matches_of,
    one_pass,
)
from tests.e2e.harness import api_keys, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]

LATENESS_S, IDLE_S = 60, 4
CHUNK, PAUSE_S = 10, 0.15
"""The stream: 10 matches every 150 ms (about 60 a second), never idle for IDLE_S."""


@dataclass
class Run:
    """One run's topics, indices, processes and their logs."""

    bus: Bus
    store: Store
    env: dict[str, str]
    log: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_correlator(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "soc.cli", "correlate"],
            env={**self.env, "SOC_CORRELATE__METRICS_PORT": str(free_port())},
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            cwd=self.log.parent,
        )
        self.procs.append(proc)
        return proc

    async def alerts(self) -> dict[str, Alert]:
        out: dict[str, Alert] = {}
        cursor = None
        while True:
            page = await self.store.search_alerts(AlertQuery(limit=500, cursor=cursor))
            out.update((a.id, a) for a in page.items)
            cursor = page.next_cursor
            if not cursor:
                return out

    async def feed(
        self, matches: list[CorrelationMatch], at: Callable[[int], object] | None = None
    ) -> None:
        """Publish the stream; ``at(i)`` is awaited (if it returns an awaitable) before chunk i."""
        for i in range(0, len(matches), CHUNK):
            if at is not None:
                step = at(i)
                if asyncio.iscoroutine(step):
                    await step
            await self.bus.publish(Topic.matches, encode(matches[i : i + CHUNK]))
            await asyncio.sleep(PAUSE_S)

    async def settled(self, expected: int, within: float = 120) -> dict[str, Alert]:
        """The stored alerts once ``expected`` are there and nothing more came for 2 idle
        flushes (a duplicate or an extra would show by then)."""
        deadline = time.monotonic() + within
        while len(found := await self.alerts()) < expected:
            assert time.monotonic() < deadline, f"{len(found)} of {expected}:\n{self.tail()}"
            await asyncio.sleep(0.5)
        await asyncio.sleep(2 * IDLE_S)
        return await self.alerts()

    async def started(self, count: int, within: float = 60) -> None:
        """Until ``count`` correlation stages have joined (their "stage started" lines)."""
        deadline = time.monotonic() + within
        while self._lines("stage started") < count:
            assert time.monotonic() < deadline, f"stages not started:\n{self.tail()}"
            await asyncio.sleep(0.1)

    def _lines(self, message: str) -> int:
        if not self.log.exists():
            return 0
        return sum(
            1
            for line in self.log.read_text(errors="replace").splitlines()
            if f'"msg": "{message}"' in line and '"stage": "correlate"' in line
        )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def restored_groups(self) -> int:
        """Groups the processes restored from the changelog (their log lines)."""
        total = 0
        for line in self.log.read_text(errors="replace").splitlines():
            if "correlation partition restored" in line:
                found = re.search(r'"groups":\s*(\d+)', line)
                total += int(found.group(1)) if found else 0
        return total


@pytest.fixture(scope="module")
def stream(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Engine]:
    folder = tmp_path_factory.mktemp("correlations")
    return folder, engine_with(folder, BRUTE_FORCE, SLOW_GUESSING)


@pytest.fixture(scope="module")
def matches(shared_dir: Path, stream: tuple[Path, Engine]) -> list[CorrelationMatch]:
    return matches_of(stream[1], auth_events(shared_dir))


@pytest.fixture(scope="module")
def expected(stream: tuple[Path, Engine], matches: list[CorrelationMatch]) -> dict[str, Alert]:
    settings = CorrelationSettings(allowed_lateness_s=LATENESS_S, idle_flush_s=IDLE_S)
    found = one_pass(stream[1], matches, settings)
    assert len(found) >= 8, "the stream must hold several correlation alerts"
    return found


@pytest.fixture
async def run(
    kafka_bootstrap: str,
    opensearch_url: str,
    stream: tuple[Path, Engine],
    tmp_path: Path,
) -> AsyncIterator[Callable[[str], Any]]:
    runs: list[Run] = []

    async def make(prefix: str) -> Run:
        bus = build_bus(
            BusSettings(
                kind="kafka",
                kafka=KafkaSettings(
                    bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=3
                ),
            )
        )
        store = build_store(
            StoreSettings(
                kind="opensearch",
                opensearch=OpenSearchSettings(hosts=[opensearch_url], index_prefix=prefix),
            )
        )
        await bus.start()
        await store.start()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
            "SOC_ENV": "production",
            "SOC_AUTH__SECRET_KEY": "test-secret-not-default",
            "SOC_AUTH__API_KEYS": json.dumps(api_keys()),
            "SOC_BUS__KIND": "kafka",
            "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "SOC_BUS__KAFKA__TOPIC_PREFIX": prefix,
            "SOC_BUS__KAFKA__PARTITIONS": "3",
            "SOC_STORE__KIND": "opensearch",
            "SOC_STORE__OPENSEARCH__HOSTS": json.dumps([opensearch_url]),
            "SOC_STORE__OPENSEARCH__INDEX_PREFIX": prefix,
            "SOC_DETECT__RULES": json.dumps([str(LINUX_RULES), str(stream[0])]),
            "SOC_DETECT__CACHE_DIR": str(tmp_path / "rule-cache"),
            "SOC_DETECT__CORRELATION__ALLOWED_LATENESS_S": str(LATENESS_S),
            "SOC_DETECT__CORRELATION__IDLE_FLUSH_S": str(IDLE_S),
            "SOC_CORRELATE__BATCH_SIZE": "10",
        }
        made = Run(bus=bus, store=store, env=env, log=tmp_path / f"{prefix}.log")
        runs.append(made)
        return made

    yield make
    for r in runs:
        for proc in r.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        await r.bus.stop()
        await r.store.stop()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


async def uninterrupted(run: Run, matches: list[CorrelationMatch], n: int) -> dict[str, Alert]:
    proc = run.start_correlator()
    await run.started(1)
    await run.feed(matches)
    found = await run.settled(n)
    stop(proc)
    return found


def same(got: dict[str, Alert], want: dict[str, Alert], log: str) -> None:
    assert sorted(got) == sorted(want), (
        f"missing {len(set(want) - set(got))}, extra {len(set(got) - set(want))}:\n{log}"
    )
    assert [comparable(got[i]) for i in sorted(got)] == [comparable(want[i]) for i in sorted(got)]


async def test_a_killed_correlation_stage_restarts_without_loss_or_duplicates(
    run: Callable[[str], Any],
    unique_name: str,
    matches: list[CorrelationMatch],
    expected: dict[str, Alert],
) -> None:
    reference = await uninterrupted(await run(unique_name + "a"), matches, len(expected))
    same(reference, expected, "")

    killed = await run(unique_name + "k")
    first = killed.start_correlator()
    await killed.started(1)
    landed: list[int] = []

    async def kill_mid_run(i: int) -> None:
        if landed or first.poll() is not None:
            return
        stored = len(await killed.alerts())
        if stored >= len(expected) * 0.3:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            landed.append(stored)
            killed.start_correlator()

    await killed.feed(matches, at=kill_mid_run)
    assert landed and 0 < landed[0] < len(expected), "the kill must land mid-stream"
    found = await killed.settled(len(expected))
    assert killed.restored_groups() > 0, "windows must be open across the kill"
    same(found, reference, killed.tail())
    print(f"killed after {landed[0]} of {len(expected)} correlation alerts")


async def test_a_correlation_stage_scaled_to_two_mid_run_raises_the_same_alerts(
    run: Callable[[str], Any],
    unique_name: str,
    matches: list[CorrelationMatch],
    expected: dict[str, Alert],
) -> None:
    scaled = await run(unique_name + "s")
    scaled.start_correlator()
    await scaled.started(1)
    added: list[int] = []

    async def add_one(i: int) -> None:
        if added:
            return
        stored = len(await scaled.alerts())
        if stored >= len(expected) * 0.3:
            scaled.start_correlator()
            added.append(stored)

    await scaled.feed(matches, at=add_one)
    assert added and 0 < added[0] < len(expected), "the second stage must join mid-stream"
    found = await scaled.settled(len(expected))
    assert scaled.restored_groups() > 0, "windows must be open across the rebalance"
    assert all(p.poll() is None for p in scaled.procs)
    same(found, expected, scaled.tail())
    print(f"scaled to two after {added[0]} of {len(expected)} correlation alerts")
