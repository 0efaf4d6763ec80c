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
    .gz                   any of the above, gzip-compressed (``x.ndjson.gz``)
    .zip                  every member of the above kinds, read from the archive
                          (never unpacked to disk); zips inside zips too

A folder is read recursively, in sorted order; there, files of other kinds are
passed over (a regression folder's info.yml). A file named explicitly that is
of no known kind, a file or member that cannot be opened, a line that is not a
JSON object, and an EVTX record the parser refuses each become one item with
``error`` set: nothing is dropped without a word.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from evtx import PyEvtxParser

SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson", ".zip")
"""What is read (each also gzip-compressed, ``.gz``, except .zip)."""

Progress = Callable[[int], None]
"""Called with bytes of input done (of the files on disk), as reading goes on."""

_EVTX_MAX_FAILED = 1000
"""Records refused in a row after which the rest of an EVTX file is given up."""

_PROGRESS_EVERY = 512
"""Records between two progress reports."""


@dataclass(frozen=True, slots=True)
class ReadItem:
    """One record, or why one could not be read; ``source`` names the file (and member)."""

    source: str
    position: int
    record: dict[str, Any] | None = None
    error: str | None = None


def _kind(name: str) -> tuple[str, bool] | None:
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
            out += sorted(p for p in given.rglob("*") if p.is_file() and _kind(p.name))
        else:
            out.append(given)
    return out


def read_records(
    paths: Sequence[Path | str], *, progress: Progress | None = None
) -> Iterator[ReadItem]:
    """Every record of every file under ``paths``; see the module docstring."""
    for path in input_files(paths):
        yield from read_file(path, progress=progress)


def read_file(path: Path, *, progress: Progress | None = None) -> Iterator[ReadItem]:
    """Every record of one file; its size is reported to ``progress`` as it is read."""
    source = str(path)
    kind = _kind(path.name)
    if kind is None:
        yield ReadItem(source, 0, error=f"not a kind of file read here ({', '.join(SUFFIXES)})")
        return
    try:
        size = path.stat().st_size
        stream = path.open("rb")
    except OSError as e:
        yield ReadItem(source, 0, error=f"cannot open: {e.strerror or e}")
        return
    done = 0
    with stream:
        for count, item in enumerate(_read_stream(stream, kind, source)):
            yield item
            if progress is not None and count % _PROGRESS_EVERY == 0:
                position = stream.tell()  # of the file on disk, also under gzip or zip
                if position > done:
                    progress(position - done)
                    done = position
    if progress is not None and size > done:
        progress(size - done)


def _read_stream(stream: IO[bytes], kind: tuple[str, bool], source: str) -> Iterator[ReadItem]:
    suffix, gz = kind
    try:
        if gz:
            with gzip.GzipFile(fileobj=stream) as inner:
                yield from _read_stream(cast(IO[bytes], inner), (suffix, False), source)
        elif suffix == ".zip":
            yield from _read_zip(stream, source)
        elif suffix == ".evtx":
            yield from _read_evtx(stream, source)
        elif suffix == ".json":
            yield from _read_json(stream, source)
        else:
            yield from _read_ndjson(stream, source, first=1)
    except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as e:
        yield ReadItem(source, 0, error=f"cannot read: {e}")


def _read_zip(stream: IO[bytes], source: str) -> Iterator[ReadItem]:
    with zipfile.ZipFile(stream) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            kind = _kind(info.filename)
            if info.is_dir() or kind is None:
                continue
            member = f"{source}!{info.filename}"
            try:
                opened = archive.open(info)
            except (OSError, RuntimeError, zipfile.BadZipFile, NotImplementedError) as e:
                yield ReadItem(member, 0, error=f"cannot open member: {e}")
                continue
            with opened:
                if kind == (".evtx", False):  # the parser seeks; a member seeks slowly
                    yield from _read_stream(io.BytesIO(opened.read()), kind, member)
                else:
                    yield from _read_stream(opened, kind, member)


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
            yield _decoded(raw["data"], source, position)
        else:
            yield ReadItem(source, position, error="EVTX record without data")
    yield ReadItem(source, position, error="too many EVTX records refused in a row; rest not read")


def _read_ndjson(stream: IO[bytes], source: str, *, first: int) -> Iterator[ReadItem]:
    for number, line in enumerate(stream, start=first):
        if line.strip():
            yield _decoded(line, source, number)


def _read_json(stream: IO[bytes], source: str) -> Iterator[ReadItem]:
    head = stream.readline()
    try:
        first = json.loads(head) if head.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
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
        for item in value if isinstance(value, list) else [value]:
            position += 1
            if isinstance(item, dict):
                yield ReadItem(source, position, record=item)
            else:
                yield ReadItem(source, position, error=f"not a JSON object: {_json_type(item)}")


def _decoded(text: str | bytes, source: str, position: int) -> ReadItem:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return ReadItem(source, position, error=f"not valid JSON: {e}")
    if not isinstance(value, dict):
        return ReadItem(source, position, error=f"not a JSON object: {_json_type(value)}")
    return ReadItem(source, position, record=value)


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
