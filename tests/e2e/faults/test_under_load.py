"""Faults under load (issue 16, item 2): each while recorded logs flow through real
connectors into two `soc api`, two `soc detect` and `soc correlate` on a private Kafka and
OpenSearch, each ending with the ledger: every line sent stored exactly once by id, no
alert twice and none missing, no incident twice, the audit chain verifies. While the fault
lasts, /readyz, /metrics or the connector's /healthz say what is wrong.

Shorter runs in `make test`; `make soak` runs them long (SOC_FAULT_LOAD_S,
SOC_FAULT_OUTAGE_S: the issue's two-minute OpenSearch outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.faults.rig import OUTAGE_S, RATE, FaultRig, Proc, Sample, parse_metrics, total

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch, pytest.mark.slow]

KAFKA_DOWN_S = 15.0
PROCESS_DOWN_S = 8.0


async def finish(rig: FaultRig) -> None:
    """The ledger, printed and checked; every process still running and ready."""
    before = rig.ledgers[-1].sent if rig.ledgers else 0
    ledger = await rig.ledger()
    rig.ledgers.append(ledger)
    print(f"ledger (since the rig started; {ledger.sent - before} sent in this test): ")
    print(f"  {ledger.line()}")
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in rig.timings.items()))
    dead = [p.name for p in rig.procs() if not p.alive()]
    assert not dead, f"exited: {dead}\n{rig.logs()}"
    ledger.check()
    async with httpx.AsyncClient(timeout=10) as client:
        for api in rig.apis:
            r = await client.get(f"http://127.0.0.1:{api.port}/readyz")
            assert r.status_code == 200, r.text


def checks_failing(s: Sample, api: str, check: str) -> bool:
    status, checks = s.ready.get(api, (0, {}))
    return status == 503 and checks.get(check, "ok").startswith("fail")


def gauge(s: Sample, proc: str, series: str) -> float | None:
    m = s.metrics.get(proc)
    return None if m is None else m.get(series)


def outage(rig: FaultRig, stop: str, start: str, down_s: float) -> Callable[[], Awaitable[None]]:
    """A fault: services.sh ``stop``, then ``start`` after ``down_s``; the "fault" phase lasts
    until the service is back."""

    async def fault() -> None:
        await asyncio.to_thread(rig.services.run, stop)
        with rig.during("fault"):
            await asyncio.sleep(down_s)
            await asyncio.to_thread(rig.services.run, start)

    return fault


async def test_opensearch_node_stopped_and_started(rig: FaultRig) -> None:
    await rig.run(outage(rig, "opensearch-stop", "opensearch-start", OUTAGE_S), at=0.15)
    during = rig.seen("fault")
    assert during
    # Every API said the store was down, by /readyz and by its soc_backend_up gauge.
    for api in ("api0", "api1"):
        assert any(checks_failing(s, api, "store") for s in during), api
        assert any(gauge(s, api, 'soc_backend_up{backend="store"}') == 0 for s in during), api
    await finish(rig)


async def test_kafka_broker_killed_and_restarted(rig: FaultRig) -> None:
    await rig.run(outage(rig, "kafka-kill", "kafka-start", KAFKA_DOWN_S), at=0.25)
    during = rig.seen("fault")
    assert during
    for api in ("api0", "api1"):
        assert any(checks_failing(s, api, "bus") for s in during), api
        assert any(gauge(s, api, 'soc_backend_up{backend="bus"}') == 0 for s in during), api
    # The Kafka connector said its destination was down, and spooled meanwhile.
    assert any(
        (s.health.get("win") or {}).get("destination", {}).get("up") is False for s in during
    )
    await finish(rig)


async def test_a_detector_killed_with_sigkill(rig: FaultRig) -> None:
    victim = rig.detectors[0]
    survivor = rig.detectors[1]
    assert victim.popen is not None
    dead = f"worker detect@{socket.gethostname()}:{victim.popen.pid}"

    async def fault() -> None:
        victim.kill()
        with rig.during("fault"):
            await asyncio.sleep(PROCESS_DOWN_S)
        victim.start()
        await rig.until_ready(victim)

    await rig.run(fault, at=0.3)
    during = rig.seen("fault")
    assert during
    # The killed detector's metrics are gone (a scrape target down); the other goes on.
    assert all(s.metrics.get(victim.name) is None for s in during)
    # The survivor stayed up and answering all through the fault.
    assert all(s.metrics.get(survivor.name) is not None for s in during)
    # And the detectors worked on after the kill: the survivor on its partitions (and the
    # victim's once the group noticed), or the restarted victim on its own. (The load is
    # keyed by host: it may all sit on partitions the victim holds before and after, and
    # the survivor then has nothing to do; the ledger below shows nothing was lost.)
    series = 'soc_events_processed_total{stage="detect"}'
    at_kill = gauge(during[0], survivor.name, series) or 0
    survived = restarted = 0.0
    async with httpx.AsyncClient(timeout=10) as client:

        async def processed(p: Proc) -> float:
            r = await client.get(f"http://127.0.0.1:{p.port}/metrics")
            return parse_metrics(r.text).get(series, 0.0)

        for _ in range(180):  # up to 90 s
            survived, restarted = await processed(survivor), await processed(victim)
            if survived > at_kill or restarted > 0:
                break
            await asyncio.sleep(0.5)
    print(f"after the kill: survivor {at_kill:.0f} -> {survived:.0f} events processed,")
    print(f"  the restarted victim {restarted:.0f}")
    assert survived > at_kill or restarted > 0, "no detector worked after the kill"
    lag = max(
        total(s.metrics.get(survivor.name) or {}, "soc_consumer_lag_messages") for s in during
    )
    print(f"the surviving detector's consumer lag peaked at {lag:.0f} during the fault")
    # Every API named the dead detector in /readyz (still 200: the APIs themselves were
    # ready), and counted it silent in soc_workers.
    for api in ("api0", "api1"):
        named = [
            s.ready[api][1][dead]
            for s in during
            if s.ready.get(api, (0, {}))[0] == 200 and dead in s.ready[api][1]
        ]
        assert named and named[-1].startswith("fail: silent for "), (api, during[-1].ready)
        silent = 'soc_workers{role="detect",state="silent"}'
        assert any(gauge(s, api, silent) == 1 for s in during), api
    # Restarted on the same host, the detector drops its dead predecessor from the roll at
    # its first beat (once its rules are loaded).
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(120):
            r = await client.get(f"http://127.0.0.1:{rig.apis[0].port}/readyz")
            if dead not in r.json()["checks"]:
                break
            await asyncio.sleep(0.5)
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    await finish(rig)


async def test_an_api_killed_while_connectors_post(rig: FaultRig) -> None:
    victim = rig.apis[0]  # the HTTP connector's destination

    async def fault() -> None:
        victim.kill()
        with rig.during("fault"):
            await asyncio.sleep(PROCESS_DOWN_S)
        victim.start()
        await rig.until_ready(victim)

    await rig.run(fault, at=0.3)
    during = rig.seen("fault")
    assert during
    # The other API stayed ready; the connector said its destination was down and counted
    # the failed sends, and spooled what it read meanwhile.
    assert all(s.ready["api1"][0] == 200 for s in during)
    assert any(s.ready["api0"][0] == 0 for s in during)
    assert any(
        (s.health.get("auth") or {}).get("destination", {}).get("up") is False for s in during
    )
    failures = [
        total(m, "soc_connector_delivery_failures_total")
        for s in during
        if (m := s.metrics.get("auth")) is not None
    ]
    assert failures and failures[-1] > 0
    await finish(rig)


def fill(disk: Path) -> Path:
    """Fill the file system of ``disk`` to the last byte; returns the filler file."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as f:
        while True:
            f.write(chunk)
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as f:
        while True:  # the last pages
            f.write(b"\0" * 1024)
    return filler


async def test_a_connectors_disk_filled(rig: FaultRig) -> None:
    if rig.spool_dir is None:
        pytest.skip("a disk that fills (a small tmpfs) needs root to mount")
    disk = rig.spool_dir.parent
    read: list[float] = []

    def records_read(s: Sample) -> float | None:
        m = s.metrics.get("auth")
        return None if m is None else total(m, "soc_connector_records_read_total")

    async def fault() -> None:
        filler = await asyncio.to_thread(fill, disk)
        with rig.during("fault"):
            await asyncio.sleep(PROCESS_DOWN_S)
        filler.unlink()

    await rig.run(fault, at=0.3)
    during = rig.seen("fault")
    assert during
    # The connector said its spool's disk was full, paused its source (backpressure:
    # nothing read is dropped), and went on once the disk had room.
    assert any(gauge(s, "auth", "soc_connector_spool_disk_full") == 1 for s in during)
    assert any((s.health.get("auth") or {}).get("spool", {}).get("disk_full") for s in during)
    assert any((s.health.get("auth") or {}).get("status") == "degraded" for s in during)
    read = [r for s in during if (r := records_read(s)) is not None]
    assert read and read[-1] - read[0] <= 2 * RATE, "the source must pause"
    await finish(rig)
