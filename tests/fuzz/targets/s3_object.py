"""An S3 object's bytes: gunzipped within a size limit (connectors.sources.s3.inflate),
Unreadable when it cannot be, then parsed as the source's format. Checks that the output
never passes the limit (a gzip bomb stays bounded)."""

from __future__ import annotations

import zlib

from connectors.errors import Unreadable
from connectors.parse import parse
from connectors.sources.s3.inflate import ERROR_HEAD_BYTES, inflate
from tests.fuzz.targets._common import DEFAULTS, Finding, check_events, pick

LIMIT = 1 << 16


def fuzz_one(data: bytes) -> None:
    gz_name, rest = pick(data, (False, True))
    step, rest = pick(rest, (1, 7, 100, 4096))
    format, rest = pick(rest, ("cloudtrail", "json", "auto"))
    if gz_name and rest[:1] == b"!":  # reach the gzip path with a real gzip of the rest
        rest = zlib.compress(rest[1:], wbits=31)
    chunks = iter([rest[i : i + step] for i in range(0, len(rest), step)])
    try:
        body = inflate(chunks, gz_name=gz_name, limit=LIMIT)
    except Unreadable as e:
        if len(e.head) > ERROR_HEAD_BYTES:
            raise Finding(f"an error record's head of {len(e.head)} bytes") from e
        return
    if len(body) > LIMIT:
        raise Finding(f"{len(body)} bytes out; the limit is {LIMIT}")
    check_events(parse(body, format=format, defaults=DEFAULTS))
