"""Drills through the ingest API: `soc-connector replay` into the running service.

The replayed events are the bundled slice of the real OTRF LSASS campaign. The
API is down when the replay starts: the agent spools and waits, and once the
service is up every event arrives, stamped with the drill id and re-timed to
now, and raises the same alerts the engine raises offline.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import trustme

from soc.api.server import free_port, serving
from soc.settings import Settings
from tests.conftest import SHARED
from tests.e2e.harness import TOKENS, auth, backend_settings, sample_lines


def agent_config(tmp: Path, url: str, *, ca_file: Path | None = None) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    token = tmp / "ingest.token"
    token.write_text(TOKENS["ingest"] + "\n")
    token.chmod(0o600)
    cfg = tmp / "drill.yml"
    ca = f', ca_file: "{ca_file}"' if ca_file else ""
    cfg.write_text(
        f"""
connector: {{id: drill-agent, tenant: hue-ioc, data_dir: "{tmp / "agent"}"}}
output: {{type: http, url: "{url}", token_file: "{token}", timeout_s: 10{ca}}}
delivery: {{batch_events: 400, retry_max_s: 0.5}}
metrics: {{listen: null}}
sources:
  - {{name: unused, type: file, paths: ["/nonexistent"]}}
"""
    )
    return cfg


async def replay(
    cfg: Path, path: Path, drill: str, fmt: str = "auto"
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "connectors.cli",
        "replay",
        "--config",
        str(cfg),
        "--fast",
        "--drill",
        drill,
        "--format",
        fmt,
        str(path),
        env={**os.environ},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def alerts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/alerts", params=params, headers=auth("analyst"))
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def test_replay_waits_for_the_api_then_delivers_the_drill(tmp_path: Path) -> None:
    sample = tmp_path / "lsass.ndjson.gz"
    sample.write_bytes(
        resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = agent_config(tmp_path, url)
    proc = await replay(cfg, sample, "drill-e2e-1")
    await asyncio.sleep(3)  # the API is not up yet: the agent spools and retries
    assert proc.returncode is None, "replay must wait for the destination, not give up"

    settings = Settings(
        **backend_settings(
            "memory", "sqlite", prefix="t", tmp=tmp_path, kafka=None, opensearch=None
        )
    )
    async with serving(settings, port=port), httpx.AsyncClient(base_url=url) as client:
        _, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()[-3000:]
        summary = json.loads(err.decode().strip().splitlines()[-1])
        assert summary["records"] == len(sample_lines())
        assert summary["events"] == len(sample_lines())

        deadline = asyncio.get_running_loop().time() + 30
        while not (found := await alerts(client)):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        found = await alerts(client)
        assert found, "the campaign's slice raises alerts"
        now = datetime.now(UTC)
        for a in found:
            assert abs(datetime.fromisoformat(a["time"]) - now) < timedelta(hours=2), a["time"]
        r = await client.get(f"/api/v1/alerts/{found[0]['id']}", headers=auth("analyst"))
        event = r.json()["event"]
        assert event["origin"]["drill"] == "drill-e2e-1"
        assert event["origin"]["connector"] == "drill-agent"
        assert event["tenant"] == "hue-ioc"

        # The same drill replayed again gives the same ids: nothing doubles.
        again = await replay(cfg, sample, "drill-e2e-1")
        _, err = await asyncio.wait_for(again.communicate(), 120)
        assert again.returncode == 0, err.decode()[-3000:]
        await asyncio.sleep(2)
        assert sorted(a["id"] for a in await alerts(client)) == sorted(a["id"] for a in found)


async def test_delivery_over_https_checks_the_socs_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    auth_log = tmp_path / "auth.log"
    lines = (SHARED / "datasets/linux/auth.log").read_bytes().splitlines()[:800]
    auth_log.write_bytes(b"".join(line + b"\n" for line in lines))

    options = backend_settings(
        "memory", "sqlite", prefix="t", tmp=tmp_path, kafka=None, opensearch=None
    )
    settings = Settings(**options)
    async with serving(settings, tls=(str(cert_file), str(key_file))) as url:
        assert url.startswith("https://")
        # Without the SOC's CA the agent refuses the certificate and keeps the events.
        untrusted = await replay(agent_config(tmp_path / "a", url), auth_log, "d1", "auth")
        await asyncio.sleep(3)
        assert untrusted.returncode is None, "must not deliver to an unverified server"
        untrusted.kill()
        await untrusted.wait()

        trusted = await replay(
            agent_config(tmp_path / "b", url, ca_file=ca_file), auth_log, "d2", "auth"
        )
        _, err = await asyncio.wait_for(trusted.communicate(), 60)
        assert trusted.returncode == 0, err.decode()[-3000:]
        summary = json.loads(err.decode().strip().splitlines()[-1])
        assert summary["events"] == len(lines)
        deadline = asyncio.get_running_loop().time() + 30
        while (stored := stored_origins(tmp_path / "soc.db")) != set(range(len(lines))):
            assert asyncio.get_running_loop().time() < deadline, len(stored)
            await asyncio.sleep(0.3)


def stored_origins(db: Path) -> set[int]:
    """The seq numbers of the stored events (each line once, whatever the resends)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT doc FROM events WHERE tenant = 'hue-ioc'").fetchall()
    return {json.loads(doc)["origin"]["seq"] for (doc,) in rows}
