"""Reading an object's bytes: as they are, or gunzipped, within a size limit."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from connectors.errors import Unreadable

ERROR_HEAD_BYTES = 4096
"""Bytes of an unreadable object kept, in base64, in its error record."""

_GZIP = b"\x1f\x8b"


def inflate(chunks: Iterator[bytes], *, gz_name: bool, limit: int) -> bytes:
    """The object's bytes, gunzipped (every member) when gzip; Unreadable when not possible."""
    first = b""
    for chunk in chunks:
        first += chunk
        if len(first) >= 2:
            break
    head, raw = first[:ERROR_HEAD_BYTES], len(first)
    out = bytearray()
    if first[:2] != _GZIP:
        if gz_name:
            raise Unreadable("truncated", "a .gz object without the gzip magic", head, raw)
        out += first
        for chunk in chunks:
            out += chunk
            if len(out) > limit:
                head = bytes(out[:ERROR_HEAD_BYTES])
                raise Unreadable("too_large", f"over {limit} bytes", head, len(out))
        return bytes(out)
    inflater, started, raw = zlib.decompressobj(wbits=31), False, 0
    try:
        for chunk in _chain(first, chunks):
            raw += len(chunk)
            data = chunk
            while data:
                if not started:
                    data = data.lstrip(b"\0")  # zero padding between members, as gzip allows
                    if not data:
                        break
                started = True
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    detail = f"over {limit} bytes decompressed"
                    raise Unreadable("too_large", detail, bytes(out[:ERROR_HEAD_BYTES]), len(out))
                if inflater.eof:
                    data, inflater, started = inflater.unused_data, zlib.decompressobj(31), False
                else:
                    data = inflater.unconsumed_tail
    except zlib.error as e:
        raise Unreadable("truncated", f"bad gzip data: {e}", head, raw) from e
    if started:
        raise Unreadable("truncated", "gzip data cut off", head, raw)
    return bytes(out)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
