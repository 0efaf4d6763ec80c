"""Each channel against a real server: mail over STARTTLS with a login (aiosmtpd), the
signed webhook checked by a receiver, a Telegram-style chat call built from its template."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest
from pydantic import TypeAdapter

from soc.models import Severity, utcnow
from soc.notify.channels import SendFailed, send
from soc.notify.messages import render
from soc.notify.models import Notice, OutboxItem
from soc.notify.signing import sign, verify
from soc.settings import ChannelSettings
from tests.notify._servers import smtp_server, webhook_receiver

CHANNEL: TypeAdapter[ChannelSettings] = TypeAdapter(ChannelSettings)


def item(lang: str = "vi") -> OutboxItem:
    notice = Notice(
        trigger="handoff",
        key="audit:42",
        tenant="hue-ioc",
        time=utcnow(),
        incident="inc-1",
        title="Đánh cắp thông tin đăng nhập LSASS",
        severity=Severity.high,
        host="ws-ketoan-07",
        rule="LSASS Memory Dump",
        unit="CAT-PCTP",
        by="lead.minh",
    )
    now = utcnow()
    return OutboxItem(
        id=OutboxItem.make_id(notice.key, "x"),
        key=notice.key,
        trigger=notice.trigger,
        tenant=notice.tenant,
        channel="x",
        channel_type="email",
        lang="vi" if lang == "vi" else "en",
        message=render(notice, "vi" if lang == "vi" else "en", base_url="https://soc.hue.gov.vn"),
        incident="inc-1",
        created=now,
        next_at=now,
    )


async def test_a_mail_goes_over_starttls_with_a_login(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as smtp:
        async with aiohttp.ClientSession() as http:
            answer = await send(CHANNEL.validate_python(smtp.channel()), item(), http)
        assert answer.startswith("smtp")
        assert smtp.box.logins == ["soc-mailer"] and smtp.box.tls_seen == [True]
        [mail] = smtp.box.mails
        assert "chuyển cho CAT-PCTP" in str(mail["Subject"])
        body = mail.get_payload(decode=True).decode()
        assert "https://soc.hue.gov.vn/ui#/incidents/inc-1" in body
        assert "ws-ketoan-07" in body and "LSASS Memory Dump" in body
        assert mail["Message-ID"] == f"<{item().id}@hue.gov.vn>"


async def test_a_wrong_password_or_no_tls_is_refused(tmp_path: Path) -> None:
    with smtp_server(tmp_path) as smtp:
        async with aiohttp.ClientSession() as http:
            wrong = CHANNEL.validate_python(smtp.channel(password="sai", timeout_s=3))
            with pytest.raises(SendFailed):
                await send(wrong, item(), http)
            plain = CHANNEL.validate_python(smtp.channel(starttls=False, timeout_s=3))
            with pytest.raises(SendFailed):
                await send(plain, item(), http)
        assert smtp.box.mails == []


async def test_the_webhook_is_signed_and_the_receiver_verifies_it() -> None:
    async with webhook_receiver("k-bi-mat") as hook, aiohttp.ClientSession() as http:
        good = CHANNEL.validate_python(
            {"type": "webhook", "url": f"{hook.url}/hook", "secret": "k-bi-mat"}
        )
        await send(good, item("en"), http)
        bad = CHANNEL.validate_python(
            {"type": "webhook", "url": f"{hook.url}/hook", "secret": "another"}
        )
        with pytest.raises(SendFailed, match="401"):
            await send(bad, item(), http)
    [got] = hook.accepted
    assert got["trigger"] == "handoff" and got["severity"] == "high"
    assert got["link"] == "https://soc.hue.gov.vn/ui#/incidents/inc-1"
    assert got["subject"].startswith("Incident handed off to CAT-PCTP")
    assert hook.refused == 1


def test_verify_refuses_a_replay_a_changed_body_and_a_missing_header() -> None:
    body = b'{"id": "1"}'
    headers = sign("s", body, now=1_000_000)
    assert verify("s", headers, body, now=1_000_100)
    assert not verify("s", headers, body, now=1_000_000 + 301), "too old: a replay"
    assert not verify("s", headers, b'{"id": "2"}', now=1_000_000)
    assert not verify("s", {"X-SOC-Signature": headers["X-SOC-Signature"]}, body)
    fresh = sign("s", body)
    assert verify("s", {k.lower(): v for k, v in fresh.items()}, body, now=time.time())


async def test_a_telegram_style_chat_call_is_made_from_its_template() -> None:
    async with webhook_receiver("unused") as server, aiohttp.ClientSession() as http:
        chat = CHANNEL.validate_python(
            {
                "type": "chat",
                "url": f"{server.url}/bot{{{{secret}}}}/sendMessage",
                "headers": {"X-Unit": "CAT-PCTP"},
                "body": '{"chat_id": "-1001234", "text": "{{text}}", "parse_mode": null}',
                "secret": "123456:ABC-token",
            }
        )
        await send(chat, item(), http)
    [(headers, body)] = server.raw
    assert headers["path"] == "/bot123456:ABC-token/sendMessage"
    assert headers["X-Unit"] == "CAT-PCTP"
    sent = json.loads(body)
    assert sent["chat_id"] == "-1001234" and sent["parse_mode"] is None
    assert sent["text"].startswith("Sự cố được chuyển cho CAT-PCTP")
    assert "\n" in sent["text"], "the text's line breaks survive the JSON escaping"
