"""A detector outlives a Kafka outage: it waits, then resumes where it was, losing nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import pytest

from tests.e2e.detectors import ROOT, Rig, processed

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]
SERVICES = ["bash", str(ROOT / "deploy/local/services.sh")]


def kafka(action: str) -> None:
    done = subprocess.run(
        [*SERVICES, f"kafka-{action}"], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_detector_survives_a_kafka_outage(rig: Rig) -> None:
    first_half, second_half = rig.events[: len(rig.events) // 2], rig.events[len(rig.events) // 2 :]
    detector, port = rig.start_detector()
    rig.events = first_half
    await rig.publish_events()
    deadline = time.monotonic() + 120
    while processed(port) < len(first_half):
        assert time.monotonic() < deadline, rig.log.read_text()[-3000:]
        await asyncio.sleep(0.2)

    kafka("stop")
    try:
        await asyncio.sleep(8)
        assert detector.poll() is None, "the detector must wait out the outage, not exit"
    finally:
        kafka("start")

    rig.events = second_half
    deadline = time.monotonic() + 120
    while True:  # the producer in this test reconnects too; retry until Kafka takes it
        try:
            await rig.publish_events()
            break
        except Exception:
            assert time.monotonic() < deadline
            await asyncio.sleep(1)
    rig.events = first_half + second_half
    while processed(port) < len(rig.events):
        assert time.monotonic() < deadline, rig.log.read_text()[-3000:]
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    ids = await rig.stored_alert_ids()
    detector.send_signal(signal.SIGTERM)
    detector.wait(timeout=30)
    assert sorted(ids) == sorted(rig.expected)
