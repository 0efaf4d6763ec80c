"""The Kafka ingest bridge on a real broker, fed a connector's envelopes of a recorded auth.log.

Each test has its own topic prefix (so its own `<prefix>.ingest.<tenant>` topics,
its own bus topics) and its own bridge group.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from pydantic import BaseModel

from connectors.parse._base import Defaults
from connectors.parse.linux_auth import parse_auth_line
from soc.app import build_bridge
from soc.bus import Bus, Subscription, Topic, build_bus
from soc.bus.codec import decode
from soc.ingest.ndjson import parse_ndjson
from soc.models import DeadLetter, Event, Origin, utcnow
from soc.settings import Settings
from soc.stages.bridge import KafkaBridge, message_source
from tests.e2e.harness import api_keys

pytestmark = [pytest.mark.kafka]

IOC, DOF, ROGUE = "hue-ioc", "hue-dof", "hue-xyz"
"""IOC has an ingest key; DOF is named in the bridge's tenants; ROGUE is unknown."""
CONNECTOR = "ioc-web-01"
STREAM = "file:/var/log/auth.log"
KEY = f"{CONNECTOR}/{STREAM}"
DEADLINE_S = 20.0
M = TypeVar("M", bound=BaseModel)


def auth_envelopes(shared_dir: Path, n: int, *, start: int = 0) -> list[bytes]:
    """Lines ``start`` to ``start + n`` of the recorded auth.log as the connector ships them."""
    lines = (shared_dir / "datasets/linux/auth.log").read_text("utf-8").splitlines()
    defaults = Defaults(
        source="auth", tz=ZoneInfo("Asia/Ho_Chi_Minh"), now=datetime(2026, 11, 24, tzinfo=UTC)
    )
    out = []
    for seq in range(start, start + n):
        origin = Origin(connector=CONNECTOR, source="auth", stream=STREAM, seq=seq)
        envelope = parse_auth_line(lines[seq], defaults=defaults).model_copy(
            update={"origin": origin}
        )
        out.append(envelope.model_dump_json(exclude_none=True).encode())
    return out


def expected_ids(lines: Sequence[bytes], tenant: str) -> list[str]:
    parsed = parse_ndjson(
        b"\n".join(lines),
        tenant=tenant,
        source=message_source(KEY),
        received=utcnow(),
        max_line_bytes=1 << 20,
    )
    assert not parsed.dead
    return [e.id for e in parsed.events]


def bridge_settings(kafka: str, prefix: str, *, max_line_bytes: int = 1 << 20) -> Settings:
    return Settings(
        env="production",
        auth={"secret_key": "test-secret-not-default", "api_keys": api_keys()},
        bus={"kind": "kafka", "kafka": {"bootstrap_servers": kafka, "topic_prefix": prefix}},
        ingest={
            "max_line_bytes": max_line_bytes,
            "kafka_bridge": {"tenants": [DOF], "group": f"{prefix}-bridge", "batch_size": 40},
        },
    )


def ingest_topic(prefix: str, tenant: str) -> str:
    return f"{prefix}.ingest.{tenant}"


async def produce(kafka: str, topic: str, values: Sequence[bytes], *, partitions: int = 2) -> None:
    """As a connector does: one line a message, keyed by connector and stream."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    except Exception as e:  # already made by an earlier call of this test
        assert "TopicAlreadyExists" in type(e).__name__ or "already exists" in str(e), e
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, value=v, key=KEY.encode()) for v in values]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def committed(kafka: str, group: str, topic: str) -> int:
    """Messages of ``topic`` the group has committed, over all partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(0, o.offset) for tp, o in offsets.items() if tp.topic == topic)


async def read(sub: Subscription, model: type[M], n: int, *, linger_s: float = 0.0) -> list[M]:
    """At least ``n`` records, then whatever else comes within ``linger_s``."""
    out: list[M] = []
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while len(out) < n:
        assert asyncio.get_running_loop().time() < deadline, f"only {len(out)} of {n} arrived"
        good, bad = decode(model, await sub.poll(max_records=500, timeout_s=0.5))
        assert not bad
        out += good
    end = asyncio.get_running_loop().time() + linger_s
    while asyncio.get_running_loop().time() < end:
        out += decode(model, await sub.poll(max_records=500, timeout_s=0.2))[0]
    return out


@asynccontextmanager
async def running(bridge: KafkaBridge) -> AsyncIterator[KafkaBridge]:
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
    finally:
        bridge.stop()
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def bus(kafka_bootstrap: str, unique_name: str) -> AsyncIterator[Bus]:
    b = build_bus(bridge_settings(kafka_bootstrap, unique_name).bus)
    await b.start()
    try:
        yield b
    finally:
        await b.stop()


async def test_tenant_comes_from_the_topic_and_bad_messages_become_dead_letters(
    kafka_bootstrap: str,
    unique_name: str,
    shared_dir: Path,
    bus: Bus,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = auth_envelopes(shared_dir, 160)
    limit = max(map(len, good)) + 64
    forged = {**json.loads(good[0]), "tenant": DOF}  # a line claiming another tenant
    bad = {
        b"{not json": "not_json",
        b"\xff\xfe garbage": "not_json",
        b"[1, 2]": "not_object",
        good[1].ljust(limit + 1): "too_large",  # a recorded line, padded
        good[2].replace(b'"seq":2', b'"seq":-2'): "invalid",
    }
    await produce(
        kafka_bootstrap,
        ingest_topic(unique_name, IOC),
        [*good[:80], *bad, json.dumps(forged).encode(), *good[80:]],
    )
    await produce(kafka_bootstrap, ingest_topic(unique_name, DOF), good[:40])
    await produce(kafka_bootstrap, ingest_topic(unique_name, ROGUE), good[:10])

    settings = bridge_settings(kafka_bootstrap, unique_name, max_line_bytes=limit)
    group = settings.ingest.kafka_bridge.group
    events_sub = await bus.subscribe(Topic.events, f"{unique_name}-reader")
    dead_sub = await bus.subscribe(Topic.deadletters, f"{unique_name}-reader")
    async with running(build_bridge(settings, bus)):
        events = await read(events_sub, Event, 160 + 1 + 40)
        letters = await read(dead_sub, DeadLetter, len(bad))
        assert REGISTRY.get_sample_value("soc_ingest_topics_unread") == 1

        # The same lines sent again keep their ids.
        await produce(kafka_bootstrap, ingest_topic(unique_name, IOC), good[:20])
        resent = await read(events_sub, Event, 20, linger_s=1.0)

    by_tenant: dict[str, list[Event]] = {}
    for e in events:
        by_tenant.setdefault(e.tenant, []).append(e)
    assert set(by_tenant) == {IOC, DOF}, "a topic of an unknown tenant must stay unread"
    ioc = [e for e in by_tenant[IOC] if e.origin is not None]
    assert [e.id for e in ioc] == expected_ids(good, IOC)  # in order, after the bad ones too
    assert [e.id for e in by_tenant[DOF]] == expected_ids(good[:40], DOF)
    assert ioc[0].origin == Origin(connector=CONNECTOR, source="auth", stream=STREAM, seq=0)
    assert ioc[0].logsource.service == "sshd" and ioc[0].source == "auth"
    (claimed,) = [e for e in by_tenant[IOC] if e.origin is None]
    assert claimed.raw["tenant"] == DOF and claimed.tenant == IOC
    assert claimed.source == f"kafka:{KEY}"

    assert Counter(d.reason for d in letters) == Counter(bad.values())
    assert {(d.tenant, d.stage, d.source) for d in letters} == {(IOC, "ingest", f"kafka:{KEY}")}
    assert {d.payload for d in letters if d.detail.startswith("not valid JSON")} == {"{not json"}

    assert [e.id for e in resent] == expected_ids(good[:20], IOC)
    assert (
        await committed(kafka_bootstrap, group, ingest_topic(unique_name, IOC))
        == len(good) + len(bad) + 1 + 20
    )
    assert await committed(kafka_bootstrap, group, ingest_topic(unique_name, ROGUE)) == 0
    unread = [r for r in caplog.records if r.getMessage().startswith("ingest topic of an unknown")]
    assert {getattr(r, "topic", None) for r in unread} == {ingest_topic(unique_name, ROGUE)}


async def test_offsets_are_committed_only_once_the_bus_holds_the_events(
    kafka_bootstrap: str, unique_name: str, shared_dir: Path, bus: Bus
) -> None:
    topic = ingest_topic(unique_name, IOC)
    first, later = auth_envelopes(shared_dir, 60, start=1000), auth_envelopes(shared_dir, 5)
    await produce(kafka_bootstrap, topic, first)
    settings = bridge_settings(kafka_bootstrap, unique_name)
    group = settings.ingest.kafka_bridge.group
    events_sub = await bus.subscribe(Topic.events, f"{unique_name}-reader")

    # The bus is down (never started): the bridge reads, fails to publish, retries.
    errors = {"stage": "bridge", "error_type": "BusError"}
    before = REGISTRY.get_sample_value("soc_errors_total", errors) or 0
    down = build_bus(settings.bus)
    async with running(build_bridge(settings, down)):
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while (REGISTRY.get_sample_value("soc_errors_total", errors) or 0) <= before:
            assert asyncio.get_running_loop().time() < deadline, "the bridge never tried"
            await asyncio.sleep(0.1)
    assert await committed(kafka_bootstrap, group, topic) == 0

    async with running(build_bridge(settings, bus)):
        events = await read(events_sub, Event, len(first))
    assert [e.id for e in events] == expected_ids(first, IOC)
    assert await committed(kafka_bootstrap, group, topic) == len(first)

    await produce(kafka_bootstrap, topic, later)
    async with running(build_bridge(settings, bus)):
        events = await read(events_sub, Event, len(later), linger_s=1.5)
    assert [e.id for e in events] == expected_ids(later, IOC), "committed lines came again"
