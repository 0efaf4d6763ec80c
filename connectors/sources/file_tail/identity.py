"""What identifies a followed file and its stream: the hash of its first bytes.

A file's stream is named by the SHA-256 of its first line (:func:`first_line`); its
checkpoint keeps the hash of its first ``fp_len`` bytes (at most
:data:`FP_BYTES`), checked again (:func:`same_start`) when it is reopened or
resumed from the registry, to notice that it was rewritten meanwhile.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

FP_BYTES = 1024
"""The first bytes of a file that identify it (its first line, when shorter, names it)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def first_line(fd: int, *, final: bool = False) -> bytes | None:
    """The file's first line with its LF (at most FP_BYTES); None while it may still change."""
    data = os.pread(fd, FP_BYTES, 0)
    lf = data.find(b"\n")
    if lf >= 0:
        return data[: lf + 1]
    return data if len(data) >= FP_BYTES or (final and data) else None


def same_start(fd: int, fp: str, fp_len: int) -> bool:
    """Whether the file still starts with the ``fp_len`` bytes that hashed to ``fp``."""
    if fp_len == 0:
        return True  # nothing known of it yet
    data = os.pread(fd, fp_len, 0)
    return len(data) == fp_len and digest(data) == fp


def line_end(fd: int, size: int) -> int:
    """Where reading from the end starts: after the last LF of the last 64 KiB."""
    n = min(size, 1 << 16)
    lf = os.pread(fd, n, size - n).rfind(b"\n")
    if lf >= 0:
        return size - n + lf + 1
    return 0 if n == size else size


def valid_checkpoint(cp: Any) -> bool:
    """Whether a registry entry has every field a checkpoint has, of its type."""
    ints = ("dev", "ino", "offset", "seq", "fp_len")
    return (
        isinstance(cp, dict)
        and all(isinstance(cp.get(k), int) for k in ints)
        and isinstance(cp.get("fp"), str)
        and isinstance(cp.get("path"), str)
    )
