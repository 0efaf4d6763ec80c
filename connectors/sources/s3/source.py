"""S3Source: polling, listing each folder's window, the boto3 client and its retries, fetching."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from connectors.config import S3Source as S3Config
from connectors.config import read_secret
from connectors.errors import ConfigError, FrameError, Unreadable
from connectors.parse.framing import Frame
from connectors.sources.base import Batch, Emit, Source, SourceContext
from connectors.sources.s3.inflate import inflate
from connectors.sources.s3.state import Done, Object

MAX_OBJECT_BYTES = 256 << 20
"""Largest object read, decompressed (the parsers' ``MAX_DOCUMENT_BYTES``)."""

_YEAR = re.compile(r"\d{4}/")
_SKIP = frozenset({"CloudTrail-Digest/"})
_CHUNK = 1 << 20
_OBJECT_ERRORS = frozenset({"NoSuchKey", "InvalidObjectState", "404"})
"""S3 error codes that are the object's fault, not the endpoint's or the credentials'."""


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
    """Polls a bucket for CloudTrail files; see the package docstring (connectors.sources.s3)."""

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
        self._done = Done(days)
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
        self._sent = Done(days)
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
        self._done.add(Object(checkpoint["folder"], checkpoint["name"], checkpoint["dated"]))
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

    async def _new_objects(self) -> AsyncIterator[Object]:
        """Objects not sent yet, folder by folder, in key order."""
        folders = [self.config.prefix]
        while folders:
            folder = folders.pop()
            subfolders, names = await self._list_folder(folder)
            for name in names:
                if name and (obj := Object(folder, name, dated=False)) not in self._sent:
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

    async def _window(self, folder: str) -> AsyncIterator[Object]:
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
                    obj = Object(folder, name, dated=True)
                    if obj not in self._sent:
                        yield obj
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    async def _fetch(self, obj: Object) -> Frame:
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
            return inflate(chunks, gz_name=key.endswith(".gz"), limit=self.max_object_bytes)
        finally:
            body.close()

    def _error_record(self, obj: Object, e: Exception) -> Frame:
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
