"""Backups of the SQLite store with SQLite's online backup API (:mod:`soc.store.backup`).

The store is one database file (``sqlite.path``; WAL mode). A backup copies it in one
step of ``sqlite3.Connection.backup``: a read transaction, so the copy is consistent
while the SOC keeps writing (in WAL mode a reader does not block writers). The copy is
written as ``<name>.db.part``, switched to a rollback journal (one self-contained file),
checked with ``PRAGMA integrity_check``, counted, then renamed to ``<name>.db`` beside
its manifest ``<name>.json``.

A restore checks the backup's integrity, refuses a target holding records unless told
to replace it (then first copies the target to ``<path>.replaced-<time>``), and copies
the backup into the target with the same API, which takes the target's locks like any
writer: no stale ``-wal`` file survives it.

sqlite3's exceptions become :class:`~soc.errors.BackupError` here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from soc.errors import BackupError, BackupNotFound, TargetNotEmpty
from soc.models import utcnow
from soc.settings import SqliteSettings
from soc.store.backup import AuditHead, Manifest, empty_counts
from soc.store.records import Kind

BUSY_TIMEOUT_S = 30.0


@contextmanager
def _connected(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path.resolve()}?mode=ro" if read_only else str(path)
    try:
        conn = sqlite3.connect(uri, uri=read_only, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as e:
        raise BackupError(f"sqlite: cannot open {path}: {e}") from e
    try:
        yield conn
    except sqlite3.Error as e:
        raise BackupError(f"sqlite: {path}: {e}") from e
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Records per type in an open database (zero for a table it lacks)."""
    found = empty_counts()
    tables = _tables(conn)
    for name in ("events", "alerts", "dead_letters"):
        if name in tables:
            found[name] = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    if "records" in tables:
        for kind, n in conn.execute("SELECT kind, count(*) FROM records GROUP BY kind"):
            found[kind] = n
    return found


def audit_head(conn: sqlite3.Connection) -> AuditHead | None:
    if "records" not in _tables(conn):
        return None
    row = conn.execute(
        "SELECT body FROM records WHERE kind = ? ORDER BY sort DESC, id DESC LIMIT 1",
        (Kind.audit.value,),
    ).fetchone()
    if row is None:
        return None
    doc = json.loads(row[0])["doc"]
    return AuditHead(seq=doc["seq"], hash=doc["hash"])


def _check(conn: sqlite3.Connection, path: Path) -> None:
    problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"sqlite: {path} fails its integrity check: {'; '.join(problems[:5])}")


def _manifest(conn: sqlite3.Connection, name: str, source: Path | str, now: datetime) -> Manifest:
    return Manifest(
        name=name,
        store="sqlite",
        time=now,
        source=str(source),
        counts=counts(conn),
        audit_head=audit_head(conn),
    )


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    """All of ``source`` into ``target``, in one step (one consistent read)."""
    source.backup(target)


def _backup(settings: SqliteSettings, name: str, now: datetime) -> Manifest:
    src = settings.path
    if not src.is_file():
        raise BackupError(f"sqlite: no database at {src}")
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    final = settings.backup_dir / f"{name}.db"
    if final.exists():
        raise BackupError(f"sqlite: {final} exists already")
    part = final.with_name(f"{name}.db.part")
    part.unlink(missing_ok=True)
    try:
        with _connected(src) as source, _connected(part) as target:
            _copy(source, target)
            target.execute("PRAGMA journal_mode = DELETE")
            _check(target, part)
            manifest = _manifest(target, name, src, now)
        part.rename(final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _manifest_path(final).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def _manifest_path(db: Path) -> Path:
    return db.with_suffix(".json")


def _backup_path(settings: SqliteSettings, name: str) -> Path:
    """Backup ``name`` in ``backup_dir``, or ``name`` itself when it is a path to a file."""
    given = Path(name)
    if given.suffix == ".db" and given.is_file():
        return given
    path = settings.backup_dir / f"{name}.db"
    if not path.is_file():
        raise BackupNotFound(f"sqlite: no backup {name!r} ({path} does not exist)")
    return path


def _restore(settings: SqliteSettings, name: str, replace: bool) -> Manifest:
    path = _backup_path(settings, name)
    target_path = settings.path
    with _connected(path, read_only=True) as source:
        _check(source, path)
        manifest = _manifest(source, path.stem, _source_of(path), _time_of(path))
        target_path.parent.mkdir(parents=True, exist_ok=True)
        with _connected(target_path) as target:
            held = counts(target)
            if any(held.values()):
                if not replace:
                    raise TargetNotEmpty(f"sqlite: {target_path}", held)
                stamp = utcnow().strftime("%Y%m%d-%H%M%S")
                with _connected(target_path.with_name(f"{target_path.name}.replaced-{stamp}")) as c:
                    _copy(target, c)
                    c.execute("PRAGMA journal_mode = DELETE")
            _copy(source, target)
            target.execute("PRAGMA journal_mode = WAL")
            _check(target, target_path)
    return manifest


def _recorded(path: Path) -> Manifest | None:
    try:
        return Manifest.model_validate_json(_manifest_path(path).read_text())
    except (OSError, ValueError):
        return None


def _source_of(path: Path) -> str:
    recorded = _recorded(path)
    return recorded.source if recorded else str(path)


def _time_of(path: Path) -> datetime:
    recorded = _recorded(path)
    return recorded.time if recorded else utcnow()


def _file_manifest(path: Path, name: str, now: datetime) -> Manifest:
    if not path.is_file():
        return Manifest(
            name=name, store="sqlite", time=now, source=str(path), counts=empty_counts()
        )
    with _connected(path) as conn:
        return _manifest(conn, name, path, now)


def list_files(settings: SqliteSettings) -> list[Manifest]:
    """The backups in ``backup_dir`` that have a readable manifest, oldest first."""
    if not settings.backup_dir.is_dir():
        return []
    found = [_recorded(p) for p in settings.backup_dir.glob("*.db")]
    return sorted((m for m in found if m is not None), key=lambda m: (m.time, m.name))


async def backup_file(settings: SqliteSettings, name: str, now: datetime) -> Manifest:
    return await asyncio.to_thread(_backup, settings, name, now)


async def restore_file(settings: SqliteSettings, name: str, *, replace: bool) -> Manifest:
    return await asyncio.to_thread(_restore, settings, name, replace)


async def file_manifest(path: Path, name: str, now: datetime) -> Manifest:
    return await asyncio.to_thread(_file_manifest, path, name, now)
