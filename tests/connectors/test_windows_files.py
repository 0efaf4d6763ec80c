"""The Windows files source on recorded files: EVTX, evtx_dump JSON, NDJSON in a zip.

The only stand-in is ``emit``, the agent boundary; the registry is a real one
in tmp_path. Files are SigmaHQ's regression data and the start of an OTRF
Security-Datasets export, copied into tmp_path.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path

from connectors.config import WindowsFilesSource as WindowsFilesConfig
from connectors.parse.dispatch import frame_events
from connectors.registry import Registry
from connectors.sources.base import Batch
from connectors.sources.windows_files import WindowsFilesSource
from tests.conftest import SHARED
from tests.connectors._sources import Collector, running, source_context, until

REGRESSION = (
    SHARED / "sigma/regression_data/rules-emerging-threats/2025/Malware/Shai-Hulud"
    "/proc_creation_win_mal_shai_hulud_malicious_node_bun_execution"
)
EVTX = REGRESSION / "5299fadf-f228-4526-8274-251db1960be9.evtx"
RECORD_IDS = [2455038, 2455115, 2455186, 2459203, 2459486, 2459542]
"""The EventRecordID of the EVTX file's six Sysmon process creations, in order."""
OTRF = SHARED / "datasets/otrf/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump.zip"
SCAN = 0.01


def otrf_lines(n: int) -> list[bytes]:
    """The first ``n`` lines of the OTRF export (one JSON event a line)."""
    with zipfile.ZipFile(OTRF) as z, z.open(z.infolist()[0]) as f:
        return [f.readline().rstrip(b"\r\n") for _ in range(n)]


LINES = otrf_lines(1200)


def compact(line: bytes) -> bytes:
    return json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")).encode()


async def records(emit: Collector, count: int) -> None:
    await until(lambda: len(emit.records()) >= count)
    await asyncio.sleep(3 * SCAN)  # and nothing more comes
    assert len(emit.records()) == count


def source(tmp_path: Path, *paths: str, scan: float = SCAN) -> WindowsFilesSource:
    cfg = WindowsFilesConfig(
        type="windows_files",
        name="win",
        paths=[str(tmp_path / p) for p in paths],
        scan_interval_s=scan,
    )
    ctx = source_context(tmp_path, run_id="run1", log="tests.windows_files")
    return WindowsFilesSource(cfg, ctx)


def check_batches(batches: Iterable[Batch]) -> None:
    """Per stream: records numbered from 0 with no gap; the last batch of a file is done."""
    nxt: dict[str, int] = {}
    for b in batches:
        assert b.first_seq == nxt.get(b.stream, b.first_seq)
        nxt[b.stream] = b.first_seq + len(b.records)
        assert (b.source, b.kind, b.checkpoint["records"]) == ("win", "line", nxt[b.stream])
        assert 1 <= len(b.records) <= 500
    done = {b.stream: b.checkpoint["done"] for b in batches}
    assert all(done.values()), done


def write_zip(path: Path, lines: list[bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metasploit_logonpasswords_lsass_memory_dump.json", b"\n".join(lines) + b"\n")


async def test_reads_a_regression_folder_evtx_and_its_json(tmp_path: Path) -> None:
    shutil.copytree(REGRESSION, tmp_path / "case")  # .evtx, .json, info.yml
    emit = Collector()
    async with running(source(tmp_path, "case/**"), emit):
        await records(emit, 12)
    check_batches(emit.batches)
    evtx, dump = emit.streams()  # sorted by path; info.yml passed over
    st = (tmp_path / "case" / EVTX.name).stat()
    assert evtx.startswith(f"{st.st_dev:x}:{st.st_ino}:")
    for stream in (evtx, dump):
        events = [json.loads(f.data)["Event"] for f in emit.records(stream)]
        assert [e["System"]["EventRecordID"] for e in events] == RECORD_IDS
        assert {e["EventData"]["ParentImage"] for e in events} >= {
            "C:\\Program Files\\nodejs\\node.exe"
        }
    assert emit.batches[0].checkpoint == {
        "path": str(tmp_path / "case" / EVTX.name),
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "records": 6,
        "done": True,
    }
    # What the agent does next: each frame is one windows-json event.
    (ev,) = frame_events(emit.records(evtx)[0], format="windows-json")
    assert "parse_error" not in ev.record
    assert ev.record["Event"]["EventData"]["CommandLine"].endswith("node setup_bun.js")


async def test_reads_ndjson_in_a_zip_in_batches(tmp_path: Path) -> None:
    write_zip(tmp_path / "dump.zip", LINES)
    emit = Collector()
    async with running(source(tmp_path, "*.zip"), emit):
        await records(emit, len(LINES))
    assert [f.data for f in emit.records()] == [compact(x) for x in LINES]
    assert len(emit.streams()) == 1 and [b.first_seq for b in emit.batches] == [0, 500, 1000]
    check_batches(emit.batches)
    assert [b.checkpoint["done"] for b in emit.batches] == [False, False, True]


async def test_a_restart_resumes_at_the_first_record_not_acknowledged(tmp_path: Path) -> None:
    write_zip(tmp_path / "dump.zip", LINES)
    first = Collector()
    src = source(tmp_path, "*.zip")
    async with running(src, first):
        await records(first, len(LINES))
        await src.commit(first.batches[0].stream, first.batches[0].checkpoint)
    again = Collector()
    src = source(tmp_path, "*.zip")
    async with running(src, again):
        await records(again, len(LINES) - 500)
        for b in again.batches:
            await src.commit(b.stream, b.checkpoint)
    assert again.streams() == first.streams()
    assert again.batches[0].first_seq == 500
    assert again.records() == first.records()[500:]  # the same records, the same numbers
    check_batches(again.batches)
    (saved,) = Registry(tmp_path / "registry").load("win")["files"].values()
    assert (saved["records"], saved["done"]) == (len(LINES), True)

    done = Collector()
    async with running(source(tmp_path, "*.zip"), done):
        await asyncio.sleep(6 * SCAN)
    assert done.batches == []  # a file read whole is not read again


async def test_an_unreadable_record_becomes_an_error_frame(tmp_path: Path) -> None:
    cut = LINES[2][: len(LINES[2]) // 2]  # a line cut off in the middle
    path = tmp_path / "export.ndjson"
    path.write_bytes(b"\n".join([*LINES[:2], cut, *LINES[3:5]]) + b"\n")
    emit = Collector()
    async with running(source(tmp_path, "*.ndjson"), emit):
        await records(emit, 5)
    frames = emit.records()
    assert [f.data for i, f in enumerate(frames) if i != 2] == [
        compact(x) for x in [*LINES[:2], *LINES[3:5]]
    ]
    assert frames[2].data.startswith(f"{path}: record 3: not valid JSON".encode())
    (ev,) = frame_events(frames[2], format="windows-json")
    assert ev.record["parse_error"] == "not_json"


async def test_a_file_is_read_once_it_stopped_changing(tmp_path: Path) -> None:
    path = tmp_path / "export.ndjson"
    path.write_bytes(b"".join(x + b"\n" for x in LINES[:100]))
    emit = Collector()
    async with running(source(tmp_path, "*.ndjson", scan=0.12), emit):
        for i in range(100, 400, 100):  # still being written
            await asyncio.sleep(0.03)
            with open(path, "ab") as f:
                f.write(b"".join(x + b"\n" for x in LINES[i : i + 100]))
        assert emit.batches == []
        await until(lambda: len(emit.records()) == 400)
    assert [f.data for f in emit.records()] == [compact(x) for x in LINES[:400]]
    check_batches(emit.batches)
