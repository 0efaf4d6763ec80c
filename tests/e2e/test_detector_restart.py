"""On Kafka, a detector killed mid-stream and restarted misses no alert and adds none."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.e2e.detectors import Rig, processed

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]


async def test_killed_detector_resumes_without_loss_or_duplicates(rig: Rig) -> None:
    assert rig.expected
    await rig.publish_events()

    first, port = rig.start_detector()
    deadline = time.monotonic() + 120
    seen = 0.0
    while time.monotonic() < deadline and first.poll() is None:
        seen = processed(port)
        if seen >= len(rig.events) * 0.15:
            break
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert 0 < seen < len(rig.events), f"kill must land mid-stream (processed {seen})"
    print(f"killed after {seen:.0f} of {len(rig.events)} events; {len(rig.expected)} alerts")

    second, _ = rig.start_detector()
    deadline = time.monotonic() + 120
    ids: list[str] = []
    while time.monotonic() < deadline:
        ids = await rig.stored_alert_ids()
        if len(ids) >= len(rig.expected):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # anything late would be a duplicate or an extra
    ids = await rig.stored_alert_ids()
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)
    assert len(ids) == len(set(ids)), "an alert was stored twice"
    assert set(ids) == rig.expected, (
        f"missing {len(rig.expected - set(ids))}, extra {len(set(ids) - rig.expected)}; "
        f"detector log:\n{rig.log.read_text()[-3000:]}"
    )
