"""JSON and NDJSON files, plain, gzip or zip (Zeek JSON logs too, by name), and text .log
files (syslog, access logs, Zeek TSV), as ``soc hunt`` reads them (soc.ingest.readers);
each record made an event."""

from __future__ import annotations

from tests.fuzz.targets._common import pick
from tests.fuzz.targets._readers import read_as

NAMES = ("f.json", "f.ndjson", "f.jsonl", "conn.log", "f.log", "f.json.gz", "f.zip")


def fuzz_one(data: bytes) -> None:
    name, rest = pick(data, NAMES)
    read_as(rest, name)
