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


def loads(data: bytes) -> Any:
    """Parse one JSON document; exact for integers of any size."""
    value = orjson.loads(data)
    return json.loads(data) if _has_huge_float(value) else value


def _has_huge_float(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if type(v) is dict:
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)
        elif type(v) is float and abs(v) >= _HUGE:
            return True
    return False


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: one spelling per JSON value."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers beyond 64 bits, which only the standard library writes
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
