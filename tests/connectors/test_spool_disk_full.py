"""The spool on a disk that fills up: writers wait (backpressure), no torn entry, no loss.

A real small file system (a tmpfs mounted for the test; root only) filled to its last
byte, as a connector's disk fills in the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.spool import Spool
from tests.connectors.test_spool import entry, real_lines, take_all


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that fills) needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 1024)
    return filler


async def test_a_full_disk_makes_put_wait_and_leaves_no_torn_entry(disk: Path) -> None:
    s = Spool(disk / "spool", max_bytes=1 << 30, segment_bytes=16 << 10, fsync="batch")
    lines = real_lines(200)
    for i in range(0, 100, 10):
        await s.put(entry("f1", i, lines[i : i + 10]))
    filler = fill(disk)
    put = asyncio.create_task(s.put(entry("f1", 100, lines[100:200])))
    await asyncio.sleep(0.5)
    assert not put.done(), "a put on a full disk waits"
    assert s.disk_full and s.waiting == 1
    filler.unlink()
    waited = await asyncio.wait_for(put, 10)
    assert waited > 0.3 and not s.disk_full
    got = await take_all(s)
    assert b"".join(e.body for e in got).splitlines() == lines
    s.close()
    again = Spool(disk / "spool", max_bytes=1 << 30, segment_bytes=16 << 10, fsync="batch")
    assert b"".join(e.body for e in await take_all(again)).splitlines() == lines


async def test_a_spool_that_fills_its_own_disk_goes_on_as_the_sender_acks(disk: Path) -> None:
    s = Spool(disk / "spool", max_bytes=1 << 30, segment_bytes=16 << 10, fsync="batch")
    lines = real_lines(3000)  # about 300 KB: more than the disk holds
    delivered: list[bytes] = []
    written = asyncio.Event()
    full_seen = []

    async def sender() -> None:
        while len(delivered) < len(lines):
            got = await s.take(max_events=100, max_bytes=1 << 20, wait_s=0.05)
            full_seen.append(s.disk_full)
            if got and (s.disk_full or written.is_set()):
                delivered.extend(b"".join(e.body for e in got).splitlines())
                s.ack(got)
            elif got:
                s.rewind()  # deliver only while the disk is full (or all is written)
                await asyncio.sleep(0.01)

    task = asyncio.create_task(sender())
    for i in range(0, len(lines), 50):
        await s.put(entry("f1", i, lines[i : i + 50]))
    written.set()
    await asyncio.wait_for(task, 30)
    assert any(full_seen), "the spool must have filled its disk"
    assert delivered == lines
