"""The channels: how one message leaves the SOC.

- ``email``: SMTP with aiosmtplib; STARTTLS (or implicit TLS) checked against the system's
  CAs or ``ca_file``, then login when a user is set. The Message-ID is the outbox id.
- ``webhook``: a JSON POST signed with HMAC-SHA256 (:mod:`soc.notify.signing`).
- ``chat``: a templated HTTP call: ``{{field}}`` in the URL, headers and body replaced by
  the message's fields, so a Telegram bot's ``sendMessage`` or a Zalo OA's message API is
  configured without code.

Every failure is a :class:`SendFailed`; the sender retries it with back-off until the
message's give-up age (a mail server's 5xx too: a misconfigured relay is usually fixed
within the day, and giving up stays audited).
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.parse
from email.message import EmailMessage
from email.utils import formatdate

import aiohttp
import aiosmtplib

from soc.errors import SocError
from soc.notify.models import OutboxItem
from soc.notify.signing import sign
from soc.settings import (
    ChannelSettings,
    ChatChannelSettings,
    EmailChannelSettings,
    WebhookChannelSettings,
)

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
USER_AGENT = "soc-notify/1"


class SendFailed(SocError):
    """A channel did not take a message (the sender retries until the give-up age)."""


async def send(channel: ChannelSettings, item: OutboxItem, http: aiohttp.ClientSession) -> str:
    """Deliver ``item`` on ``channel``; a short description of the answer (for the audit).

    Raises :class:`SendFailed`."""
    match channel:
        case EmailChannelSettings():
            return await send_email(channel, item)
        case WebhookChannelSettings():
            return await send_webhook(channel, item, http)
        case ChatChannelSettings():
            return await send_chat(channel, item, http)


def email_message(channel: EmailChannelSettings, item: OutboxItem) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Subject"] = item.message.subject
    mail["Date"] = formatdate(item.created.timestamp(), localtime=False, usegmt=True)
    domain = channel.sender.rpartition("@")[2] or "soc"
    mail["Message-ID"] = f"<{item.id}@{domain}>"
    mail["X-SOC-Notification"] = item.id
    mail.set_content(item.message.text)
    return mail


async def send_email(channel: EmailChannelSettings, item: OutboxItem) -> str:
    context = ssl.create_default_context(
        cafile=str(channel.ca_file) if channel.ca_file is not None else None
    )
    password = channel.password.get_secret_value() if channel.password is not None else None
    try:
        errors, answer = await aiosmtplib.send(
            email_message(channel, item),
            hostname=channel.host,
            port=channel.port,
            username=channel.user,
            password=password if channel.user else None,
            use_tls=channel.tls,
            start_tls=False if channel.tls else channel.starttls,
            tls_context=context,
            timeout=channel.timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
        raise SendFailed(f"smtp {channel.host}:{channel.port}: {_describe(e)}") from e
    if errors:
        refused = ", ".join(f"{to}: {code}" for to, (code, _) in errors.items())
        raise SendFailed(f"smtp refused recipients: {refused}")
    return f"smtp: {answer[:200]}"


def webhook_body(item: OutboxItem) -> bytes:
    m = item.message
    return json.dumps(
        {
            "id": item.id,
            "trigger": item.trigger,
            "tenant": item.tenant,
            "incident": item.incident,
            "time": item.created.isoformat(),
            "subject": m.subject,
            "text": m.text,
            "link": m.link,
            "severity": m.fields.get("severity") or None,
            "host": m.fields.get("host") or None,
            "rule": m.fields.get("rule") or None,
            "lang": item.lang,
        },
        ensure_ascii=False,
    ).encode()


async def send_webhook(
    channel: WebhookChannelSettings, item: OutboxItem, http: aiohttp.ClientSession
) -> str:
    body = webhook_body(item)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **sign(channel.secret.get_secret_value(), body),
    }
    return await _call(http, "POST", channel.url, headers, body, channel.timeout_s)


def fill(template: str, fields: dict[str, str], escape: str) -> str:
    """``{{name}}`` replaced by ``fields[name]`` (empty when unknown), escaped as said."""

    def one(match: re.Match[str]) -> str:
        value = fields.get(match.group(1), "")
        if escape == "json":
            return json.dumps(value, ensure_ascii=False)[1:-1]
        if escape == "form":
            return urllib.parse.quote_plus(value)
        return value

    return PLACEHOLDER.sub(one, template)


def chat_request(
    channel: ChatChannelSettings, item: OutboxItem
) -> tuple[str, dict[str, str], bytes | None]:
    """The URL, headers and body of the call (secrets filled in)."""
    fields = dict(item.message.fields)
    if channel.secret is not None:
        fields["secret"] = channel.secret.get_secret_value()
    url = fill(channel.url, fields, "form")
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": channel.content_type,
        **{k: fill(v, fields, "none") for k, v in channel.headers.items()},
    }
    body = None if channel.method == "GET" else fill(channel.body, fields, channel.escape).encode()
    return url, headers, body


async def send_chat(
    channel: ChatChannelSettings, item: OutboxItem, http: aiohttp.ClientSession
) -> str:
    url, headers, body = chat_request(channel, item)
    shown = PLACEHOLDER.sub("…", channel.url)  # no secret in errors or the audit
    try:
        return await _call(http, channel.method, url, headers, body, channel.timeout_s)
    except SendFailed as e:
        raise SendFailed(str(e).replace(url, shown)) from None


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout_s: float,
) -> str:
    try:
        async with http.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,
        ) as response:
            answer = (await response.text())[:200]
            if not 200 <= response.status < 300:
                raise SendFailed(f"HTTP {response.status}: {answer}")
            return f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError) as e:
        raise SendFailed(f"{method} failed: {_describe(e)}") from e


def _describe(e: BaseException) -> str:
    return (str(e) or type(e).__name__)[:300]
