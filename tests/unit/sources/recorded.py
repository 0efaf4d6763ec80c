"""Events as a connector ships them: real records, stamped by the agent's own code.

The OTRF CloudTrail file (103 records in one ``{"Records": [...]}`` document: one
seq, parts 0..102, as an S3 object gives) and lines of a real auth.log (one seq
each, part 0), parsed and stamped by :meth:`Agent.parse_batch` and
:meth:`Agent.to_entry`, decoded from the spool entry's body and normalized as the
SOC's ingest does.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from connectors.agent import Agent
from connectors.config import parse_config
from connectors.parse.framing import Frame
from connectors.sources.base import Batch
from soc.ingest.normalize import normalize
from soc.models import Event, EventIn
from tests.conftest import SHARED

CLOUDTRAIL = SHARED / "datasets/otrf/aws/ec2_proxy_s3_exfiltration.zip"
AUTH_LOG = SHARED / "datasets/linux/auth.log"
TENANT = "hue-ioc"
RECEIVED = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def agent(tmp: Path, *, drill: str | None = None) -> Agent:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "token").write_text("x")
    cfg = parse_config(
        f"""
connector: {{id: web-01, tenant: {TENANT}, data_dir: "{tmp}/data", host: web-01}}
output: {{type: http, url: "http://127.0.0.1:9", token_file: "{tmp}/token"}}
metrics: {{listen: null}}
sources:
  - {{name: auth, type: file, paths: ["{tmp}/auth.log"], format: syslog}}
  - {{name: cloudtrail, type: file, paths: ["{tmp}/ct.json"], format: cloudtrail}}
"""
    )
    return Agent(cfg, drill=drill)


def cloudtrail_document() -> bytes:
    with zipfile.ZipFile(CLOUDTRAIL) as z:
        (name,) = z.namelist()
        lines = z.read(name).splitlines()
    return json.dumps({"Records": [json.loads(line) for line in lines]}).encode()


def auth_lines(n: int) -> list[bytes]:
    with AUTH_LOG.open("rb") as f:
        return [f.readline().rstrip(b"\n") for _ in range(n)]


def shipped(a: Agent, batch: Batch) -> list[Event]:
    """The batch's events as the SOC stores them (the agent's origins kept)."""
    entry = a.to_entry(batch, a.parse_batch(batch))
    out = []
    for line in entry.body.splitlines():
        ev = EventIn.model_validate_json(line)
        out.append(
            normalize(
                ev.record,
                tenant=TENANT,
                source=ev.source or batch.source,
                received=RECEIVED,
                host=ev.host,
                time=ev.time,
                logsource=ev.logsource,
                origin=ev.origin,
            )
        )
    return out


def auth_batch(first_seq: int, lines: list[bytes], stream: str = "803:1835") -> Batch:
    return Batch(
        source="auth", stream=stream, first_seq=first_seq, records=[Frame(x) for x in lines]
    )


def cloudtrail_batch(seq: int, stream: str = "s3://trail/AWSLogs/") -> Batch:
    return Batch(
        source="cloudtrail",
        stream=stream,
        first_seq=seq,
        records=[Frame(cloudtrail_document())],
        kind="document",
    )
