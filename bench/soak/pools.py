"""Recorded lines, ready to be written again and again as if they happened now.

Each pool holds templates of one recording's lines with its time text cut out
(:data:`TIME_MARK`); :meth:`Pool.take` fills in the current time, so every
replayed event is of now (the store's daily indices, the correlation windows
and the grouping window see a live stream, as a drill's replay does). The
record's other fields are untouched; Windows host names are spread over
``hosts`` names (``MKT01.pandalab.com`` -> ``MKT01-h3.pandalab.com``), as a
fleet would send them, so the events spread over the bus's partitions.

Probe lines are Windows lines that raise an alert with the project's rules,
their host renamed to a name of their own (``soakprobe-<run>-<n>``): the
harness finds the probe's alert with ``GET /api/v1/alerts?q=soakprobe`` and its
event with ``GET /api/v1/events?q=soakprobe``, and times both from the moment
the line was written.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

TIME_MARK = b"@@SOAKTIME@@"
PROBE_MARK = b"@@SOAKPROBE@@"
PROBE_WORD = "soakprobe"
"""The word every probe's host carries, the one both searches look for."""
WINDOWS_TIME_FIELDS = ("@timestamp", "TimeCreated", "EventTime", "timestamp")
ACCESS_TIME = re.compile(rb"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]")

Kind = Literal["windows", "auth", "access"]


def datasets_dir() -> Path:
    """shared/datasets beside the checkout (the worktrees' and CI's layout), or /work/shared."""
    here = Path(__file__).resolve().parents[3]
    for base in (here / "shared/datasets", Path("/work/shared/datasets")):
        if base.is_dir():
            return base
    raise FileNotFoundError("no shared/datasets beside the checkout nor at /work/shared")


def stamp(kind: Kind, now: datetime) -> bytes:
    """The time text of ``kind``'s lines for ``now`` (UTC; the connectors read it as UTC)."""
    if kind == "windows":
        return (now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z").encode()
    if kind == "auth":
        return f"{now:%b} {now.day:2d} {now:%H:%M:%S}".encode()
    return now.strftime("[%d/%b/%Y:%H:%M:%S +0000]").encode()


@dataclass
class Pool:
    """One recording's line templates, taken round robin."""

    name: str
    kind: Kind
    templates: list[bytes]
    probes: list[bytes] = field(default_factory=list)
    """Templates of alerting lines whose host is :data:`PROBE_MARK` (Windows only)."""
    _next: int = 0
    _next_probe: int = 0

    def take(self, n: int, now: datetime) -> list[bytes]:
        t = stamp(self.kind, now)
        out = []
        for _ in range(n):
            out.append(self.templates[self._next].replace(TIME_MARK, t))
            self._next = (self._next + 1) % len(self.templates)
        return out

    def probe(self, host: str, now: datetime) -> bytes:
        line = self.probes[self._next_probe % len(self.probes)]
        self._next_probe += 1
        return line.replace(TIME_MARK, stamp(self.kind, now)).replace(PROBE_MARK, host.encode())


def _campaign_zip(name: str) -> Path:
    return next((datasets_dir() / "otrf" / name).glob("*.zip"))


def windows_pool(campaign: str, *, limit: int, hosts: int) -> Pool:
    """The first ``limit`` lines of a recorded OTRF campaign (NDJSON in its zip)."""
    templates: list[bytes] = []
    with zipfile.ZipFile(_campaign_zip(campaign)) as z, z.open(z.namelist()[0]) as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            record = json.loads(raw)
            for name in WINDOWS_TIME_FIELDS:
                if name in record:
                    record[name] = TIME_MARK.decode()
            host = record.get("Hostname")
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            if isinstance(host, str) and "." in host and hosts > 1:
                short, _, domain = host.partition(".")
                fleet = f"{short}-h{len(templates) % hosts}.{domain}"
                text = text.replace(f'"{host}"', f'"{fleet}"')
            templates.append(text.encode())
            if len(templates) >= limit:
                break
    return Pool(name=campaign, kind="windows", templates=templates)


def auth_pool() -> Pool:
    """The recorded Linux auth.log, its syslog time (first 15 characters) cut out."""
    lines = (datasets_dir() / "linux/auth.log").read_bytes().splitlines()
    return Pool(
        name="auth.log", kind="auth", templates=[TIME_MARK + ln[15:] for ln in lines if ln.strip()]
    )


def access_pool() -> Pool:
    """The recorded Apache access log, its ``[time]`` cut out."""
    lines = (datasets_dir() / "web/apache_access.log").read_bytes().splitlines()
    return Pool(
        name="access.log",
        kind="access",
        templates=[ACCESS_TIME.sub(TIME_MARK, ln, count=1) for ln in lines if ln.strip()],
    )


def add_probes(pool: Pool, *, want: int = 40) -> None:
    """Find up to ``want`` lines of ``pool`` that raise an alert (not only a correlation's
    input) with the project's rules, and keep them as probe templates."""
    from soc.detect.correlation.model import silent_ids
    from soc.detect.load import load_engine
    from soc.detections import RULES
    from soc.ingest.ndjson import parse_ndjson
    from soc.models import utcnow
    from soc.settings import DetectSettings

    engine = load_engine(DetectSettings(rules=[RULES], cache_dir=None))
    silent = silent_ids(engine.correlations)
    now = stamp("windows", datetime.now(UTC))
    for template in pool.templates:
        line = template.replace(TIME_MARK, now)
        parsed = parse_ndjson(
            line, tenant="soak", source="probe", received=utcnow(), max_line_bytes=1 << 20
        )
        if not parsed.events:
            continue
        event = parsed.events[0]
        if not any(r.id not in silent for r in engine.match(event)):
            continue
        record = json.loads(template)
        host = record.get("Hostname")
        if not isinstance(host, str):
            continue
        pool.probes.append(template.replace(f'"{host}"'.encode(), b'"' + PROBE_MARK + b'"'))
        if len(pool.probes) >= want:
            break
    if not pool.probes:
        raise RuntimeError(f"no line of {pool.name} raises an alert: no probe to time")
