"""HTTP receiver: senders POST documents (a Kubernetes audit webhook's EventList, NDJSON).

    source = HttpReceiverSource(config, ctx)    # config: connectors.config.HttpSource
    task = asyncio.create_task(source.run(emit))
    await source.started.wait()                 # bound; source.port is the port

``POST <path>`` with a body of up to ``max_body_bytes``; each body is one
record of kind ``document`` (the agent parses it into its events). The
answer is 200 only once ``emit`` returned, that is once the events are in
the on-disk spool: a sender that got 200 knows nothing will be lost, and
one that got anything else, or nothing, sends again. While the spool is
full the answer simply waits; at most 32 bodies are held at once, later
requests wait before their body is read (so TCP slows their senders).

Answers: 401 without ``Authorization: Bearer <token>`` matching
``token_file`` (when set), 413 for a body over ``max_body_bytes``, 400 for
an empty body, 405 for a method other than POST. With ``tls``, HTTPS
(TLS 1.2 or later; mutual TLS with ``client_ca_file``).

Streams: ``http:<ip>#<run_id>`` per peer; each batch's ``host`` is the
peer's IP; no checkpoint (a push source cannot re-read).
"""

from __future__ import annotations

import asyncio
import hmac
import socket

from aiohttp import web

from connectors.config import HttpSource as HttpConfig
from connectors.config import read_secret
from connectors.parse.framing import Frame
from connectors.sources.base import Batch, Emit, Source, SourceContext
from connectors.sources.syslog import (
    PushStreams,
    in_name,
    listen_socket,
    peer_ip,
    server_ssl_context,
)

MAX_IN_FLIGHT = 32
"""Requests whose bodies are read or waiting for the spool at one time."""
_SHUTDOWN_S = 2.0
"""On stop, how long requests waiting for the spool are given (their senders resend)."""


class HttpReceiverSource(Source):
    config: HttpConfig

    def __init__(self, config: HttpConfig, ctx: SourceContext) -> None:
        super().__init__(config, ctx)
        self.started = asyncio.Event()
        """Set once the socket is bound and serving (and cleared when ``run`` ends)."""
        self.port: int | None = None
        self.requests_accepted = 0
        self.requests_refused = 0
        self._streams = PushStreams(ctx.run_id)
        self._token: bytes | None = None
        self._emit: Emit | None = None
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    def ready(self) -> bool:
        return self.started.is_set()

    async def run(self, emit: Emit) -> None:
        cfg = self.config
        self._token = read_secret(cfg.token_file).encode() if cfg.token_file else None
        self._emit = emit
        tls = server_ssl_context(cfg.tls, source=self.name) if cfg.tls else None
        protocol = "https" if tls else "http"
        sock = listen_socket(socket.SOCK_STREAM, cfg.listen, source=self.name, protocol=protocol)
        try:
            app = web.Application(client_max_size=cfg.max_body_bytes)
            app.router.add_post(cfg.path, self._receive)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_S)
            await runner.setup()
            try:
                await web.SockSite(runner, sock, ssl_context=tls).start()
                self.port = sock.getsockname()[1]
                self.ctx.log.info(
                    "http source listening",
                    extra={
                        "source": self.name,
                        "listen": cfg.listen,
                        "port": self.port,
                        "path": cfg.path,
                        "tls": tls is not None,
                    },
                )
                self.started.set()
                await asyncio.Event().wait()  # until cancelled
            finally:
                self.started.clear()
                await runner.cleanup()
        finally:
            sock.close()

    async def _receive(self, request: web.Request) -> web.Response:
        if self._token is not None and not self._authorized(request):
            self.requests_refused += 1
            raise web.HTTPUnauthorized(
                text="a valid Authorization: Bearer token is required\n",
                headers={"WWW-Authenticate": 'Bearer realm="soc-connector"'},
            )
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            self.requests_refused += 1
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        async with self._in_flight:
            try:
                body = await request.read()  # past client_max_size (a chunked body): 413
            except web.HTTPRequestEntityTooLarge:
                self.requests_refused += 1
                raise
            if not body.strip():
                self.requests_refused += 1
                raise web.HTTPBadRequest(text="empty body\n")
            ip = peer_ip(request.remote or "-")
            stream = self._streams.name(f"http:{in_name(ip)}")
            first = self._streams.take(stream, 1)
            assert self._emit is not None
            await self._emit(
                Batch(
                    source=self.name,
                    stream=stream,
                    first_seq=first,
                    records=[Frame(body, None, len(body))],
                    kind="document",
                    host=ip,
                )
            )
        self.requests_accepted += 1
        return web.json_response({"accepted": True, "bytes": len(body)})

    def _authorized(self, request: web.Request) -> bool:
        assert self._token is not None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self._token
        )
