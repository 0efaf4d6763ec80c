"""Write and verify an evidence bundle: a zip of files plus ``manifest.json``.

The manifest lists every file with its size and SHA-256, and carries its own
SHA-256 over the file list, so a verifier needs nothing but the zip: a file
changed, added or removed, or a manifest edited, fails verification. Someone
who rewrites files and manifest together is caught only by an outside anchor:
the audit trail records each export's ``files_sha256``.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError

from soc.models import UtcDatetime, canonical_json

MANIFEST = "manifest.json"
_UNREADABLE = (
    zipfile.BadZipFile,
    OSError,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)
"""What reading a damaged member raises: a bad CRC, a broken header, broken deflate data,
a compression method zipfile does not know (NotImplementedError), a flag saying the member
is encrypted (RuntimeError), a name that is not UTF-8 (ValueError)."""
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Zip entries carry no wall-clock time, so the same content gives the same bytes."""


class FileEntry(BaseModel):
    path: str
    size: int
    sha256: str


class Manifest(BaseModel):
    bundle: str
    """What the bundle holds, e.g. ``incident:<id>``."""
    created: UtcDatetime
    created_by: str
    files: list[FileEntry]
    files_sha256: str
    """SHA-256 over the canonical JSON of ``files``."""


class BundleReport(BaseModel):
    ok: bool
    files: int
    problems: list[str]


def _files_digest(files: list[FileEntry]) -> str:
    body = canonical_json([f.model_dump() for f in files])
    return hashlib.sha256(body.encode()).hexdigest()


def write_bundle(
    target: Path | IO[bytes],
    *,
    bundle: str,
    created: datetime,
    created_by: str,
    files: Mapping[str, bytes],
) -> Manifest:
    """Write ``files`` (path in the zip -> content) and the manifest to ``target``
    (a path, or a binary file such as ``io.BytesIO`` for a download)."""
    if MANIFEST in files:
        raise ValueError(f"{MANIFEST} is written by the bundle itself")
    entries = [
        FileEntry(path=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        for name, data in sorted(files.items())
    ]
    manifest = Manifest(
        bundle=bundle,
        created=created,
        created_by=created_by,
        files=entries,
        files_sha256=_files_digest(entries),
    )
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted(files.items()):
            z.writestr(zipfile.ZipInfo(name, FIXED_ZIP_TIME), data)
        z.writestr(zipfile.ZipInfo(MANIFEST, FIXED_ZIP_TIME), manifest.model_dump_json(indent=2))
    return manifest


def verify_bundle(source: Path | bytes) -> BundleReport:
    """Check every file against the manifest, and the manifest against itself."""
    problems: list[str] = []
    try:
        z = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except _UNREADABLE as e:
        return BundleReport(ok=False, files=0, problems=[f"not a readable zip: {e}"])
    with z:
        names = set(z.namelist())
        if MANIFEST not in names:
            return BundleReport(ok=False, files=0, problems=[f"{MANIFEST} is missing"])
        try:
            manifest = Manifest.model_validate_json(z.read(MANIFEST))
        except _UNREADABLE as e:
            return BundleReport(ok=False, files=0, problems=[f"{MANIFEST}: unreadable ({e})"])
        except ValidationError as e:
            return BundleReport(ok=False, files=0, problems=[f"{MANIFEST} is invalid: {e}"])
        if _files_digest(manifest.files) != manifest.files_sha256:
            problems.append(f"{MANIFEST} was edited: its file list does not match its hash")
        for entry in manifest.files:
            if entry.path not in names:
                problems.append(f"{entry.path}: missing")
                continue
            try:
                data = z.read(entry.path)
            except _UNREADABLE as e:  # a damaged member fails its CRC or its inflation
                problems.append(f"{entry.path}: unreadable ({e})")
                continue
            if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
                problems.append(f"{entry.path}: content does not match the manifest")
        listed = {e.path for e in manifest.files} | {MANIFEST}
        problems += [f"{extra}: not in the manifest" for extra in sorted(names - listed)]
    return BundleReport(ok=not problems, files=len(manifest.files), problems=problems)
