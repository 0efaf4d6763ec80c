"""Files cut into pieces of work for `soc hunt --jobs N`, in input order.

    for piece in pieces(path):          # one file (or zip) named by soc.ingest.readers.input_files
        worker_items(piece)             # in a worker: the ReadItems read_file gives for that piece

Reading the pieces of a file one after another gives exactly the records
:func:`soc.ingest.readers.read_file` gives (same source, position, record or error), in the
same order, which is what keeps a hunt over many processes identical to a hunt over one:

- :class:`Lines`: a block of lines of a line format (NDJSON, JSONL, a ``.json`` whose
  first line is a whole object, syslog and web access logs), about :data:`BLOCK_BYTES` of
  them, with the number of its first line. These are what split a big file: its lines are
  read here (through gzip and zip as the reader reads them, ``for line in stream``) and
  shipped as bytes; a worker decodes, normalizes and matches them.
- :class:`Whole`: a file on disk the worker reads itself with ``read_file`` (EVTX; a file
  of no known kind or that cannot be opened, so that the worker says why).
- :class:`Data`: the bytes of a stream read whole (a zip member of EVTX, a Zeek log whose
  ``#fields`` header the lines need, a ``.json`` holding one value), read
  by the worker with the reader's own code.
- :class:`Items`: records already known here: why a stream could not be read.

The cutting mirrors soc.ingest.readers' ``read_stream``, ``_read_zip``, ``_read_log`` and
``_read_json`` branch for branch, and the worker runs their code on each piece; what
differs is only where the bytes are read.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, cast

from soc.ingest.readers import (
    ReadItem,
    decoded_item,
    file_kind,
    log_head,
    read_file,
    read_stream,
    read_text_lines,
    zeek_head,
    zeek_named,
)
from soc.ingest.textlogs import TextFormat, text_format

BLOCK_BYTES = 4 << 20
"""Bytes of lines in one :class:`Lines` piece: large enough that shipping it costs little
against matching it, small enough that a file of a few of them keeps every worker busy."""


@dataclass(frozen=True, slots=True)
class Whole:
    path: Path


@dataclass(frozen=True, slots=True)
class Data:
    source: str
    kind: tuple[str, bool]
    data: bytes
    modified: datetime | None


@dataclass(frozen=True, slots=True)
class Lines:
    source: str
    first: int
    """The number of the block's first line in its file (1-based)."""
    data: bytes
    """Whole lines, each ending in a newline (but the file's last one may not)."""
    text: TextFormat | None = None
    """Syslog or an access log (read with the connector's parsers); None: NDJSON."""
    modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class Items:
    items: tuple[ReadItem, ...]


Piece = Whole | Data | Lines | Items


def pieces(path: Path, *, block_bytes: int = BLOCK_BYTES) -> Iterator[Piece]:
    """The pieces of one file, in the order its records are read."""
    kind = file_kind(path.name)
    if kind is None or kind[0] == ".evtx":
        yield Whole(path)
        return
    try:
        stat = path.stat()
        stream = path.open("rb")
    except OSError:
        yield Whole(path)  # the worker's read_file says why, as one job would
        return
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    with stream:
        yield from _stream(stream, kind, str(path), modified, block_bytes)


def _stream(
    stream: IO[bytes],
    kind: tuple[str, bool],
    source: str,
    modified: datetime | None,
    block_bytes: int,
) -> Iterator[Piece]:
    """readers._read_stream, cut in pieces."""
    suffix, gz = kind
    try:
        if gz:
            with gzip.GzipFile(fileobj=stream) as inner:
                inner_stream = cast(IO[bytes], inner)
                yield from _stream(inner_stream, (suffix, False), source, modified, block_bytes)
        elif suffix == ".zip":
            yield from _zip(stream, source, block_bytes)
        elif suffix == ".log":
            yield from _log(stream, source, modified, block_bytes)
        elif suffix == ".json":
            yield from _json(stream, source, modified, block_bytes)
        elif suffix in (".jsonl", ".ndjson"):
            yield from _blocks(stream, [], source, block_bytes)
        else:  # .evtx under gzip: read whole, as the parser reads it
            yield Data(source, kind, stream.read(), modified)
    except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as e:
        yield Items((ReadItem(source, 0, error=f"cannot read: {e}"),))


def _zip(stream: IO[bytes], source: str, block_bytes: int) -> Iterator[Piece]:
    """readers._read_zip, cut in pieces."""
    with zipfile.ZipFile(stream) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            kind = file_kind(info.filename)
            if info.is_dir() or kind is None:
                continue
            member = f"{source}!{info.filename}"
            if kind[0] == ".log" and not kind[1]:
                with archive.open(info) as head:
                    if not log_head(head.readline(4096)):
                        continue
            try:
                opened = archive.open(info)
            except (OSError, RuntimeError, zipfile.BadZipFile, NotImplementedError) as e:
                yield Items((ReadItem(member, 0, error=f"cannot open member: {e}"),))
                continue
            modified = datetime(*info.date_time, tzinfo=UTC)
            with opened:
                if kind == (".evtx", False):  # as the reader: the parser seeks
                    yield Data(member, kind, opened.read(), modified)
                else:
                    yield from _stream(opened, kind, member, modified, block_bytes)


def _log(
    stream: IO[bytes], source: str, modified: datetime | None, block_bytes: int
) -> Iterator[Piece]:
    """readers._read_log: syslog and access logs in blocks; Zeek's (its header) whole."""
    first = stream.readline()
    fmt = None if zeek_head(first) else text_format(first)
    if fmt is None:  # Zeek's, or no log read here (the worker says so, as one job would)
        rest = b"" if not zeek_head(first) else stream.read()
        yield Data(source, (".log", False), first + rest, modified)
        return
    yield from _blocks(stream, [first], source, block_bytes, fmt, modified)


def _json(
    stream: IO[bytes], source: str, modified: datetime | None, block_bytes: int
) -> Iterator[Piece]:
    """readers._read_json: NDJSON (a whole object on line 1) in blocks; else whole."""
    head = stream.readline()
    try:
        first = json.loads(head) if head.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        first = None
    if isinstance(first, dict):
        yield from _blocks(stream, [head], source, block_bytes)
        return
    yield Data(source, (".json", False), head + stream.read(), modified)


def _blocks(
    stream: IO[bytes],
    head: list[bytes],
    source: str,
    block_bytes: int,
    text: TextFormat | None = None,
    modified: datetime | None = None,
) -> Iterator[Lines]:
    """``head`` (lines already read) and the stream's lines, as the reader iterates them
    (``for line in stream``), in blocks of about ``block_bytes``."""
    if isinstance(stream, zipfile.ZipExtFile):  # its readline is Python's: 5x slower
        yield from _member_blocks(stream, head, source, block_bytes, text, modified)
        return
    number, block, size = 1, list(head), sum(map(len, head))
    for line in stream:
        block.append(line)
        size += len(line)
        if size >= block_bytes:
            yield Lines(source, number, b"".join(block), text, modified)
            number, block, size = number + len(block), [], 0
    if block:
        yield Lines(source, number, b"".join(block), text, modified)


def _member_blocks(
    stream: IO[bytes],
    head: list[bytes],
    source: str,
    block_bytes: int,
    text: TextFormat | None,
    modified: datetime | None,
) -> Iterator[Lines]:
    """A zip member's lines in blocks, read a block at a time and cut after its last newline:
    the same lines as ``for line in stream``. (Only when the member fails its CRC check at
    its end are the lines reported before the failure fewer: those of the last block.)"""
    number, pending = 1, b"".join(head)
    while chunk := stream.read(block_bytes):
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a block goes on
            continue
        block, pending = pending[:cut], pending[cut:]
        yield Lines(source, number, block, text, modified)
        number += block.count(b"\n")
    if pending:
        yield Lines(source, number, pending, text, modified)


def piece_items(piece: Piece) -> Iterator[ReadItem]:
    """What ``read_file`` gives for this piece of the file (in a worker)."""
    if isinstance(piece, Whole):
        yield from read_file(piece.path)
    elif isinstance(piece, Items):
        yield from piece.items
    elif isinstance(piece, Data):
        yield from read_stream(io.BytesIO(piece.data), piece.kind, piece.source, piece.modified)
    elif piece.text is None:
        lines = _split(piece.data)
        numbered = enumerate(lines, start=piece.first)
        found = (decoded_item(line, piece.source, n) for n, line in numbered if line.strip())
        yield from zeek_named(found, piece.source)
    else:
        shift = piece.first - 1
        for item in read_text_lines(_split(piece.data), piece.text, piece.source, piece.modified):
            yield replace(item, position=item.position + shift)


def _split(data: bytes) -> list[bytes]:
    """The lines of a block as ``for line in stream`` gave them (each with its newline)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines
