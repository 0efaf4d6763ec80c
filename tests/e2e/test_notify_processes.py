"""Two `soc api` processes on Kafka and OpenSearch, one hand-off: exactly one mail.

Both processes run the notification watch and sender over one store. The hand-off to
CAT-PCTP is made through the first process's API; the unit's mail channel (a real SMTP
server, STARTTLS and login) must receive it once, whichever process saw it first.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from soc.incidents.cases import Cases
from soc.settings import OpenSearchSettings, StoreSettings
from soc.store import build_store
from tests.e2e.harness import api_keys, auth, free_port, wait_ready
from tests.notify._servers import smtp_server
from tests.notify.test_delivery import open_incident

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]

UNIT = "CAT-PCTP"


def start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        cwd=log.parent,
    )


async def test_a_hand_off_with_two_api_processes_is_mailed_once(
    kafka_bootstrap: str, opensearch_url: str, unique_name: str, tmp_path: Path
) -> None:
    with smtp_server(tmp_path) as smtp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
            "SOC_ENV": "production",
            "SOC_AUTH__SECRET_KEY": "test-secret-not-default",
            "SOC_AUTH__API_KEYS": json.dumps(api_keys()),
            "SOC_BUS__KIND": "kafka",
            "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "SOC_BUS__KAFKA__TOPIC_PREFIX": unique_name,
            "SOC_STORE__KIND": "opensearch",
            "SOC_STORE__OPENSEARCH__HOSTS": json.dumps([opensearch_url]),
            "SOC_STORE__OPENSEARCH__INDEX_PREFIX": unique_name,
            "SOC_STORE__OPENSEARCH__REFRESH_ON_WRITE": "true",
            "SOC_NOTIFY__CHANNELS": json.dumps({"pctp-mail": smtp.channel()}),
            "SOC_NOTIFY__ROUTES": json.dumps(
                [
                    {
                        "tenant": "hue-ioc",
                        "unit": UNIT,
                        "triggers": ["handoff"],
                        "channel": "pctp-mail",
                    }
                ]
            ),
            "SOC_NOTIFY__WATCH_S": "0.3",
            "SOC_NOTIFY__SEND_S": "0.3",
            "SOC_DATA_DIR": str(tmp_path),
        }
        log = tmp_path / "api.log"
        ports = [free_port(), free_port()]
        procs = [start_api(port, env, log) for port in ports]
        store = build_store(
            StoreSettings(
                kind="opensearch",
                opensearch=OpenSearchSettings(
                    hosts=[opensearch_url], index_prefix=unique_name, refresh_on_write=True
                ),
            )
        )
        await store.start()
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                deadline = time.monotonic() + 120
                urls = [f"http://127.0.0.1:{port}" for port in ports]
                await wait_ready(client, urls, procs, log, deadline=deadline)
                # Both watches have read the trail's end: what follows is new to both.
                while log.read_text().count('"stage started", "stage": "notify') < 4:
                    assert time.monotonic() < deadline, log.read_text()[-4000:]
                    await asyncio.sleep(0.3)
                await asyncio.sleep(1)

                incident = await open_incident(Cases(store))
                base = f"http://127.0.0.1:{ports[0]}/api/v1/incidents/{incident.id}/actions"
                r = await client.post(
                    base,
                    json={"command": {"action": "triage"}, "version": incident.version},
                    headers=auth("lead"),
                )
                assert r.status_code == 200, r.text
                r = await client.post(
                    base,
                    json={
                        "command": {"action": "hand_off", "to_unit": UNIT},
                        "version": r.json()["version"],
                    },
                    headers=auth("lead"),
                )
                assert r.status_code == 200, r.text

                while not smtp.box.mails:
                    assert time.monotonic() < deadline, log.read_text()[-4000:]
                    await asyncio.sleep(0.2)
                await asyncio.sleep(3)  # many more rounds of both watches and both senders
                (mail,) = smtp.box.mails
                assert f"chuyển cho {UNIT}" in mail["Subject"]
                assert mail["To"] == "truc-ban@cat-pctp.hue.gov.vn"
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            await store.stop()
