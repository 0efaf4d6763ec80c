"""Finished Windows event files, read once each: .evtx, exported .json/.ndjson, .zip of those.

    src = WindowsFilesSource(cfg, ctx)   # cfg: connectors.config.WindowsFilesSource
    await src.run(emit)                  # Batch(kind="line", stream="803:1835:5e1b0c9a77d2f310",
                                         #       first_seq=n, records=[Frame(b'{"Event":...}')],
                                         #       checkpoint={"records": ..., "done": ...})

Every ``scan_interval_s`` the ``paths`` globs are expanded (``**`` allowed);
a file of a kind :mod:`soc.ingest.readers` reads (``.evtx``, ``.json``,
``.jsonl``, ``.ndjson``, any of those gzipped, ``.zip``) is read once it has
not changed (size, mtime) between two scans, with
:func:`soc.ingest.readers.read_file` in a worker thread. Each record becomes
one frame, the record as compact JSON, for the ``windows-json`` parser; an
item the reader could not read (a refused EVTX record, a line that is not
JSON, a bad zip) becomes a frame holding its text (``<file>: record <n>:
<error>``), so the agent ships an error event for it. Records go out in
batches of at most 500 records or 1 MiB.

A file's stream is ``<dev>:<inode>:<16 hex>``, the hex from the SHA-256 of its
size, its mtime and its first 4 KiB: a file changed after it was read is a
new stream and is read again whole. ``seq`` is the record's number in the
file, from 0, error items included.

State, saved in the registry only by :meth:`WindowsFilesSource.commit`::

    {"version": 1, "files": {"803:1835:5e1b0c9a77d2f310": {
        "path": "/data/case-42/host1.evtx", "dev": 2051, "ino": 1835,
        "size": 69632, "mtime_ns": 1732456000000000000, "records": 500, "done": false}}}

``records`` is how many records of the file are acknowledged and ``done``
whether that is all of them. After a restart a file resumes at record
``records`` (the records before it are read again, not sent); a done file
is not read again. An entry whose file has not been seen for
``forget_after_s`` (a day) is removed.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.config import WindowsFilesSource as WindowsFilesConfig
from connectors.parse.framing import Frame
from connectors.sources.base import Absences, Batch, Emit, Source, SourceContext, Unreadable
from soc.ingest.readers import SUFFIXES, ReadItem, read_file

BATCH_RECORDS = 500
BATCH_BYTES = 1 << 20
ID_BYTES = 4096
"""The first bytes of a file hashed into its stream name."""
FORGET_AFTER_S = 24 * 3600.0

_KINDS = tuple(SUFFIXES) + tuple(s + ".gz" for s in SUFFIXES if s != ".zip")

_Sig = tuple[int, int, int, int]
"""A file's device, inode, size and mtime (ns) at a scan."""


def _frame(item: ReadItem) -> Frame:
    if item.record is not None:
        data = json.dumps(item.record, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        data = f"{item.source}: record {item.position}: {item.error}".encode()
    return Frame(data, None, len(data))


def _valid(cp: Any) -> bool:
    ints = ("dev", "ino", "size", "mtime_ns", "records")
    return (
        isinstance(cp, dict)
        and all(isinstance(cp.get(k), int) for k in ints)
        and isinstance(cp.get("done"), bool)
    )


def _take(items: Iterator[ReadItem], n: int) -> list[ReadItem]:
    """Up to ``n`` items (in a worker thread: parsing blocks)."""
    out: list[ReadItem] = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out


class WindowsFilesSource(Source):
    """Finished event files, each read once; see the module docstring."""

    config: WindowsFilesConfig
    forget_after_s: float = FORGET_AFTER_S

    def __init__(self, config: WindowsFilesConfig, ctx: SourceContext) -> None:
        super().__init__(config, ctx)
        self._committed: dict[str, dict[str, Any]] = {}
        self._absent = Absences()
        self._names: dict[_Sig, str] = {}
        self._unreadable = Unreadable(self.name, ctx.log)

    async def run(self, emit: Emit) -> None:
        files = self.ctx.registry.load(self.name).get("files", {})
        self._committed = {s: cp for s, cp in files.items() if _valid(cp)}
        sent: set[str] = set()  # streams whose every record was emitted in this run
        before: dict[str, _Sig] = {}
        while True:
            now = self._scan()
            for path, sig in now.items():
                stream = self._names.get(sig)
                if before.get(path) != sig or stream is None or stream in sent:
                    continue  # new or changed since the last scan: not finished yet
                cp = self._committed.get(stream)
                if cp is None or not cp["done"]:
                    await self._read(path, sig, stream, cp["records"] if cp else 0, emit)
                sent.add(stream)
            before = now
            self._forget(set(self._names.values()))
            await asyncio.sleep(self.config.scan_interval_s)

    async def commit(self, stream: str, checkpoint: Any) -> None:
        cp = dict(checkpoint)
        same_inode = [
            s
            for s, c in self._committed.items()
            if s != stream and (c.get("dev"), c.get("ino")) == (cp["dev"], cp["ino"])
        ]
        for s in same_inode:  # the file's earlier version
            del self._committed[s]
        self._committed[stream] = cp
        self._absent.present(stream)
        self.ctx.registry.save(self.name, {"version": 1, "files": self._committed})

    def _scan(self) -> dict[str, _Sig]:
        """The files the globs match now, with their signatures; names the new ones."""
        out: dict[str, _Sig] = {}
        paths = {p for pattern in self.config.paths for p in glob.glob(pattern, recursive=True)}
        for path in sorted(paths):
            if not path.lower().endswith(_KINDS):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out[path] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        names = {}
        for path, sig in out.items():
            name = self._names.get(sig) or self._name(path, sig)
            if name is not None:
                names[sig] = name
        self._names = names
        return out

    def _name(self, path: str, sig: _Sig) -> str | None:
        try:
            with open(path, "rb") as f:
                head = f.read(ID_BYTES)
        except OSError as e:
            self._unreadable.failed(path, e)
            return None
        self._unreadable.opened(path)
        dev, ino, size, mtime_ns = sig
        digest = hashlib.sha256(b"%d:%d:" % (size, mtime_ns) + head).hexdigest()
        return f"{dev:x}:{ino}:{digest[:16]}"

    async def _read(self, path: str, sig: _Sig, stream: str, start: int, emit: Emit) -> None:
        """Emit the records of one file from record ``start``; the last batch says done."""
        dev, ino, size, mtime_ns = sig
        again = any(
            s != stream and (c["dev"], c["ino"]) == (dev, ino) for s, c in self._committed.items()
        )
        self.ctx.log.info(
            "file changed since it was read; reading it again" if again else "reading file",
            extra={"source": self.name, "path": path, "stream": stream, "from_record": start},
        )
        items = read_file(Path(path))
        seq = 0
        records: list[Frame] = []
        first = nbytes = 0

        async def send(done: bool) -> None:
            cp: dict[str, Any] = {"path": path, "dev": dev, "ino": ino, "size": size}
            cp.update(mtime_ns=mtime_ns, records=first + len(records), done=done)
            await emit(Batch(self.name, stream, first, records, "line", checkpoint=cp))

        while chunk := await asyncio.to_thread(_take, items, BATCH_RECORDS):
            for item in chunk:
                seq += 1
                if seq <= start:
                    continue
                if len(records) >= BATCH_RECORDS or nbytes >= BATCH_BYTES:
                    await send(False)  # only now: the last batch of a file is marked done
                    records, nbytes = [], 0
                if not records:
                    first = seq - 1
                frame = _frame(item)
                records.append(frame)
                nbytes += len(frame.data)
        if records:
            await send(True)

    def _forget(self, live: set[str]) -> None:
        """Remove the registry entries of files not seen for ``forget_after_s``."""
        stale = self._absent.gone_for(list(self._committed), live, self.forget_after_s)
        for s in stale:
            del self._committed[s]
        if stale:
            self.ctx.registry.save(self.name, {"version": 1, "files": self._committed})
