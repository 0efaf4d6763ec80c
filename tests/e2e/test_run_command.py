"""`make run`'s command on a clean data folder: alerts from the bundled sample within 60 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.harness import free_port, http_get


def test_soc_run_serves_sample_alerts_within_a_minute(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env |= {
        "SOC_ENV": "development",
        "SOC_SAMPLE__REPLAY_ON_START": "true",
        "SOC_DATA_DIR": str(tmp_path),
        "SOC_STORE__SQLITE__PATH": str(tmp_path / "soc.db"),
    }
    log = tmp_path / "run.log"
    started = time.monotonic()
    started_at = datetime.now(UTC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "run", "--port", str(port)],
        env=env,
        cwd=tmp_path,  # as from any folder: nothing is read relative to it
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        alerts: list[object] = []
        while time.monotonic() - started < 60 and proc.poll() is None:
            token_file = tmp_path / "analyst.token"
            if token_file.exists():
                status, body = http_get(
                    f"{base}/api/v1/alerts?limit=5", token_file.read_text().strip()
                )
                if status == 200:
                    alerts = json.loads(body)["items"]
                    if alerts:
                        break
            time.sleep(0.5)
        assert alerts, f"no alert within 60 s; log:\n{log.read_text()[-3000:]}"
        token = (tmp_path / "analyst.token").read_text().strip()
        _the_sample_happened_now(base, token, started_at)
        assert http_get(f"{base}/readyz")[0] == 200
        assert http_get(f"{base}/api/v1/alerts")[0] == 401
        assert (tmp_path / "ingest.token").stat().st_mode & 0o077 == 0, "token file is private"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM as its exit status.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert '"msg": "service stopped"' in log.read_text()


def _the_sample_happened_now(base: str, token: str, started_at: datetime) -> None:
    """Re-timed on replay: alerts of the last hour on the overview, the 2023 time kept raw."""
    status, body = http_get(f"{base}/api/v1/alerts?limit=500", token)
    assert status == 200
    items = json.loads(body)["items"]
    times = [datetime.fromisoformat(a["time"]) for a in items]
    now = datetime.now(UTC)
    assert all(started_at - timedelta(hours=1) < t <= now for t in times), times[:5]
    status, body = http_get(f"{base}/api/v1/overview", token)
    assert status == 200
    hours = json.loads(body)["alerts_per_hour"]
    assert len(hours) == 24
    assert sum(h["alerts"] for h in hours) >= len(items) > 0, hours
    status, body = http_get(f"{base}/api/v1/alerts/{items[0]['id']}", token)
    assert status == 200
    raw = json.dumps(json.loads(body)["event"]["raw"])
    assert "2023-08-15" in raw, "the recorded time stays in the raw record"
