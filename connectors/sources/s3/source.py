"""Amazon S3 and S3-compatible storage: CloudTrail log files, one object a record.

    src = S3Source(cfg, ctx)    # cfg: connectors.config.S3Source
    await src.run(emit)         # Batch(kind="document", stream="s3://<bucket>/<key>",
                                #       first_seq=0, records=[Frame(<the JSON>)], checkpoint=...)

Every ``interval_s`` the source lists the bucket under ``prefix``, downloads
each object it has not sent yet (gunzipped when it starts with the gzip magic
bytes, as is otherwise) and emits it whole as one ``document`` record. boto3
blocks, so every call runs in a thread.

Finding new objects
-------------------
CloudTrail writes ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz``.
Keys sort by date only inside one account and region, and files arrive late
(minutes, more in an outage), so one StartAfter marker for the bucket would
skip a region that sorts before it or a late file of an earlier day. Listing
the whole bucket each poll would not skip anything, but a trail's bucket grows
by some 300 files a region a day, forever.

So each poll walks the folders under ``prefix`` with ``Delimiter="/"``. A
folder holding year folders (``2024/``) is *dated* (one account and region).
Its year folders are listed flat from ``StartAfter=<folder><newest day - lookback>``,
where the newest day is that of the newest object sent from the folder and
``lookback_days`` is 2 by default; with nothing sent yet, from the start of the
folder (a new source reads the bucket's whole history once). Objects of that
window already sent are skipped by name. Any other folder is walked down;
objects lying directly in a folder (*loose*) are listed whole each poll.
``CloudTrail-Digest/`` folders are skipped: digest files are not logs. An
object whose key ends in ``/`` (a folder marker) is not a log either.

State, saved in the registry only by :meth:`S3Source.commit`::

    {"version": 1, "bucket": "trail-logs",
     "dated": {"AWSLogs/123456789012/CloudTrail/us-east-1/":
                  {"newest": "2024/03/06", "done": ["2024/03/04/<file>", ...]}},
     "loose": {"<folder>/": ["<file>", ...]}}

``done`` holds the acknowledged objects of the window only: a name sorting
before the window's start is dropped, as it is never listed again; a loose
name is dropped once the object is gone. In memory the source keeps a second,
such state of what it *sent*, acknowledged or not, which drives the listing,
so a poll never sends an object twice; after a restart only the acknowledged
state is left, so what was sent but not acknowledged is read again (and keeps
its stream and sequence number, so the destination can tell it is a replay).
The window the acknowledged state keeps always covers the window the next
listing reads, as the sent state's newest day is never older.

Limits, by design: an object dated more than ``lookback_days`` before the
newest object already sent from its folder (delivered that late), or whose
name sorts before the window without a date, is not seen; an object
rewritten under a key already sent is not read again (CloudTrail never
rewrites a file); a day in the future (a clock or a name gone wrong) does not
move the window. A bucket not laid out by date costs a full listing each
poll and a registry entry per object.

Errors
------
* The endpoint down, 5xx, throttling, bad credentials, access denied, an
  unreadable secret file: the call is retried ``attempts`` times with back-off,
  then the poll stops, is logged and is retried after ``min(interval_s, back-off)``;
  :meth:`ready` is False until a listing succeeds (again; also before the
  first). The object being read is not sent, so nothing is lost however long
  the outage; but an object denied to the credentials (a KMS key not granted)
  stops the source at it, at ERROR, until an operator grants it.
* An object that cannot be read for its own sake (bad or cut-off gzip, a
  ``.gz`` key that is not gzip, deleted since it was listed, archived), after
  ``attempts`` downloads, or one over ``max_object_bytes`` decompressed (256 MiB,
  the parsers' document limit; at once): logged at ERROR and emitted as one
  *error record*, so the agent ships one parse-error event rather than nothing:
  ``Frame(data=<one line of text>, error="truncated" | "too_large", size=<bytes>)``,
  the text naming the object, the error and the object's first 4 KiB in base64.
  Parsed as a frame it gives a ``truncated``/``too_large`` error event, parsed
  as a document (one line, not JSON) a ``not_json`` one: one event either way.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from connectors.config import S3Source as S3Config
from connectors.config import read_secret
from connectors.errors import ConfigError, FrameError, Unreadable
from connectors.parse.framing import Frame
from connectors.sources.base import Batch, Emit, Source, SourceContext

MAX_OBJECT_BYTES = 256 << 20
"""Largest object read, decompressed (the parsers' ``MAX_DOCUMENT_BYTES``)."""
LOOKBACK_DAYS = 2
"""How many days before a folder's newest object late objects are still looked for."""
ERROR_HEAD_BYTES = 4096
"""Bytes of an unreadable object kept, in base64, in its error record."""

_YEAR = re.compile(r"\d{4}/")
_DAY = re.compile(r"(\d{4})/(\d{2})/(\d{2})/")
_SKIP = frozenset({"CloudTrail-Digest/"})
_GZIP = b"\x1f\x8b"
_CHUNK = 1 << 20
_OBJECT_ERRORS = frozenset({"NoSuchKey", "InvalidObjectState", "404"})
"""S3 error codes that are the object's fault, not the endpoint's or the credentials'."""


@dataclass(frozen=True, slots=True)
class _Object:
    folder: str
    name: str
    """The key after ``folder``."""
    dated: bool
    """In a dated folder's year folders (else loose, directly in ``folder``)."""

    @property
    def key(self) -> str:
        return self.folder + self.name


@dataclass(slots=True)
class _Dated:
    newest: str = ""
    """The newest day (``YYYY/MM/DD``) done, not in the future; "" before any."""
    done: set[str] = field(default_factory=set)


class _Done:
    """Objects done, as the module docstring describes."""

    def __init__(self, lookback_days: int) -> None:
        self.lookback_days = lookback_days
        self.dated: dict[str, _Dated] = {}
        self.loose: dict[str, set[str]] = {}

    def since(self, folder: str) -> str | None:
        """Where a dated folder's window starts (``YYYY/MM/DD``); None: from the start."""
        d = self.dated.get(folder)
        return _minus_days(d.newest, self.lookback_days) if d and d.newest else None

    def __contains__(self, obj: _Object) -> bool:
        if obj.dated:
            d = self.dated.get(obj.folder)
            return d is not None and obj.name in d.done
        return obj.name in self.loose.get(obj.folder, ())

    def add(self, obj: _Object) -> None:
        if not obj.dated:
            self.loose.setdefault(obj.folder, set()).add(obj.name)
            return
        d = self.dated.setdefault(obj.folder, _Dated())
        d.done.add(obj.name)
        day = _day(obj.name)
        if day and day > d.newest:
            d.newest = day
            since = _minus_days(day, self.lookback_days)
            d.done = {n for n in d.done if n >= since}

    def keep_loose(self, folder: str, listed: set[str]) -> None:
        """Forget loose objects of ``folder`` that are gone."""
        names = self.loose.get(folder)
        if names is not None:
            names &= listed
            if not names:
                del self.loose[folder]

    def to_json(self, bucket: str) -> dict[str, Any]:
        return {
            "version": 1,
            "bucket": bucket,
            "dated": {
                f: {"newest": d.newest, "done": sorted(d.done)} for f, d in self.dated.items()
            },
            "loose": {f: sorted(names) for f, names in self.loose.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        try:
            for f, d in state.get("dated", {}).items():
                self.dated[f] = _Dated(str(d["newest"]), {str(n) for n in d["done"]})
            for f, names in state.get("loose", {}).items():
                self.loose[f] = {str(n) for n in names}
        except (AttributeError, KeyError, TypeError) as e:
            raise ValueError(f"S3 registry state is malformed: {e!r}") from e


def _day(name: str) -> str | None:
    """The ``YYYY/MM/DD`` a name starts with, when a real day not in the future."""
    m = _DAY.match(name)
    if not m:
        return None
    try:
        day = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return m[0][:10] if day <= datetime.now(UTC).date() + timedelta(days=1) else None


def _minus_days(day: str, n: int) -> str:
    d = date(int(day[:4]), int(day[5:7]), int(day[8:10]))
    d = d - timedelta(days=n) if d > date.min + timedelta(days=n) else date.min
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"


def _inflate(chunks: Iterator[bytes], *, gz_name: bool, limit: int) -> bytes:
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


def _describe(e: BaseException) -> str:
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"[:500]
    return f"{type(e).__name__}: {e}"[:500]


def _object_fault(e: BaseException) -> bool:
    """Whether a failed download is the object's fault (else the endpoint's: retry later)."""
    if isinstance(e, Unreadable):
        return True
    return isinstance(e, ClientError) and e.response.get("Error", {}).get("Code") in _OBJECT_ERRORS


class S3Source(Source):
    """Polls a bucket for CloudTrail files; see the module docstring."""

    config: S3Config

    def __init__(
        self,
        config: S3Config,
        ctx: SourceContext,
        *,
        lookback_days: int | None = None,
        max_object_bytes: int = MAX_OBJECT_BYTES,
        attempts: int = 3,
        retry_base_s: float = 0.5,
    ) -> None:
        super().__init__(config, ctx)
        self.max_object_bytes = max_object_bytes
        self.attempts = attempts
        self.retry_base_s = retry_base_s
        self._s3: Any = None
        self._ready = False
        days = config.lookback_days if lookback_days is None else lookback_days
        self._done = _Done(days)
        state = ctx.registry.load(self.name)
        if state and state.get("version") != 1:
            raise ValueError(f"S3 registry state of {self.name!r}: unknown version")
        if state and state.get("bucket") != config.bucket:
            ctx.log.warning(
                "s3 bucket changed; reading it from the start",
                extra={"source": self.name, "bucket": config.bucket, "old": state.get("bucket")},
            )
        elif state:
            self._done.load(state)
        self._sent = _Done(days)
        self._sent.load(self._done.to_json(config.bucket))

    def ready(self) -> bool:
        return self._ready

    async def run(self, emit: Emit) -> None:
        failures = 0
        while True:
            try:
                await self._poll(emit)
            except Exception as e:
                self._ready = False
                failures += 1
                delay = min(self.config.interval_s, self.retry_base_s * 2 ** min(failures, 16))
                self.ctx.log.log(
                    logging.ERROR if failures >= 3 else logging.WARNING,
                    "s3 poll failed",
                    extra={
                        "source": self.name,
                        "bucket": self.config.bucket,
                        "error": _describe(e),
                        "failures": failures,
                        "retry_in_s": delay,
                    },
                )
            else:
                failures, delay = 0, self.config.interval_s
            await asyncio.sleep(delay)

    async def commit(self, stream: str, checkpoint: Any) -> None:
        self._done.add(_Object(checkpoint["folder"], checkpoint["name"], checkpoint["dated"]))
        self.ctx.registry.save(self.name, self._done.to_json(self.config.bucket))

    async def _poll(self, emit: Emit) -> None:
        if self._s3 is None:
            self._s3 = await asyncio.to_thread(self._client)
        async for obj in self._new_objects():
            frame = await self._fetch(obj)
            await emit(
                Batch(
                    source=self.name,
                    stream=f"s3://{self.config.bucket}/{obj.key}",
                    first_seq=0,
                    records=[frame],
                    kind="document",
                    checkpoint={"folder": obj.folder, "name": obj.name, "dated": obj.dated},
                )
            )
            self._sent.add(obj)

    def _client(self) -> Any:
        cfg = self.config
        creds: dict[str, str] = {}
        if cfg.access_key_id_file or cfg.secret_access_key_file:
            if not (cfg.access_key_id_file and cfg.secret_access_key_file):
                raise ConfigError("set both access_key_id_file and secret_access_key_file")
            creds["aws_access_key_id"] = read_secret(cfg.access_key_id_file)
            creds["aws_secret_access_key"] = read_secret(cfg.secret_access_key_file)
        session = boto3.session.Session(**creds)
        return session.client(
            "s3",
            endpoint_url=cfg.endpoint_url,
            region_name=cfg.region,
            verify=str(cfg.ca_file) if cfg.ca_file else None,
            config=BotoConfig(
                retries={"total_max_attempts": 1},  # retried here, with our back-off
                connect_timeout=10,
                read_timeout=60,
                user_agent_extra="soc-connector",
            ),
        )

    async def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """A listing call, retried with back-off; raises its last error."""
        for attempt in range(self.attempts):
            try:
                result = await asyncio.to_thread(fn, Bucket=self.config.bucket, **kwargs)
            except Exception:
                if attempt + 1 >= self.attempts:
                    raise
                await asyncio.sleep(self.retry_base_s * 2**attempt)
            else:
                self._ready = True
                return result
        raise AssertionError("unreachable")

    async def _new_objects(self) -> AsyncIterator[_Object]:
        """Objects not sent yet, folder by folder, in key order."""
        folders = [self.config.prefix]
        while folders:
            folder = folders.pop()
            subfolders, names = await self._list_folder(folder)
            for name in names:
                if name and (obj := _Object(folder, name, dated=False)) not in self._sent:
                    yield obj
            self._sent.keep_loose(folder, names)
            self._done.keep_loose(folder, names)
            children = [s[len(folder) :] for s in subfolders]
            if any(_YEAR.fullmatch(c) for c in children):
                async for obj in self._window(folder):
                    yield obj
            folders.extend(
                folder + c for c in reversed(children) if not _YEAR.fullmatch(c) and c not in _SKIP
            )

    async def _list_folder(self, folder: str) -> tuple[list[str], set[str]]:
        """A folder's subfolders and the names of the objects directly in it."""
        subfolders: list[str] = []
        names: set[str] = set()
        args: dict[str, Any] = {"Prefix": folder, "Delimiter": "/"}
        while True:
            page = await self._call(self._s3.list_objects_v2, **args)
            subfolders += [p["Prefix"] for p in page.get("CommonPrefixes", ())]
            names.update(o["Key"][len(folder) :] for o in page.get("Contents", ()))
            if not page.get("IsTruncated"):
                return subfolders, names
            args["ContinuationToken"] = page["NextContinuationToken"]

    async def _window(self, folder: str) -> AsyncIterator[_Object]:
        """The objects of a dated folder's year folders from its window on, not sent yet."""
        args: dict[str, Any] = {"Prefix": folder}
        since = self._sent.since(folder)
        if since:
            args["StartAfter"] = folder + since
        while True:
            page = await self._call(self._s3.list_objects_v2, **args)
            for o in page.get("Contents", ()):
                name = o["Key"][len(folder) :]
                if name[:1] > "9":
                    return  # past the year folders
                if _YEAR.match(name) and not name.endswith("/"):
                    obj = _Object(folder, name, dated=True)
                    if obj not in self._sent:
                        yield obj
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    async def _fetch(self, obj: _Object) -> Frame:
        """The object's record, or its error record; raises when the endpoint fails."""
        error: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(self.retry_base_s * 2 ** (attempt - 1))
            try:
                data = await asyncio.to_thread(self._download, obj.key)
            except Unreadable as e:
                error = e
                if e.error == "too_large":
                    break
            except Exception as e:
                error = e
            else:
                return Frame(data, None, len(data))
        assert error is not None
        if not _object_fault(error):
            raise error
        return self._error_record(obj, error)

    def _download(self, key: str) -> bytes:
        body = self._s3.get_object(Bucket=self.config.bucket, Key=key)["Body"]
        try:
            chunks = iter(lambda: body.read(_CHUNK), b"")
            return _inflate(chunks, gz_name=key.endswith(".gz"), limit=self.max_object_bytes)
        finally:
            body.close()

    def _error_record(self, obj: _Object, e: Exception) -> Frame:
        unreadable = e if isinstance(e, Unreadable) else None
        error: FrameError = unreadable.error if unreadable else "truncated"
        detail = unreadable.detail if unreadable else _describe(e)
        head = unreadable.head if unreadable else b""
        size = unreadable.size if unreadable else 0
        url = f"s3://{self.config.bucket}/{obj.key}"
        self.ctx.log.error(
            "s3 object shipped as an error record",
            extra={"source": self.name, "object": url, "error": error, "detail": detail},
        )
        text = (
            f"S3 object could not be read: {url}: {detail}; {size} bytes read; "
            f"first {len(head)} bytes in base64: {base64.b64encode(head).decode('ascii')}"
        )
        return Frame(text.encode("utf-8"), error, size)
