"""A real connector stopped mid-stream: the SOC notices, tells someone, and sees it back.

A real `soc-connector run` tails a recorded auth.log (growing as a live log does) into
the SOC. It is stopped: its source turns late, then silent; the silence alert is
raised (and the connector's own, its heartbeats having stopped), then its incident, and
a mail reaches the response unit's SMTP server (a real one, STARTTLS and login). The
connector is started again, more lines arrive, and the alerts are resolved with the
silence's length.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx

from soc.api.server import serving
from soc.settings import Settings
from soc.stages.beat_silence import CONNECTOR_SILENCE_RULE_ID
from soc.stages.silence import SILENCE_RULE_ID
from tests.conftest import SHARED
from tests.e2e.agents import http_agent_config, start_agent, stop_agent
from tests.e2e.harness import auth, backend_settings
from tests.e2e.test_pipeline import all_alerts
from tests.notify._servers import smtp_server

CHUNK = 10


async def until(check: Any, what: str, within: float = 60) -> Any:
    """``await check()`` once it is truthy."""
    deadline = time.monotonic() + within
    while not (found := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)
    return found


async def test_a_stopped_connector_goes_late_then_silent_alerts_mails_and_resolves(
    tmp_path: Path,
) -> None:
    lines = (SHARED / "datasets/linux/auth.log").read_bytes().splitlines(keepends=True)[:50]
    log = tmp_path / "auth.log"
    log.write_bytes(b"")
    with smtp_server(tmp_path) as smtp:
        settings = Settings(
            **backend_settings(
                "memory", "sqlite", prefix="t", tmp=tmp_path, kafka=None, opensearch=None
            ),
            sources={
                "expected": [{"connector": "web-01", "interval_s": 1.5, "severity": "high"}],
                "silent_factor": 2.0,
                "incident_after_s": 2.0,
                "watch_s": 0.3,
                "snapshot_s": 0.3,
            },
            notify={
                "channels": {"pctp-mail": smtp.channel()},
                "routes": [
                    {"tenant": "hue-ioc", "triggers": ["source_silent"], "channel": "pctp-mail"}
                ],
                "send_s": 0.3,
                "watch_s": 0.3,
            },
        )
        async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

            async def source() -> dict[str, Any] | None:
                r = await client.get("/api/v1/sources", headers=auth("analyst"))
                assert r.status_code == 200, r.text
                mine = [s for s in r.json() if s["connector"] == "web-01"]
                assert len(mine) <= 1, mine
                return mine[0] if mine else None

            async def silence(rule_id: str = SILENCE_RULE_ID) -> dict[str, Any] | None:
                found = [a for a in await all_alerts(client, "analyst") if a["rule_id"] == rule_id]
                assert len(found) <= 1, found
                if not found:
                    return None
                r = await client.get(f"/api/v1/alerts/{found[0]['id']}", headers=auth("analyst"))
                alert: dict[str, Any] = r.json()
                return alert

            agent = await start_agent(http_agent_config(tmp_path, url, log))
            try:
                for i in range(0, 30, CHUNK):  # the log grows while the agent runs
                    with log.open("ab") as f:
                        f.write(b"".join(lines[i : i + CHUNK]))
                    await asyncio.sleep(0.4)

                async def all_in() -> dict[str, Any] | None:
                    s = await source()
                    return s if s is not None and s["events_24h"] == 30 else None

                s = await until(all_in, "the first 30 lines never arrived")
                assert s["state"] == "healthy" and s["expected_interval_from"] == "configured"
            finally:
                await stop_agent(agent)  # mid-stream: the log will grow again later

            states: list[str] = []

            async def silent() -> bool:
                s = await source()
                assert s is not None
                if not states or states[-1] != s["state"]:
                    states.append(s["state"])
                return bool(s["state"] == "silent")

            await until(silent, "the source never went silent")
            assert states[-2:] == ["late", "silent"], states

            alert = await until(silence, "no silence alert")
            assert (alert["tenant"], alert["severity"], alert["status"]) == (
                "hue-ioc",
                "high",
                "open",
            )

            async def in_incident() -> dict[str, Any] | None:
                a = await silence()
                return a if a is not None and a["incident_id"] else None

            alert = await until(in_incident, "the silence never became an incident")
            r = await client.get(
                f"/api/v1/incidents/{alert['incident_id']}", headers=auth("analyst")
            )
            assert r.status_code == 200 and r.json()["incident"]["tenant"] == "hue-ioc"

            async def mailed() -> bool:
                return bool(smtp.box.mails)

            # Its heartbeats stopped too: the connector's own alert, on the agent's host
            # (an incident apart from the source's, grouped by rule and host).
            async def agent_silent() -> dict[str, Any] | None:
                return await silence(CONNECTOR_SILENCE_RULE_ID)

            beat = await until(agent_silent, "no connector silence alert")
            assert (beat["host"], beat["severity"], beat["status"]) == ("web-01", "high", "open")

            await until(mailed, "no mail reached the SMTP server")
            await asyncio.sleep(1)  # more passes of the watch and the sender: one mail only
            (mail,) = smtp.box.mails
            assert mail["To"] == "truc-ban@cat-pctp.hue.gov.vn"
            text = mail.get_body(preferencelist=("plain",)).get_content()
            assert "web-01/auth/" in text, text
            assert smtp.box.tls_seen == [True] and smtp.box.logins

            # The connector again, and the log grows: the silences end.
            async def agent_back() -> dict[str, Any] | None:
                # (Stopped again, the agent may go silent anew: the first silence's alert.)
                r = await client.get(f"/api/v1/alerts/{beat['id']}", headers=auth("analyst"))
                a: dict[str, Any] = r.json()
                return a if a["status"] == "closed" else None

            agent = await start_agent(http_agent_config(tmp_path, url, log))
            try:
                with log.open("ab") as f:
                    f.write(b"".join(lines[30:40]))

                async def resolved() -> dict[str, Any] | None:
                    a = await silence()
                    return a if a is not None and a["status"] == "closed" else None

                alert = await until(resolved, "the alert was not resolved when events resumed")
                beat = await until(agent_back, "the connector's alert was not resolved")
            finally:
                await stop_agent(agent)
            assert re.fullmatch(r"Events resumed: silent for \d+ s", alert["note"]), alert["note"]
            assert re.fullmatch(r"Heartbeats resumed: silent for \d+ s", beat["note"]), beat
            s = await source()
            assert s is not None and s["events_24h"] == 40
