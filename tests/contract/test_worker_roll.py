"""The roll of worker processes (:mod:`soc.stages.roll_call`) on both stores.

Two stores on the same SQLite file or OpenSearch prefix stand for two processes: workers
beat through one, an API reads the roll through the other. A worker that stops beating
is named silent once ``silent_after_s`` has passed, one that left cleanly is gone, and a
worker restarted on the same host drops its dead predecessor at its first beat.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from soc.app import Service
from soc.settings import Settings, WorkerSettings
from soc.stages.roll_call import RollCall, WorkerRoll, worker_name
from soc.store import Store

SETTINGS = WorkerSettings(beat_s=1, silent_after_s=10, forget_after_s=100)


async def test_a_worker_that_stops_beating_is_named_silent(pair: tuple[Store, Store]) -> None:
    beats, reads = WorkerRoll(pair[0], SETTINGS), WorkerRoll(pair[1], SETTINGS)
    await beats.beat("detect@h1:11", now=1000)
    await beats.beat("detect@h2:22", now=1000)
    await beats.beat("correlate@h1:33", now=1000)
    await beats.beat("detect@h2:22", now=1008)
    await beats.beat("correlate@h1:33", now=1009)

    roll = await reads.read(now=1012)
    assert [(w.name, w.silent, w.silent_s) for w in roll] == [
        ("detect@h1:11", True, 12),
        ("correlate@h1:33", False, 3),
        ("detect@h2:22", False, 4),
    ]
    # Past forget_after_s a silent worker is off the roll.
    assert [w.name for w in await reads.read(now=1105)] == ["correlate@h1:33", "detect@h2:22"]
    assert await reads.read(now=1110) == []


async def test_a_worker_that_leaves_is_off_the_roll(pair: tuple[Store, Store]) -> None:
    beats, reads = WorkerRoll(pair[0], SETTINGS), WorkerRoll(pair[1], SETTINGS)
    await beats.beat("detect@h1:11", now=1000)
    await beats.beat("detect@h1:12", now=1000)
    await beats.leave("detect@h1:11")
    assert [w.name for w in await reads.read(now=1001)] == ["detect@h1:12"]
    await beats.leave("detect@h1:12")
    await beats.leave("detect@h1:12")  # twice: nothing to do
    assert await reads.read(now=1001) == []


async def test_a_restarted_worker_drops_its_dead_predecessor(
    pair: tuple[Store, Store], tmp_path: Path
) -> None:
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()  # its pid is now free: a worker killed on this host
    roll = WorkerRoll(pair[0], SETTINGS)
    alive_elsewhere = worker_name("detect", host="another-host", pid=dead.pid)
    await roll.beat(worker_name("detect", pid=dead.pid), now=1000)
    await roll.beat(worker_name("correlate", pid=os.getppid()), now=1000)
    await roll.beat(alive_elsewhere, now=1000)
    await roll.beat(worker_name("detect"), now=1030, replaces=True)
    names = {w.name: w.silent for w in await WorkerRoll(pair[1], SETTINGS).read(now=1030)}
    # Gone: the dead detector on this host. Kept: another role's worker, and a worker of
    # another host (its process cannot be looked up from here), both named silent.
    assert names == {
        worker_name("detect"): False,
        worker_name("correlate", pid=os.getppid()): True,
        alive_elsewhere: True,
    }


async def test_readyz_names_a_silent_worker_and_stays_ready(
    pair: tuple[Store, Store], tmp_path: Path
) -> None:
    """A RollCall stage beats for real; once it is stopped without leaving (a SIGKILL), the
    API's check turns ``degraded`` and names it, and ``soc_workers`` counts it."""
    from prometheus_client import REGISTRY

    fast = WorkerSettings(beat_s=0.1, silent_after_s=0.5, forget_after_s=60)
    call = RollCall(WorkerRoll(pair[0], fast), "detect")
    task = asyncio.create_task(call.run())
    service = Service(Settings(env="development", data_dir=tmp_path, workers=fast), workers=False)
    service.roll = WorkerRoll(pair[1], fast)
    await asyncio.sleep(0.4)
    assert await service._silent_workers() == {}
    assert REGISTRY.get_sample_value("soc_workers", {"role": "detect", "state": "live"}) == 1

    task.cancel()  # killed: it never leaves the roll
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.8)
    silent = await service._silent_workers()
    assert list(silent) == [f"worker {call.worker}"]
    assert silent[f"worker {call.worker}"].startswith("fail: silent for ")
    assert REGISTRY.get_sample_value("soc_workers", {"role": "detect", "state": "silent"}) == 1
    assert REGISTRY.get_sample_value("soc_workers", {"role": "detect", "state": "live"}) == 0

    # A worker stopped cleanly leaves: the roll is empty, nothing silent.
    call2 = RollCall(WorkerRoll(pair[0], fast), "correlate")
    task2 = asyncio.create_task(call2.run())
    await asyncio.sleep(0.3)
    call2.stop()
    await task2
    assert f"worker {call2.worker}" not in await service._silent_workers()
