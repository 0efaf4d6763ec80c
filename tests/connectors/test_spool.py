"""The on-disk spool: order, durability across restarts, torn writes, and the size bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.spool import Entry, Spool

AUTH_LOG = Path(__file__).parents[2].parent / "shared" / "datasets" / "linux" / "auth.log"


def real_lines(n: int, start: int = 0) -> list[bytes]:
    with AUTH_LOG.open("rb") as f:
        lines = f.read().splitlines()
    return lines[start : start + n]


def entry(stream: str, first_seq: int, lines: list[bytes]) -> Entry:
    return Entry(
        source="auth",
        stream=stream,
        first_seq=first_seq,
        records=len(lines),
        events=len(lines),
        checkpoint={"offset": first_seq + len(lines)},
        body=b"".join(line + b"\n" for line in lines),
    )


def spool(path: Path, **kw: object) -> Spool:
    opts: dict[str, object] = {"max_bytes": 1 << 20, "segment_bytes": 4096, "fsync": "never"}
    opts.update(kw)
    return Spool(path, **opts)  # type: ignore[arg-type]


async def take_all(s: Spool) -> list[Entry]:
    out: list[Entry] = []
    while True:
        got = await s.take(max_events=1000, max_bytes=1 << 30, wait_s=0.05)
        if not got:
            return out
        out += got


async def test_entries_come_out_in_order_across_segments(tmp_path: Path) -> None:
    s = spool(tmp_path)
    lines = real_lines(400)
    for i in range(0, 400, 10):
        await s.put(entry("f1", i, lines[i : i + 10]))
    assert len(list(tmp_path.glob("*.seg"))) > 3, "small segments must roll"
    got = await take_all(s)
    assert [e.first_seq for e in got] == list(range(0, 400, 10))
    assert b"".join(e.body for e in got).splitlines() == lines
    assert s.pending_events() == 400
    s.ack(got)
    assert s.pending_events() == 0 and s.pending_bytes() == 0
    assert len(list(tmp_path.glob("*.seg"))) <= 1, "acknowledged segments are deleted"


async def test_take_respects_batch_limits(tmp_path: Path) -> None:
    s = spool(tmp_path)
    lines = real_lines(100)
    for i in range(0, 100, 10):
        await s.put(entry("f1", i, lines[i : i + 10]))
    first = await s.take(max_events=25, max_bytes=1 << 30)
    assert sum(e.events for e in first) == 30  # whole entries: stops once 25 is reached
    rest = await take_all(s)
    assert [e.first_seq for e in first + rest] == list(range(0, 100, 10))


async def test_restart_delivers_unacknowledged_entries_again(tmp_path: Path) -> None:
    s = spool(tmp_path)
    lines = real_lines(300)
    for i in range(0, 300, 30):
        await s.put(entry("f1", i, lines[i : i + 30]))
    got = await s.take(max_events=90, max_bytes=1 << 30)
    s.ack(got[:2])  # only the first two acknowledged
    s.close()

    again = spool(tmp_path)
    assert again.pending_events() == 240
    redelivered = await take_all(again)
    assert [e.first_seq for e in redelivered] == list(range(60, 300, 30))
    assert redelivered[0].checkpoint == {"offset": 90}


async def test_a_torn_last_entry_is_cut_and_the_rest_kept(tmp_path: Path) -> None:
    s = spool(tmp_path, segment_bytes=1 << 20)
    lines = real_lines(20)
    await s.put(entry("f1", 0, lines[:10]))
    await s.put(entry("f1", 10, lines[10:]))
    s.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    data = seg.read_bytes()
    seg.write_bytes(data[:-7])  # the agent died in the middle of the second write

    again = spool(tmp_path, segment_bytes=1 << 20)
    got = await take_all(again)
    assert [e.first_seq for e in got] == [0]
    assert again.pending_events() == 10
    await again.put(entry("f1", 10, lines[10:]))  # appends after the cut, readable
    got = await take_all(again)
    assert [e.first_seq for e in got] == [10]


async def test_a_full_spool_makes_put_wait_until_an_ack(tmp_path: Path) -> None:
    lines = real_lines(40)
    one = entry("f1", 0, lines[:20])
    s = spool(tmp_path, max_bytes=len(one.encode()) + 10)
    assert await s.put(one) == 0.0
    blocked = asyncio.create_task(s.put(entry("f1", 20, lines[20:])))
    await asyncio.sleep(0.2)
    assert not blocked.done(), "put must wait while the spool is full"
    assert s.is_full(100)
    got = await s.take(max_events=100, max_bytes=1 << 30)
    s.ack(got)
    waited = await asyncio.wait_for(blocked, 2)
    assert waited >= 0.15
    assert [e.first_seq for e in await take_all(s)] == [20]


async def test_an_entry_larger_than_the_spool_passes_when_empty(tmp_path: Path) -> None:
    s = spool(tmp_path, max_bytes=100)
    await asyncio.wait_for(s.put(entry("f1", 0, real_lines(50))), 1)
    assert s.pending_events() == 50


async def test_rewind_hands_out_unacknowledged_entries_again(tmp_path: Path) -> None:
    s = spool(tmp_path)
    lines = real_lines(30)
    for i in range(0, 30, 10):
        await s.put(entry("f1", i, lines[i : i + 10]))
    first = await s.take(max_events=10, max_bytes=1 << 30)
    s.ack(first)
    await s.take(max_events=100, max_bytes=1 << 30)
    s.rewind()  # the send failed
    assert [e.first_seq for e in await take_all(s)] == [10, 20]


async def test_wait_empty(tmp_path: Path) -> None:
    s = spool(tmp_path)
    await s.put(entry("f1", 0, real_lines(5)))
    assert not await s.wait_empty(0.05)
    got = await s.take(max_events=10, max_bytes=1 << 30)
    s.ack(got)
    assert await s.wait_empty(0.5)


async def test_acknowledged_segment_left_by_a_crash_is_removed(tmp_path: Path) -> None:
    s = spool(tmp_path, segment_bytes=2000)
    lines = real_lines(200)
    for i in range(0, 200, 10):
        await s.put(entry("f1", i, lines[i : i + 10]))
    got = await take_all(s)
    segs_before = sorted(p.name for p in tmp_path.glob("*.seg"))
    s.ack(got)
    s.close()
    # put a deleted segment back, as if the agent died between the ack and the unlink
    (tmp_path / segs_before[0]).write_bytes(b"")
    again = spool(tmp_path, segment_bytes=2000)
    assert again.pending_events() == 0
    await again.put(entry("f1", 200, real_lines(5, 200)))
    assert [e.first_seq for e in await take_all(again)] == [200]


async def test_a_segment_acknowledged_while_the_next_one_fills_does_not_stop_take(
    tmp_path: Path,
) -> None:
    # The sender took everything up to the end of a full segment; while it was sending,
    # a source's put rolled to a new segment; the ack then deleted the finished one.
    # take must go on from the new segment, not look for the deleted one.
    s = spool(tmp_path, segment_bytes=2000)
    lines = real_lines(60)
    seq = 0
    while s.pending_bytes() < 2000:
        await s.put(entry("f1", seq, lines[seq : seq + 10]))
        seq += 10
    sending = await s.take(max_events=1000, max_bytes=1 << 30)
    await s.put(entry("f1", seq, lines[seq : seq + 10]))
    s.ack(sending)
    assert len(list(tmp_path.glob("*.seg"))) == 1, "the finished segment is deleted"
    got = await s.take(max_events=1000, max_bytes=1 << 30, wait_s=0.1)
    assert [e.first_seq for e in got] == [seq]


async def test_a_waiting_take_gets_an_entry_while_the_source_goes_on(tmp_path: Path) -> None:
    # A source with data at hand puts entry after entry; the sender, waiting for
    # something to send, gets the first of them at once instead of after the source
    # stops for some other reason (a full spool, nothing left to read).
    s = spool(tmp_path, segment_bytes=1 << 20)
    lines = real_lines(100)
    taking = asyncio.create_task(s.take(max_events=1000, max_bytes=1 << 30))
    await asyncio.sleep(0.05)
    spooled_when_taken = None
    for i in range(0, 100, 10):
        await s.put(entry("f1", i, lines[i : i + 10]))
        if taking.done() and spooled_when_taken is None:
            spooled_when_taken = i // 10 + 1
    assert taking.done(), "the sender got nothing while the source was putting"
    assert spooled_when_taken is not None and spooled_when_taken < 10
    assert [e.first_seq for e in taking.result()] == [0]
