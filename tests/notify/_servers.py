"""Real servers for the notification tests: an SMTP server (aiosmtpd: STARTTLS required,
login required, and a switch to refuse mail for a while) and a webhook receiver (aiohttp)
that checks the signature as a real receiver would."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from soc.api.server import free_port
from soc.notify.signing import verify

USER, PASSWORD = "soc-mailer", "mat-khau-thu-nghiem"


@dataclass
class Mailbox:
    """What the SMTP server received, and how many more deliveries it refuses (451)."""

    refuse: int = 0
    mails: list[Message] = field(default_factory=list)
    refused: int = 0
    logins: list[str] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.tls_seen.append(session.ssl is not None)
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return "451 4.3.0 Mailbox busy, try again later"
            assert isinstance(envelope.content, bytes)
            self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@dataclass
class Smtp:
    host: str
    port: int
    ca_file: Path
    box: Mailbox

    def channel(self, **extra: Any) -> dict[str, Any]:
        """A channel's settings for this server (STARTTLS, login)."""
        return {
            "type": "email",
            "host": self.host,
            "port": self.port,
            "starttls": True,
            "ca_file": str(self.ca_file),
            "user": USER,
            "password": PASSWORD,
            "sender": "soc@hue.gov.vn",
            "to": ["truc-ban@cat-pctp.hue.gov.vn"],
            **extra,
        }


@contextmanager
def smtp_server(tmp: Path) -> Iterator[Smtp]:
    """An SMTP server on loopback that requires STARTTLS, then a login, before mail."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(tls)
    ca_file = tmp / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    box = Mailbox()

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            box.logins.append(USER)
        return AuthResult(success=ok)

    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield Smtp("127.0.0.1", port, ca_file, box)
    finally:
        controller.stop()


@dataclass
class Receiver:
    url: str
    secret: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@asynccontextmanager
async def webhook_receiver(secret: str) -> AsyncIterator[Receiver]:
    """An HTTP server that takes a POST only when its signature verifies (else 401), and
    records any other call (chat) as it came."""
    receiver = Receiver(url="", secret=secret)

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret, dict(request.headers), body):
            receiver.refused += 1
            return web.Response(status=401, text="bad signature")
        receiver.accepted.append(await request.json())
        return web.Response(status=204)

    async def anything(request: web.Request) -> web.Response:
        receiver.raw.append(
            ({"path": request.path_qs, **dict(request.headers)}, await request.read())
        )
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
