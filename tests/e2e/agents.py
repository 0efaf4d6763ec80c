"""Real `soc-connector run` processes for the end-to-end tests: their config and life."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.e2e.harness import TOKENS


def http_agent_config(
    tmp: Path,
    url: str,
    log: Path,
    *,
    data_dir: Path | None = None,
    heartbeat_s: float = 0.5,
    metrics_port: int | None = None,
) -> Path:
    """An agent `web-01` of hue-ioc tailing ``log`` (auth format) to the SOC at ``url``
    over HTTP, with the test ingest token; its spool in ``data_dir`` (default tmp/agent)."""
    token = tmp / "ingest.token"
    token.write_text(TOKENS["ingest"] + "\n")
    token.chmod(0o600)
    data_dir = data_dir or tmp / "agent"
    metrics = f'metrics: {{listen: "127.0.0.1:{metrics_port}"}}\n' if metrics_port else ""
    cfg = tmp / f"agent-{data_dir.name}.yml"
    cfg.write_text(
        f"""
connector: {{id: web-01, tenant: hue-ioc, data_dir: "{data_dir}", host: web-01,
             heartbeat_s: {heartbeat_s}}}
output: {{type: http, url: "{url}", token_file: "{token}", timeout_s: 10}}
delivery: {{retry_max_s: 0.5}}
{metrics}sources:
  - {{name: auth, type: file, paths: ["{log}"], format: auth}}
"""
    )
    return cfg


async def start_agent(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "connectors.cli",
        "run",
        "--config",
        str(config),
        env={**os.environ},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_agent(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, and the agent must stop cleanly (its stderr shown if not)."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-3000:]
