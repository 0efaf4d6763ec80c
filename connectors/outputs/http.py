"""Delivery to the SOC's ingest API over HTTPS with the tenant's ingest token.

One POST per batch of entries, NDJSON. Success is a 200 whose counts cover
every line (``accepted + rejected``: a line the SOC refuses is dead-lettered
there, with its reason, so it is delivered too). 413 splits the batch; 429
and 503 honour Retry-After; 401/403 mean the token is wrong or revoked: the
agent keeps spooling and says so loudly, it does not drop.
"""

from __future__ import annotations

import ssl

import aiohttp

from connectors.config import HttpOutput, read_secret
from connectors.errors import DeliveryError
from connectors.spool import Entry

MAX_POST_BYTES = 8 << 20
"""Largest request body: far under the SOC's ingest.max_body_bytes (64 MiB)."""


class HttpDelivery:
    def __init__(self, config: HttpOutput) -> None:
        self.config = config
        self.url = config.ingest_url()
        self.name = f"http:{self.url}"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            ctx: ssl.SSLContext | bool = True
            if self.config.ca_file:
                ctx = ssl.create_default_context(cafile=str(self.config.ca_file))
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
                connector=aiohttp.TCPConnector(ssl=ctx),
            )
        return self._session

    async def send(self, entries: list[Entry]) -> None:
        body = b"".join(e.body for e in entries)
        lines = sum(e.events for e in entries)
        if not lines:
            return
        if len(body) <= MAX_POST_BYTES:
            await self._post(body, lines, entries)
            return
        # One entry can be large (a CloudTrail file): post it in pieces, in order.
        chunk: list[bytes] = []
        size = 0
        for line in body.splitlines(keepends=True):
            if chunk and size + len(line) > MAX_POST_BYTES:
                await self._post(b"".join(chunk), len(chunk), [])
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            await self._post(b"".join(chunk), len(chunk), [])

    async def _post(self, body: bytes, lines: int, entries: list[Entry]) -> None:
        token = read_secret(self.config.token_file)  # re-read: a rotated token is picked up
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        try:
            async with self._client().post(self.url, data=body, headers=headers) as resp:
                status = resp.status
                text = await resp.text()
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                payload = await resp.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
            raise DeliveryError("unreachable", f"{self.url}: {e!r}") from e
        if status == 200 and isinstance(payload, dict):
            got = int(payload.get("accepted", 0)) + int(payload.get("rejected", 0))
            if got != lines:
                raise DeliveryError("count_mismatch", f"sent {lines} lines, the SOC counted {got}")
            return
        if status == 413 and len(entries) > 1:
            half = len(entries) // 2
            await self.send(entries[:half])
            await self.send(entries[half:])
            return
        reason = {401: "unauthorized", 403: "forbidden", 413: "too_large", 429: "throttled"}.get(
            status, "server_error" if status >= 500 else f"http_{status}"
        )
        raise DeliveryError(
            reason, f"{self.url}: HTTP {status}: {text[:300]}", retry_after_s=retry_after
        )

    async def heartbeat(self, body: bytes) -> None:
        """POST /api/v1/heartbeat with the ingest token: the SOC files it under the
        token's tenant."""
        token = read_secret(self.config.token_file)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = self.config.heartbeat_url()
        try:
            async with self._client().post(url, data=body, headers=headers) as resp:
                status = resp.status
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise DeliveryError("unreachable", f"{url}: {e!r}") from e
        if status not in (200, 204):
            raise DeliveryError(f"http_{status}", f"{url}: HTTP {status}: {text[:300]}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
