"""A rule uploaded, disabled for a tenant and changed through the API reaches a running
detector within 10 s, and its alerts carry the rule's revision: on both pairs.

memory+sqlite: the detector inside `soc run` (in-process). kafka+opensearch: the API
in-process without workers, and `soc detect` as a real process beside it. The events
are the bundled recorded OTRF slice: SigmaHQ's "Local Accounts Discovery" (not bundled)
matches four of its events, all on host MKT01, where the bundled rules also fire (the
marker: "DPAPI Domain Master Key Backup Attempt"). Each post sends those four events and
then the marker, re-sent under an origin stream of its own (new event ids), so on Kafka
they share one partition, in order: once the marker's alert is stored, the detector has
matched the four events before it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from soc.api.app import create_app
from soc.app import Service
from soc.detect.load import load_engine
from soc.hunt.rules import hunt_rules
from soc.ingest.ndjson import parse_ndjson
from soc.models import Alert, utcnow
from soc.settings import Settings
from tests.e2e.harness import api_keys, auth, free_port, sample_lines, service_settings

RULE = (
    "sigma/rules/windows/process_creation/"
    "proc_creation_win_susp_local_system_owner_account_discovery.yml"
)
RULE_ID = "502b42de-4306-40b4-9596-6f590c81f073"
MARKER_TITLE = "DPAPI Domain Master Key Backup Attempt"
TENANT = "hue-ioc"
TAKES_EFFECT_S = 10.0


def recorded_lines(shared_dir: Path) -> tuple[list[bytes], bytes]:
    """The slice's lines the new rule matches, and one line the bundled rules match."""
    lines = sample_lines()
    events = parse_ndjson(
        b"\n".join(lines), tenant=TENANT, source="http", received=utcnow(), max_line_bytes=1 << 20
    ).events
    text = (shared_dir / RULE).read_text(encoding="utf-8")
    new = hunt_rules(service_settings().detect, text=text).engine()
    bundled = load_engine(service_settings().detect)
    by_record = {json.dumps(e.raw, sort_keys=True): e for e in events}
    matching, marker = [], None
    for line in lines:
        event = by_record[json.dumps(json.loads(line), sort_keys=True)]
        if new.match(event):
            matching.append(line)
        if marker is None and [r.title for r in bundled.match(event)] == [MARKER_TITLE]:
            marker = line
    assert len(matching) == 4 and marker is not None
    return matching, marker


class Poster:
    """Posts the matching events and the marker under a new stream each time."""

    def __init__(self, client: httpx.AsyncClient, matching: list[bytes], marker: bytes) -> None:
        self.client = client
        self.matching = matching
        self.marker = marker
        self.n = 0

    async def post(self) -> tuple[set[str], str]:
        """Post once; (alert ids the new rule would raise, the marker's alert id)."""
        self.n += 1
        origin = {"connector": "test", "source": "live-rules", "stream": f"s{self.n}", "seq": 0}
        body = b"\n".join(
            json.dumps({"record": json.loads(line), "origin": {**origin, "seq": i}}).encode()
            for i, line in enumerate([*self.matching, self.marker])
        )
        parsed = parse_ndjson(
            body, tenant=TENANT, source="http", received=utcnow(), max_line_bytes=1 << 20
        ).events
        assert len(parsed) == 5
        r = await self.client.post("/api/v1/ingest", content=body, headers=auth("ingest"))
        assert r.status_code == 200 and r.json()["accepted"] == 5, r.text
        bundled = load_engine(service_settings().detect)
        marker_rule = bundled.match(parsed[-1])[0].id
        return (
            {Alert.make_id(rule_id=RULE_ID, event_id=e.id) for e in parsed[:-1]},
            Alert.make_id(rule_id=marker_rule, event_id=parsed[-1].id),
        )

    async def alert(self, alert_id: str) -> dict[str, Any] | None:
        r = await self.client.get(f"/api/v1/alerts/{alert_id}", headers=auth("lead"))
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def outcome(
        self, expected: set[str], marker: str, wait_s: float = 30
    ) -> list[dict[str, Any]]:
        """Once the marker's alert is stored, the new rule's alerts of that post."""
        deadline = time.monotonic() + wait_s
        while await self.alert(marker) is None:
            assert time.monotonic() < deadline, "the detector did not match the marker"
            await asyncio.sleep(0.2)
        found = [await self.alert(a) for a in sorted(expected)]
        return [a for a in found if a is not None]

    async def until(self, want_alerts: bool, since: float) -> tuple[float, list[dict[str, Any]]]:
        """Post every second until a post's outcome has (or lacks) the rule's alerts; the
        seconds from ``since`` to that post, and its alerts."""
        while True:
            posted = time.monotonic()
            assert posted - since < TAKES_EFFECT_S + 5, "the change never took effect"
            alerts = await self.outcome(*await self.post())
            if bool(alerts) == want_alerts:
                return posted - since, alerts
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - posted)))


def start_detector(settings: Settings, tmp: Path) -> subprocess.Popen[bytes]:
    """`soc detect` as its own process, on the settings' Kafka topics and OpenSearch indices."""
    return subprocess.Popen(
        [sys.executable, "-m", "soc.cli", "detect"],
        env=detect_env(settings, tmp),
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "detect.log").open("ab"),
        cwd=tmp,
    )


def detect_env(settings: Settings, tmp: Path) -> dict[str, str]:
    kafka, opensearch = settings.bus.kafka, settings.store.opensearch
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOC_")},
        "SOC_ENV": "production",
        "SOC_AUTH__SECRET_KEY": "test-secret-not-default",
        "SOC_AUTH__API_KEYS": json.dumps(api_keys()),
        "SOC_BUS__KIND": "kafka",
        "SOC_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SOC_BUS__KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "SOC_BUS__KAFKA__PARTITIONS": str(kafka.partitions),
        "SOC_STORE__KIND": "opensearch",
        "SOC_STORE__OPENSEARCH__HOSTS": json.dumps(opensearch.hosts),
        "SOC_STORE__OPENSEARCH__INDEX_PREFIX": opensearch.index_prefix,
        "SOC_STORE__OPENSEARCH__REFRESH_ON_WRITE": "true",
        "SOC_DETECT__RULES": json.dumps([str(p) for p in settings.detect.rules]),
        "SOC_DETECT__BATCH_SIZE": "200",
        "SOC_DETECT__CACHE_DIR": str(tmp / "rule-cache"),
        "SOC_DETECT__METRICS_PORT": str(free_port()),
    }


@asynccontextmanager
async def deployment(settings: Settings, tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """memory: `soc run` in-process; kafka: the API in-process and `soc detect` beside it."""
    workers = settings.bus.kind == "memory"
    service = Service(settings, workers=workers)
    app = create_app(service)
    proc = None
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
            if not workers:
                proc = start_detector(settings, tmp)
            try:
                yield client
            finally:
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=30)


async def test_rules_change_on_a_running_detector_within_10_s(
    settings: Settings, shared_dir: Path, tmp_path: Path
) -> None:
    matching, marker = recorded_lines(shared_dir)
    text = (shared_dir / RULE).read_text(encoding="utf-8")
    async with deployment(settings, tmp_path) as client:
        poster = Poster(client, matching, marker)
        # The detector is up once a bundled rule fires; the new rule raises nothing yet.
        assert await poster.outcome(*await poster.post(), wait_s=120) == []

        r = await client.post("/api/v1/rules", json={"yaml": text}, headers=auth("lead"))
        assert r.status_code == 201, r.text
        assert r.json()["rules"][0]["revision"] == 1
        took, alerts = await poster.until(True, since=time.monotonic())
        print(f"upload took effect after {took:.1f} s")  # the figure of the acceptance test
        assert took < TAKES_EFFECT_S
        assert {a["rule_revision"] for a in alerts} == {1} and len(alerts) == 4

        r = await client.post(
            f"/api/v1/rules/{RULE_ID}/disable", json={"tenants": [TENANT]}, headers=auth("lead")
        )
        assert r.status_code == 200, r.text
        assert r.json()["tenants"] == {TENANT: False} and r.json()["enabled"] is True
        took, _ = await poster.until(False, since=time.monotonic())
        print(f"disable took effect after {took:.1f} s")
        assert took < TAKES_EFFECT_S
        # Disabled means disabled: a later post raises nothing either.
        assert await poster.outcome(*await poster.post()) == []

        r = await client.post(
            f"/api/v1/rules/{RULE_ID}/enable", json={"tenants": [TENANT]}, headers=auth("lead")
        )
        assert r.status_code == 200, r.text
        changed = text.replace("level: low", "level: medium")
        assert changed != text
        r = await client.put(
            f"/api/v1/rules/{RULE_ID}", json={"yaml": changed, "revision": 1}, headers=auth("lead")
        )
        assert r.status_code == 200, r.text
        assert r.json()["rules"][0]["revision"] == 2
        started = time.monotonic()
        while True:
            took, alerts = await poster.until(True, since=started)
            if {a["rule_revision"] for a in alerts} == {2}:
                break
            assert {a["rule_revision"] for a in alerts} == {1}  # the old version, until swapped
        print(f"revision 2 took effect after {took:.1f} s")
        assert took < TAKES_EFFECT_S
        assert {a["severity"] for a in alerts} == {"medium"} and len(alerts) == 4
