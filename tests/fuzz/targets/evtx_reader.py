"""Windows EVTX files, plain or in a zip or gzip, as ``soc hunt`` and the connector's
windows_files source read them (soc.ingest.readers, evtx-rs underneath); each record made
an event (Windows' System/EventData to Sigma's field names, soc.ingest.windows)."""

from __future__ import annotations

from tests.fuzz.targets._common import pick
from tests.fuzz.targets._readers import read_as


def fuzz_one(data: bytes) -> None:
    name, rest = pick(data, ("f.evtx", "f.evtx", "f.evtx", "f.zip", "f.evtx.gz"))
    read_as(rest, name)
