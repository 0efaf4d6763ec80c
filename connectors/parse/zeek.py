"""Zeek's logs (TSV with its ``#fields`` header, or JSON lines) as events; see soc.ingest.zeek.

    streams = ZeekStreams()
    reader = streams.reader(("zeek", "803:1835:9f2c41d07a3be815"), name="/opt/zeek/logs/conn.log")
    zeek_events(line, reader, defaults=d)   # [] for a header line, [EventIn] for a record

A TSV log is read with state: its header lines say how the lines after them
read, so a reader is kept per stream (one file), and header lines give no
event (they are not records; a ``#close`` neither). A data line that cannot
be read (no header before it, a wrong number of columns, a value not of its
type) gives an error event with the reason, as in every parser. The event's
logsource is ``product: zeek, service: <the log's path>``, its time the
record's ``ts``, its host the connector's (the sensor's), never a record's
address: see soc.ingest.zeek.

When a file is read again from the middle (after a restart), its source hands
the header lines in force there with the batch (``Batch.preamble``; the file
source keeps them in its checkpoint), so the reader is set up as if it had read
the file from its start.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Hashable, Iterable

from connectors.errors import ParseError
from connectors.parse._base import Defaults, Line, event
from soc.ingest.zeek import ZeekError, ZeekReader
from soc.models import EventIn

MAX_STREAMS = 1024
"""Readers kept (one per file being read); the least recently used is dropped beyond it.
Zeek rotates its logs hourly, so old streams stop coming and are forgotten."""

_KEPT = (b"#set_separator", b"#empty_field", b"#unset_field", b"#path", b"#fields", b"#types")
MAX_HEADER_LINES = 32
"""Header lines a source keeps for a stream (a Zeek header has about eight)."""


def zeek_events(line: Line, reader: ZeekReader, *, defaults: Defaults) -> list[EventIn]:
    """The event of one line ([] for a header line); ParseError when it is no record."""
    try:
        found = reader.line(line.text)
    except ZeekError as e:
        if str(e).startswith("not valid JSON"):
            raise ParseError("not_json", str(e)) from None
        raise ParseError("malformed", str(e)) from None
    if found is None:
        return []
    return [event(found.record, defaults=defaults, logsource=found.logsource, time=found.time)]


class ZeekStreams:
    """One reader per stream, bounded (least recently used dropped)."""

    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self._readers: OrderedDict[Hashable, ZeekReader] = OrderedDict()

    def reader(
        self, key: Hashable, *, name: str | None = None, preamble: Iterable[bytes] = ()
    ) -> ZeekReader:
        """The stream's reader; a new one first reads ``preamble`` (its header lines)."""
        reader = self._readers.get(key)
        if reader is None:
            reader = ZeekReader(name)
            self._readers[key] = reader
            while len(self._readers) > self.limit:
                self._readers.popitem(last=False)
        else:
            self._readers.move_to_end(key)
        for raw in preamble:
            text = raw.decode("utf-8", "replace")
            if text.startswith("#"):
                with contextlib.suppress(ZeekError):  # its error event was shipped when read
                    reader.line(text)
        return reader


def keep_header(header: list[bytes], line: bytes) -> None:
    """Update a stream's header lines with one line read (a source's bookkeeping).

    ``#separator`` starts a new header (logs concatenated); ``#open`` and ``#close``
    are not needed to read what follows and are not kept.
    """
    if line.startswith(b"#separator "):
        header[:] = [line]
    elif line.startswith(_KEPT) and len(header) < MAX_HEADER_LINES:
        header.append(line)
