"""`soc-connector send` ships a recorded file through the ingest API, batch by batch."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
from importlib import resources
from pathlib import Path

from soc.api.server import serving
from soc.settings import Settings
from tests.e2e.harness import TOKENS, backend_settings, sample_lines


async def test_send_posts_every_line_and_reports_refusals(tmp_path: Path) -> None:
    lines = sample_lines()
    bad = tmp_path / "with-bad-line.ndjson"
    bad.write_bytes(b"\n".join([*lines[:5], b"{not json", *lines[5:10]]) + b"\n")
    sample = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz")
    gz = tmp_path / "sample.ndjson.gz"
    gz.write_bytes(sample.read_bytes())
    assert len(gzip.decompress(gz.read_bytes()).splitlines()) == len(lines)

    settings = Settings(
        **backend_settings(
            "memory", "sqlite", prefix="t", tmp=tmp_path, kafka=None, opensearch=None
        )
    )
    env = {**os.environ, "SOC_INGEST_TOKEN": TOKENS["ingest"]}
    async with serving(settings) as url:

        async def send(path: Path) -> tuple[int, dict[str, int], str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "connectors.cli",
                "send",
                "--url",
                url,
                "--batch-lines",
                "300",
                str(path),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            return proc.returncode or 0, json.loads(out), err.decode()

        code, result, _ = await send(gz)
        assert code == 0 and result == {"accepted": len(lines), "rejected": 0}
        code, result, err = await send(bad)
        assert code == 1 and result == {"accepted": 10, "rejected": 1}
        assert "batch line 6: not_json" in err
