"""Records from files: EVTX, JSON, NDJSON, gzip and zip, and folders of them.

    for item in read_records([Path("case-42/"), Path("dump.zip")]):
        item.record      # the record (a dict), or None when item.error says why not
        item.source      # "case-42/host1.evtx", "dump.zip!logs/app.ndjson"
        item.position    # record number in an EVTX file, line or value number in JSON

What is read, by the name's ending (case-insensitive):

    .evtx                 Windows event log, with the ``evtx`` parser; each record
                          as the parser prints it (evtx_dump JSON)
    .jsonl .ndjson        one JSON object a line
    .json                 NDJSON when its first line is a whole object; else one
                          value, or several values one after another (as SigmaHQ's
                          regression data has them); a top-level array gives its items
    .log                  by its first line: Zeek's logs (soc.ingest.zeek): TSV with its
                          ``#fields`` header, or its JSON, one object a line; the log
                          (conn, dns, ...) is ``#path``, ``_path`` or the file name's first
                          part. Syslog (auth.log, /var/log/secure, messages) and web
                          access logs (Apache, nginx common/combined) are parsed as the
                          connector parses them (soc.ingest.textlogs); each record is the
                          connector's envelope (record, host, time, logsource). In a folder
                          or a zip, a .log that is none of these is passed over
    .gz                   any of the above, gzip-compressed (``x.ndjson.gz``)
    .zip                  every member of the above kinds, read from the archive
                          (never unpacked to disk); zips inside zips too

A JSON or NDJSON record without ``_path`` in a file named after one of Zeek's
standard logs (``http.json``, ``dns.ndjson``) is given the log's ``_path``, so that
it is routed as Zeek's.

A folder is read recursively, in sorted order; there, files of other kinds are
passed over (a regression folder's info.yml). A file named explicitly that is
of no known kind, a file or member that cannot be opened, a line that is not a
JSON object, and an EVTX record the parser refuses each become one item with
``error`` set: nothing is dropped without a word.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import lzma
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

import orjson
from evtx import PyEvtxParser

from soc import fastjson
from soc.ingest.textlogs import TextFormat, text_events, text_format
from soc.ingest.zeek import STANDARD_LOGS, ZeekError, ZeekReader, is_tsv_header, path_from_name

SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson", ".log", ".zip")
"""What is read (each also gzip-compressed, ``.gz``, except .zip)."""

Progress = Callable[[int], None]
"""Called with bytes of input done (of the files on disk), as reading goes on."""

_EVTX_MAX_FAILED = 1000
"""Records refused in a row after which the rest of an EVTX file is given up."""

_PROGRESS_EVERY = 512
"""Records between two progress reports."""
_UNREADABLE = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    gzip.BadGzipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
)
"""What reading a file's bytes may raise; zlib.error and LZMAError: a damaged deflate or
xz stream in a zip member; NotImplementedError: a zip of a version or compression zipfile
does not read (found by tests/fuzz)."""
NESTED_TOO_DEEPLY = "not valid JSON: nested too deeply"
"""Python's json decoder recurses: arrays or objects nested past its limit (about 1,000)."""

_MEMBER_BUFFER = 1 << 16
"""Bytes read at a time from a zip member (read line by line through a buffer)."""


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 0.8 µs more to make, per record
class ReadItem:
    """One record, or why one could not be read; ``source`` names the file (and member)."""

    source: str
    position: int
    record: dict[str, Any] | None = None
    error: str | None = None
    flat: bool = field(default=False, compare=False)
    """The record's values are all strings, integers, booleans or null (no object, list or
    float): found while reading it, so that normalizing need not look again."""


def file_kind(name: str) -> tuple[str, bool] | None:
    """(suffix, gzip-compressed) when the name is of a kind read here."""
    lower = name.lower()
    gz = lower.endswith(".gz")
    suffix = PurePosixPath(lower[:-3] if gz else lower).suffix
    if suffix not in SUFFIXES or (gz and suffix == ".zip"):
        return None
    return suffix, gz


def input_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files ``paths`` name: folders expanded recursively to files of a known kind."""
    out: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            out += sorted(
                p for p in given.rglob("*") if p.is_file() and file_kind(p.name) and _wanted(p)
            )
        else:
            out.append(given)
    return out


def _wanted(path: Path) -> bool:
    """In a folder: a .log file only when it is a log read here (its first line says so)."""
    kind = file_kind(path.name)
    if kind is None or kind[0] != ".log":
        return True
    try:
        with path.open("rb") as raw:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw) if kind[1] else raw)
            return log_head(stream.readline(4096))
    except (OSError, EOFError):
        return True  # read, so that why it cannot be is reported


def zeek_head(line: bytes) -> bool:
    text = line.decode("utf-8", "replace")
    return is_tsv_header(text) or text.lstrip().startswith("{")


def log_head(line: bytes) -> bool:
    return zeek_head(line) or text_format(line) is not None


def read_records(
    paths: Sequence[Path | str], *, progress: Progress | None = None
) -> Iterator[ReadItem]:
    """Every record of every file under ``paths``; see the module docstring."""
    for path in input_files(paths):
        yield from read_file(path, progress=progress)


def read_file(path: Path, *, progress: Progress | None = None) -> Iterator[ReadItem]:
    """Every record of one file; its size is reported to ``progress`` as it is read."""
    source = str(path)
    kind = file_kind(path.name)
    if kind is None:
        yield ReadItem(source, 0, error=f"not a kind of file read here ({', '.join(SUFFIXES)})")
        return
    try:
        stat = path.stat()
        stream = path.open("rb")
    except OSError as e:
        yield ReadItem(source, 0, error=f"cannot open: {e.strerror or e}")
        return
    size, done = stat.st_size, 0
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    with stream:
        if progress is None:
            yield from read_stream(stream, kind, source, modified)
            return
        for count, item in enumerate(read_stream(stream, kind, source, modified)):
            yield item
            if count % _PROGRESS_EVERY == 0:
                position = stream.tell()  # of the file on disk, also under gzip or zip
                if position > done:
                    progress(position - done)
                    done = position
    if progress is not None and size > done:
        progress(size - done)


def read_stream(
    stream: IO[bytes], kind: tuple[str, bool], source: str, modified: datetime | None
) -> Iterator[ReadItem]:
    """``modified``: when the file (or zip member) was last written, for year-less times."""
    suffix, gz = kind
    try:
        if gz:
            with gzip.GzipFile(fileobj=stream) as inner:
                yield from read_stream(cast(IO[bytes], inner), (suffix, False), source, modified)
        elif suffix == ".zip":
            yield from _read_zip(stream, source)
        elif suffix == ".evtx":
            yield from _read_evtx(stream, source)
        elif suffix == ".log":
            yield from _read_log(stream, source, modified)
        elif suffix == ".json":
            yield from zeek_named(_read_json(stream, source), source)
        else:
            yield from zeek_named(_read_ndjson(stream, source, first=1), source)
    except _UNREADABLE as e:
        yield ReadItem(source, 0, error=f"cannot read: {e}")


def _read_zip(stream: IO[bytes], source: str) -> Iterator[ReadItem]:
    with zipfile.ZipFile(stream) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            kind = file_kind(info.filename)
            if kind is None or info.is_dir():  # kind first: is_dir() fails on an empty name
                continue
            member = f"{source}!{info.filename}"
            if kind[0] == ".log" and not kind[1]:
                with archive.open(info) as head:
                    if not log_head(head.readline(4096)):
                        continue  # a .log of no kind read here, passed over as in a folder
            try:
                opened = archive.open(info)
            except (OSError, RuntimeError, zipfile.BadZipFile, NotImplementedError) as e:
                yield ReadItem(member, 0, error=f"cannot open member: {e}")
                continue
            modified = datetime(*info.date_time, tzinfo=UTC)
            with opened:
                if kind == (".evtx", False):  # the parser seeks; a member seeks slowly
                    yield from read_stream(io.BytesIO(opened.read()), kind, member, modified)
                else:  # a member's own readline is Python's, a buffered reader's is C's
                    buffered = io.BufferedReader(cast(Any, opened), _MEMBER_BUFFER)
                    yield from read_stream(cast(IO[bytes], buffered), kind, member, modified)


def _read_evtx(stream: IO[bytes], source: str) -> Iterator[ReadItem]:
    try:
        parser = PyEvtxParser(stream)
        records = iter(parser.records_json())
    except (RuntimeError, OSError) as e:
        yield ReadItem(source, 0, error=f"not an EVTX file: {e}")
        return
    position = failed = 0
    while failed < _EVTX_MAX_FAILED:
        position += 1
        try:
            raw = next(records)
        except StopIteration:
            return
        except (RuntimeError, OSError) as e:
            failed += 1
            yield ReadItem(source, position, error=f"EVTX record refused: {e}")
            continue
        failed = 0
        if isinstance(raw, dict):
            yield decoded_item(raw["data"], source, position)
        else:
            yield ReadItem(source, position, error="EVTX record without data")
    yield ReadItem(source, position, error="too many EVTX records refused in a row; rest not read")


def _read_log(stream: IO[bytes], source: str, modified: datetime | None) -> Iterator[ReadItem]:
    """A .log file: Zeek's, syslog or an access log by its first line, or why it is none."""
    first = stream.readline()
    rest = itertools.chain([first], stream)
    if zeek_head(first):
        yield from _read_zeek(rest, source)
        return
    fmt = text_format(first)
    if fmt is None:
        yield ReadItem(
            source,
            1,
            error="a .log file read here must be Zeek's (TSV or JSON), syslog or a web access log",
        )
        return
    yield from read_text_lines(rest, fmt, source, modified)


def read_text_lines(
    lines: Iterable[bytes], fmt: TextFormat, source: str, modified: datetime | None
) -> Iterator[ReadItem]:
    """Syslog or access-log lines: each the connector's envelope, or why it is not one."""
    for number, event in text_events(lines, fmt, reference=modified):
        error = event.record.get("parse_error")
        if error is not None:
            why = event.record.get("parse_error_detail") or error
            yield ReadItem(source, number, error=f"not a {fmt} line: {why}")
            continue
        yield ReadItem(source, number, record=event.model_dump(mode="json", exclude_none=True))


def _read_zeek(lines: Iterable[bytes], source: str) -> Iterator[ReadItem]:
    """A Zeek log, TSV or JSON lines: each record, or why a line is not one."""
    reader = ZeekReader(source)
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            continue
        try:
            found = reader.line(text)
        except ZeekError as e:
            yield ReadItem(source, number, error=str(e))
            continue
        if found is not None:
            yield ReadItem(source, number, record=found.record)


def zeek_named(items: Iterator[ReadItem], source: str) -> Iterator[ReadItem]:
    """JSON records of a file named after a Zeek log (``http.json``) given its ``_path``."""
    path = path_from_name(source)
    if path not in STANDARD_LOGS:
        yield from items
        return
    for item in items:
        record = item.record
        if record is not None and "_path" not in record and "ts" in record:
            record["_path"] = path
        yield item


def _read_ndjson(stream: IO[bytes], source: str, *, first: int) -> Iterator[ReadItem]:
    loads, huge, plain = orjson.loads, fastjson.has_huge_float, fastjson.PLAIN.issuperset
    for number, line in enumerate(stream, start=first):
        if line.isspace():  # no copy of the line, as strip() makes (lines are never empty)
            continue
        try:  # decoded_item's common case inline (a call less per record); the rest goes there
            value = loads(line)
        except orjson.JSONDecodeError:
            yield decoded_item(line, source, number)
            continue
        if type(value) is not dict:
            yield decoded_item(line, source, number)
        elif plain(map(type, value.values())):  # flat, and no float: most collected records
            yield ReadItem(source, number, value, flat=True)
        elif not huge(value):
            yield ReadItem(source, number, value)
        else:
            yield decoded_item(line, source, number)


def _read_json(stream: IO[bytes], source: str) -> Iterator[ReadItem]:
    head = stream.readline()
    try:
        first = json.loads(head) if head.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        first = None
    if isinstance(first, dict):  # a whole object on line 1: NDJSON
        yield ReadItem(source, 1, record=first)
        yield from _read_ndjson(stream, source, first=2)
        return
    try:
        text = (head + stream.read()).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        yield ReadItem(source, 0, error=f"not UTF-8 text: {e.reason} at byte {e.start}")
        return
    yield from _json_values(text, source)


def _json_values(text: str, source: str) -> Iterator[ReadItem]:
    """Values one after another; a top-level array stands for its items."""
    decoder = json.JSONDecoder()
    end, position = 0, 0
    while True:
        while end < len(text) and text[end].isspace():
            end += 1
        if end >= len(text):
            return
        try:
            value, end = decoder.raw_decode(text, end)
        except json.JSONDecodeError as e:
            rest = len(text) - e.pos
            yield ReadItem(
                source,
                position + 1,
                error=f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}; "
                f"the last {rest} characters are not read",
            )
            return
        except RecursionError:
            yield ReadItem(source, position + 1, error=f"{NESTED_TOO_DEEPLY}; the rest is not read")
            return
        for item in value if isinstance(value, list) else [value]:
            position += 1
            if isinstance(item, dict):
                yield ReadItem(source, position, record=item)
            else:
                yield ReadItem(source, position, error=f"not a JSON object: {_json_type(item)}")


def decoded_item(text: str | bytes, source: str, position: int) -> ReadItem:
    try:  # orjson first; what it refuses, the standard library reads (or explains) as before
        value = fastjson.loads(text)
    except fastjson.JSONDecodeError:
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return ReadItem(source, position, error=f"not valid JSON: {e}")
        except RecursionError:
            return ReadItem(source, position, error=NESTED_TOO_DEEPLY)
    if not isinstance(value, dict):
        return ReadItem(source, position, error=f"not a JSON object: {_json_type(value)}")
    return ReadItem(
        source, position, value, flat=fastjson.PLAIN.issuperset(map(type, value.values()))
    )


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
