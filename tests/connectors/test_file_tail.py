"""The file tailer on real files: growth, rotation, truncation, restarts, backpressure.

The only stand-in is ``emit``, the agent boundary: a collector that can be
made to block, as the agent's does while its spool is full. The registry is a
real one in tmp_path. Lines are recorded ones (auth.log, an Apache access log),
copied into files the tests grow, rename and truncate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from connectors.config import FileSource
from connectors.parse.framing import Frame
from connectors.registry import Registry
from connectors.sources.base import Batch
from connectors.sources.file_tail import FileTailSource
from tests.conftest import SHARED
from tests.connectors._sources import Collector, running, source_context, until

AUTH = (SHARED / "datasets/linux/auth.log").read_bytes().splitlines()
APACHE = (SHARED / "datasets/web/apache_access.log").read_bytes().splitlines()
SCAN = 0.01


async def records(emit: Collector, count: int) -> None:
    await until(lambda: len(emit.records()) >= count)
    await asyncio.sleep(3 * SCAN)  # and nothing more comes
    assert len(emit.records()) == count, emit.data()[count - 2 :]


def source(tmp_path: Path, *paths: str, **kw: Any) -> FileTailSource:
    kw = {"scan_interval_s": SCAN, "close_inactive_s": 60.0, **kw}
    cfg = FileSource(type="file", name="files", paths=[str(tmp_path / p) for p in paths], **kw)
    return FileTailSource(cfg, source_context(tmp_path, run_id="run1", log="tests.file_tail"))


def append(path: Path, lines: Iterable[bytes], end: bytes = b"\n") -> None:
    with open(path, "ab") as f:
        f.write(b"".join(line + end for line in lines))


def check_batches(batches: Iterable[Batch]) -> None:
    """Per stream: numbers from where it started with no gap; checkpoints that follow them."""
    nxt: dict[str, int] = {}
    for b in batches:
        assert b.first_seq == nxt.get(b.stream, b.first_seq), (b.stream, b.first_seq)
        nxt[b.stream] = b.first_seq + len(b.records)
        assert (b.source, b.kind) == ("files", "line")
        assert 1 <= len(b.records) <= 500 and sum(len(f.data) for f in b.records) <= 2 << 20
        assert b.checkpoint["seq"] == nxt[b.stream]


def fds_on(path: Path) -> int:
    """How many of this process's descriptors are open on ``path`` (Linux)."""
    want = os.stat(path)
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/self/fd/{fd}")
            n += (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino)
    return n


# -- reading ---------------------------------------------------------------------------------


async def test_reads_a_recorded_log_in_batches(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    shutil.copy(SHARED / "datasets/linux/auth.log", log)
    emit = Collector()
    async with running(source(tmp_path, "*.log"), emit):
        await records(emit, len(AUTH))
    assert emit.data() == AUTH
    (stream,) = emit.streams()
    st = log.stat()
    assert stream.startswith(f"{st.st_dev:x}:{st.st_ino}:")
    assert [b.first_seq for b in emit.batches] == list(range(0, len(AUTH), 500))
    check_batches(emit.batches)
    last = emit.batches[-1].checkpoint
    assert (last["offset"], last["seq"], last["path"]) == (st.st_size, len(AUTH), str(log))
    assert all(f.error is None and f.size == len(f.data) for f in emit.records())


async def test_follows_a_growing_file_across_split_writes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, APACHE[:100])
    emit = Collector()
    async with running(source(tmp_path, "access.log"), emit):
        await until(lambda: len(emit.records()) == 100)
        for i in range(100, 400, 60):
            block = b"".join(line + b"\r\n" for line in APACHE[i : i + 60])
            cut = len(block) // 2 + 7  # inside a line
            with open(log, "ab") as f:
                f.write(block[:cut])
                f.flush()
                await asyncio.sleep(2 * SCAN)
                f.write(block[cut:])
        await records(emit, 400)
    assert emit.data() == APACHE[:400]  # CR dropped, no line cut where a write was
    assert len(emit.streams()) == 1
    check_batches(emit.batches)


async def test_a_partial_line_is_held_until_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(AUTH[0] + b"\n" + AUTH[1][:25])
    emit = Collector()
    async with running(source(tmp_path, "auth.log"), emit):
        await records(emit, 1)
        await asyncio.sleep(5 * SCAN)
        assert emit.data() == AUTH[:1]
        assert emit.batches[0].checkpoint["offset"] == len(AUTH[0]) + 1
        append(log, [AUTH[1][25:], b"", AUTH[2]])  # a blank line is a line too
        await records(emit, 4)
    assert emit.data() == [*AUTH[:2], b"", AUTH[2]]
    assert [b.first_seq for b in emit.batches] == [0, 1]


async def test_a_huge_line_becomes_one_too_large_frame(tmp_path: Path) -> None:
    huge = b" ".join(AUTH * 4)  # some 3 MiB without a line end
    log = tmp_path / "auth.log"
    log.write_bytes(AUTH[0] + b"\n" + huge[: 2 << 20])
    emit = Collector()
    async with running(source(tmp_path, "auth.log"), emit):
        await records(emit, 1)
        with open(log, "ab") as f:
            f.write(huge[2 << 20 :] + b"\r\n" + AUTH[1] + b"\n")
        await records(emit, 3)
    first, big, last = emit.records()
    assert (first.data, last.data) == (AUTH[0], AUTH[1])
    assert big == Frame(huge[:65536], "too_large", len(huge))
    check_batches(emit.batches)
    assert emit.batches[-1].checkpoint["seq"] == 3


async def test_max_line_bytes_sets_the_limit(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, APACHE[:20])
    emit = Collector()
    async with running(source(tmp_path, "access.log", max_line_bytes=322), emit):
        await records(emit, 20)
    for line, frame in zip(APACHE[:20], emit.records(), strict=True):
        if len(line) > 322:
            assert frame == Frame(line[:322], "too_large", len(line))
        else:
            assert frame == Frame(line, None, len(line))
    assert any(f.error for f in emit.records()) and not all(f.error for f in emit.records())


async def test_exclude_globs(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    append(tmp_path / "logs/auth.log", AUTH[:10])
    append(tmp_path / "logs/access.log", APACHE[:10])
    append(tmp_path / "logs/access.log.1", APACHE[10:20])
    append(tmp_path / "logs/access.log.2.gz", APACHE[20:30])
    emit = Collector()
    src = source(tmp_path, "logs/*", exclude=["*.gz", "access.log.1"])
    async with running(src, emit):
        await records(emit, 20)
    assert sorted(emit.data()) == sorted(AUTH[:10] + APACHE[:10])
    assert len(emit.streams()) == 2


# -- rotation and truncation -----------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["app.log", "app.log*"])
async def test_rotation_by_rename_while_writing(tmp_path: Path, pattern: str) -> None:
    log = tmp_path / "app.log"
    emit = Collector()
    with open(log, "ab", buffering=0) as writer:  # the application, holding its file open
        writer.write(b"".join(line + b"\n" for line in APACHE[:300]))
        async with running(source(tmp_path, pattern), emit):
            await until(lambda: len(emit.records()) == 300)
            os.rename(log, tmp_path / "app.log.1")
            writer.write(b"".join(line + b"\n" for line in APACHE[300:400]))  # not reopened yet
            with open(log, "ab", buffering=0) as reopened:  # reopened: a new file
                reopened.write(b"".join(line + b"\n" for line in APACHE[400:600]))
                await records(emit, 600)
    old, new = emit.streams()
    assert emit.data(old) == APACHE[:400]  # the old inode read to its end
    assert emit.data(new) == APACHE[400:600]  # the new one from its start
    last_old = max(i for i, b in enumerate(emit.batches) if b.stream == old)
    assert all(b.stream == new for b in emit.batches[last_old + 1 :])
    assert next(b.first_seq for b in emit.batches if b.stream == new) == 0
    check_batches(emit.batches)


async def test_copytruncate_reads_the_file_again_from_the_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "app.log"
    append(log, AUTH[:200])
    emit = Collector()
    with caplog.at_level(logging.WARNING, "tests.file_tail"):
        async with running(source(tmp_path, "app.log"), emit):
            await records(emit, 200)
            shutil.copy(log, tmp_path / "app.log.1")
            with open(log, "r+b") as f:  # logrotate's copytruncate: same inode, emptied
                f.truncate(0)
            append(log, AUTH[200:250])  # shorter than what was read
            await records(emit, 250)
            with open(log, "r+b") as f:  # again, now growing past the old position at once
                f.truncate(0)
                f.write(b"".join(line + b"\n" for line in APACHE[:300]))
            await records(emit, 550)
    first, second, third = emit.streams()
    assert emit.data(first) == AUTH[:200]
    assert emit.data(second) == AUTH[200:250]
    assert emit.data(third) == APACHE[:300]
    check_batches(emit.batches)
    assert next(b.first_seq for b in emit.batches if b.stream == third) == 0
    warned = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warned) == 2 and all(r.path == str(log) for r in warned)  # type: ignore[attr-defined]


async def test_a_rotated_files_last_partial_line_is_shipped_once_inactive(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(line + b"\n" for line in AUTH[:3]) + AUTH[3][:30])
    emit = Collector()
    async with running(source(tmp_path, "app.log", close_inactive_s=0.15), emit):
        await records(emit, 3)
        os.rename(log, tmp_path / "gone.log")
        await records(emit, 4)
    assert emit.data() == [*AUTH[:3], AUTH[3][:30]]
    check_batches(emit.batches)
    assert emit.batches[-1].checkpoint["offset"] == (tmp_path / "gone.log").stat().st_size


async def test_closes_inactive_files_and_reopens_them_when_they_grow(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, AUTH[:50])
    emit = Collector()
    async with running(source(tmp_path, "app.log", close_inactive_s=0.1), emit):
        await records(emit, 50)
        await until(lambda: fds_on(log) == 0)
        append(log, AUTH[50:60])
        await records(emit, 60)
        assert fds_on(log) == 1
    assert fds_on(log) == 0  # stopping closes it
    assert emit.data() == AUTH[:60] and len(emit.streams()) == 1
    check_batches(emit.batches)


async def test_start_at_end_reads_only_what_comes_next(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, AUTH[:100])
    size = log.stat().st_size
    emit = Collector()
    async with running(source(tmp_path, "*.log", start_at="end"), emit):
        await asyncio.sleep(5 * SCAN)
        append(log, AUTH[100:110])
        append(tmp_path / "new.log", APACHE[:5])  # created after the start: read whole
        await records(emit, 15)
    assert sorted(emit.data()) == sorted(AUTH[100:110] + APACHE[:5])
    tail = next(b.stream for b in emit.batches if b.records[0].data == AUTH[100])
    assert tail.endswith(f"@{size}")
    assert {b.first_seq for b in emit.batches} == {0}


# -- restarts ------------------------------------------------------------------------------


async def test_restart_resumes_after_the_last_commit_with_the_same_numbers(
    tmp_path: Path,
) -> None:
    log = tmp_path / "auth.log"
    append(log, AUTH[:1600])
    first = Collector()
    src = source(tmp_path, "auth.log")
    async with running(src, first):
        await records(first, 1600)
        for b in first.batches[:2]:  # the destination acknowledged 1000 lines
            await src.commit(b.stream, b.checkpoint)
    (stream,) = first.streams()
    state = Registry(tmp_path / "registry").load("files")
    assert state["files"][stream]["offset"] == sum(len(x) + 1 for x in AUTH[:1000])
    assert state["files"][stream]["seq"] == 1000

    append(log, AUTH[1600:1700])
    again = Collector()
    async with running(source(tmp_path, "auth.log"), again):
        await records(again, 700)
    assert again.streams() == [stream]
    assert again.batches[0].first_seq == 1000
    assert again.data() == AUTH[1000:1700]
    assert again.records()[:600] == first.records()[1000:]  # re-read with the same numbers
    check_batches(again.batches)


async def test_restart_follows_a_file_renamed_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, APACHE[:120])
    first = Collector()
    src = source(tmp_path, "app.log*")
    async with running(src, first):
        await records(first, 120)
        await src.commit(first.batches[0].stream, first.batches[0].checkpoint)
    os.rename(log, tmp_path / "app.log.1")
    append(tmp_path / "app.log.1", APACHE[120:130])
    append(log, APACHE[200:205])
    again = Collector()
    async with running(source(tmp_path, "app.log*"), again):
        await records(again, 15)
    old, new = again.streams()
    assert old == first.streams()[0]
    assert again.data(old) == APACHE[120:130]
    assert again.batches[0].first_seq == 120
    assert again.data(new) == APACHE[200:205]


async def test_a_new_content_in_a_known_inode_is_a_new_stream(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, AUTH[:100])
    ino = log.stat().st_ino
    first = Collector()
    src = source(tmp_path, "app.log")
    async with running(src, first):
        await records(first, 100)
        await src.commit(first.batches[-1].stream, first.batches[-1].checkpoint)
    # While stopped, the inode is given other lines, longer than the position saved:
    # to the tailer it is what a new file reusing the inode looks like.
    with open(log, "r+b") as f:
        f.truncate(0)
        f.write(b"".join(line + b"\n" for line in APACHE[:300]))
    assert log.stat().st_ino == ino
    again = Collector()
    src = source(tmp_path, "app.log")
    async with running(src, again):
        await records(again, 300)
        await src.commit(again.batches[-1].stream, again.batches[-1].checkpoint)
    assert again.data() == APACHE[:300]
    assert again.streams() != first.streams() and again.batches[0].first_seq == 0
    saved = Registry(tmp_path / "registry").load("files")["files"]
    assert list(saved) == again.streams()  # the old content's entry replaced


async def test_a_rewrite_with_the_same_first_line_keeps_numbering(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, AUTH[:100])
    first = Collector()
    src = source(tmp_path, "app.log")
    async with running(src, first):
        await records(first, 100)
        await src.commit(first.batches[-1].stream, first.batches[-1].checkpoint)
    with open(log, "r+b") as f:  # same header line, then other lines
        f.truncate(0)
        f.write(b"".join(line + b"\n" for line in [AUTH[0], *APACHE[:300]]))
    again = Collector()
    async with running(source(tmp_path, "app.log"), again):
        await records(again, 301)
    assert again.streams() == first.streams()
    assert again.data() == [AUTH[0], *APACHE[:300]]
    assert again.batches[0].first_seq == 100  # numbers go on: no clash with the old lines


async def test_registry_entries_of_files_gone_are_removed(tmp_path: Path) -> None:
    append(tmp_path / "a.log", AUTH[:5])
    append(tmp_path / "b.log", APACHE[:5])
    emit = Collector()
    src = source(tmp_path, "*.log", close_inactive_s=0.05)
    src.forget_after_s = 0.1
    registry = Registry(tmp_path / "registry")
    async with running(src, emit):
        await records(emit, 10)
        for b in emit.batches:
            await src.commit(b.stream, b.checkpoint)
        assert len(registry.load("files")["files"]) == 2
        (tmp_path / "a.log").unlink()
        await until(lambda: len(registry.load("files")["files"]) == 1)
    (kept,) = registry.load("files")["files"].values()
    assert kept["path"] == str(tmp_path / "b.log")


# -- backpressure ----------------------------------------------------------------------------


async def test_a_blocked_emit_stops_reading(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    append(log, AUTH[:2000])
    append(tmp_path / "other.log", APACHE[:10])  # waits its turn meanwhile
    emit = Collector()
    emit.gate.clear()  # the spool is full
    async with running(source(tmp_path, "*.log", close_inactive_s=0.05), emit):
        await until(lambda: len(emit.batches) == 1)
        append(log, AUTH[2000:2100])
        await asyncio.sleep(0.2)
        assert len(emit.batches) == 1
        emit.gate.set()
        await records(emit, 2110)
    assert emit.most_inside == 1
    auth = next(b.stream for b in emit.batches if b.records[0].data == AUTH[0])
    assert emit.data(auth) == AUTH[:2100]
    assert sorted(emit.data()) == sorted(AUTH[:2100] + APACHE[:10])
    check_batches(emit.batches)
