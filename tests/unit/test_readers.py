"""Reading records from files: every kind, and every failure reported, none dropped."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

from soc.ingest.readers import ReadItem, input_files, read_file, read_records

ROOT = Path(__file__).resolve().parents[2]
REGRESSION = ROOT.parent / "shared/sigma/regression_data"


def records(items: list[ReadItem]) -> list[object]:
    return [i.record for i in items if i.error is None]


def errors(items: list[ReadItem]) -> list[tuple[int, str]]:
    return [(i.position, i.error) for i in items if i.error is not None]


def test_json_forms(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{\n  "a": 1\n}\n')
    stream = (
        tmp_path / "stream.json"
    )  # SigmaHQ's regression data: pretty objects, one after another
    stream.write_text('{\n  "a": 1\n}\n{\n  "a": 2\n}\n')
    array = tmp_path / "array.json"
    array.write_text('[{"a": 1}, 2, {"a": 3}]')
    ndjson = tmp_path / "lines.json"
    ndjson.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert records(list(read_file(one))) == [{"a": 1}]
    assert records(list(read_file(stream))) == [{"a": 1}, {"a": 2}]
    items = list(read_file(array))
    assert records(items) == [{"a": 1}, {"a": 3}]
    assert errors(items) == [(2, "not a JSON object: a number")]
    assert [(i.position, i.record) for i in read_file(ndjson)] == [(1, {"a": 1}), (3, {"a": 2})]
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1}{"b": ')
    items = list(read_file(broken))
    assert records(items) == [{"a": 1}]
    assert len(errors(items)) == 1 and "not valid JSON" in errors(items)[0][1]


def test_ndjson_bad_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'{"a": 1}\r\nnot json\n[1]\n\xff\xfe\n{"a": 2}\n')
    items = list(read_file(path))
    assert records(items) == [{"a": 1}, {"a": 2}]
    assert [p for p, _ in errors(items)] == [2, 3, 4]
    assert all(i.source == str(path) for i in items)


def test_gzip_zip_and_folders(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "a.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n'))
    (tmp_path / "d" / "info.yml").write_text("passed over in a folder")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as inner:
        inner.writestr("deep.ndjson", '{"c": 3}\n')
    with zipfile.ZipFile(tmp_path / "d" / "b.zip", "w") as z:
        z.writestr("x/b.json", '[{"b": 2}]')
        z.writestr("x/readme.txt", "passed over in a zip")
        z.writestr("inner.zip", buffer.getvalue())
    items = list(read_records([tmp_path / "d"]))
    assert [(i.source.replace(str(tmp_path), ""), i.record) for i in items] == [
        ("/d/b.zip!inner.zip!deep.ndjson", {"c": 3}),
        ("/d/b.zip!x/b.json", {"b": 2}),
        ("/d/e/a.jsonl.gz", {"a": 1}),
    ]
    assert input_files([tmp_path / "d"]) == [tmp_path / "d/b.zip", tmp_path / "d/e/a.jsonl.gz"]


def test_files_that_cannot_be_read_say_so(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("x")
    bad_zip = tmp_path / "bad.zip"
    bad_zip.write_bytes(b"not a zip")
    bad_gz = tmp_path / "bad.ndjson.gz"
    bad_gz.write_bytes(b"not gzip")
    bad_evtx = tmp_path / "bad.evtx"
    bad_evtx.write_bytes(b"garbage" * 100)
    for path, words in [
        (text, "not a kind of file"),
        (bad_zip, "cannot read"),
        (bad_gz, "cannot read"),
        (bad_evtx, "not an EVTX file"),
        (tmp_path / "missing.json", "cannot open"),
    ]:
        [item] = list(read_file(path))
        assert item.record is None and item.error is not None and words in item.error, item


def test_evtx_records_and_a_damaged_one(tmp_path: Path) -> None:
    evtx = sorted(REGRESSION.rglob("*.evtx"))[0]
    items = list(read_file(evtx))
    assert items and all(i.error is None for i in items)
    assert items[0].position == 1
    assert items[0].record is not None and "System" in items[0].record["Event"]
    data = bytearray(evtx.read_bytes())
    data[4096 + 600 : 4096 + 664] = b"\xff" * 64  # inside the first record of the first chunk
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(data))
    items = list(read_file(damaged))
    assert errors(items), "a damaged record is reported"
    assert all("EVTX record refused" in why for _, why in errors(items))


def test_progress_counts_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(5000)))
    done: list[int] = []
    assert len(list(read_file(path, progress=done.append))) == 5000
    assert sum(done) == path.stat().st_size and len(done) > 1


SHARED = ROOT.parent / "shared/datasets"


def test_syslog_and_access_logs_are_read_as_the_connector_parses_them(tmp_path: Path) -> None:
    """A .log that is not Zeek's: syslog or an access log by its first line, as envelopes."""
    import os
    from collections import Counter
    from datetime import datetime

    auth = tmp_path / "auth.log"
    auth.write_bytes((SHARED / "linux/auth.log").read_bytes())
    written = datetime(2017, 12, 31, 12, 0).timestamp()
    os.utime(auth, (written, written))  # the year of "Mar 27 13:06:56" comes from it
    items = list(read_file(auth))
    assert errors(items) == [] and len(items) == 7121
    first = items[0].record
    assert first is not None and first["time"] == "2017-03-27T13:06:56Z"
    assert first["logsource"] == {"product": "linux", "service": "sshd"}
    services = Counter(i.record["logsource"]["service"] for i in items if i.record)
    assert services == {"sshd": 4095, "auth": 2469, "sudo": 557}
    failed = next(
        i.record["record"] for i in items if i.record and "Failed password" in str(i.record)
    )
    assert {"src_ip", "src_port", "user", "outcome"} <= failed.keys()
    # gzip-compressed and in a zip: the same records (a zip member's time is its own)
    (tmp_path / "auth.log.gz").write_bytes(gzip.compress(auth.read_bytes()))
    os.utime(tmp_path / "auth.log.gz", (written, written))
    assert list(read_file(tmp_path / "auth.log.gz")) == [
        ReadItem(str(tmp_path / "auth.log.gz"), i.position, i.record) for i in items
    ]
    with zipfile.ZipFile(tmp_path / "logs.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("var/auth.log", (2017, 12, 31, 12, 0, 0)), auth.read_bytes())
    assert records(list(read_file(tmp_path / "logs.zip"))) == records(items)
    web = tmp_path / "access.log"
    web.write_bytes((SHARED / "web/apache_access.log").read_bytes())
    got = list(read_file(web))
    assert errors(got) == [] and len(got) == 10_000
    assert {i.record["logsource"]["category"] for i in got if i.record} == {"webserver"}
    assert input_files([tmp_path]) == [
        tmp_path / "access.log",
        auth,
        tmp_path / "auth.log.gz",
        tmp_path / "logs.zip",
    ]
