"""The hunt's file readers (soc.ingest.readers) on a file of the input's bytes, and each
record they give made an event (soc.ingest.ndjson.object_event: an envelope or a bare
record, normalized), as ``soc hunt`` does (soc.hunt.files.hunt): an invalid envelope is a
pydantic ValidationError there, a record without what an event needs a NormalizeError."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pydantic import ValidationError

from soc.ingest.ndjson import object_event
from soc.ingest.normalize import NormalizeError
from soc.ingest.readers import ReadItem, read_file
from tests.fuzz.targets._common import NOW, Finding

_DIR = Path(tempfile.mkdtemp(prefix="soc-fuzz-"))


def read_as(data: bytes, name: str) -> list[ReadItem]:
    path = _DIR / f"{os.getpid()}-{name}"
    path.write_bytes(data)
    try:
        items = list(read_file(path))
    finally:
        path.unlink()
    for item in items:
        if item.record is None and item.error is None:
            raise Finding("a read item with neither a record nor an error")
        if item.record is not None:
            with contextlib.suppress(ValidationError, NormalizeError):
                object_event(item.record, tenant="t1", source=item.source, received=NOW)
    return items
