"""JSON at the pipeline's speed (orjson), with the standard library's exactness kept.

orjson reads integers beyond 64 bits as floats, which would alter a record; a
document in which orjson found a float of that size is therefore read again by
the standard library, which keeps such integers exact. Canonical JSON (sorted keys, compact,
UTF-8) is what event ids hash, so one record always has one spelling.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_HUGE = float(2**63)

JSONDecodeError = json.JSONDecodeError
"""Raised by :func:`loads` (orjson's error is a subclass of it)."""


def loads(data: bytes | str) -> Any:
    """Parse one JSON document; exact for integers of any size."""
    value = orjson.loads(data)
    return json.loads(data) if has_huge_float(value) else value


PLAIN = frozenset({str, int, bool, type(None)})
"""Value types that hold no float: a container of only these is passed over in one C call."""


def has_huge_float(value: Any) -> bool:
    """Whether orjson read a number of at least 2**63 in ``value`` (as a float), so that the
    standard library must read the document again to keep it exact."""
    if type(value) is not dict and type(value) is not list:
        return type(value) is float and abs(value) >= _HUGE
    stack = [value]
    while stack:
        v = stack.pop()
        items = v.values() if type(v) is dict else v
        if PLAIN.issuperset(map(type, items)):  # most records: strings and integers
            continue
        for item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append(item)
            elif kind is float and abs(item) >= _HUGE:
                return True
    return False


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: one spelling per JSON value."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits, which only the standard library writes
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(value: Any) -> bytes:
    """``canonical(value).encode()``, without the round trip through str (what ids hash)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical(value).encode()
