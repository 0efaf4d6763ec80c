"""Several `soc detect` processes share one consumer group: the work is split, none is lost."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.e2e.detectors import Rig, processed

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]


async def test_two_detectors_split_the_events(rig: Rig) -> None:
    # The recording comes from one host, and one host's events share a partition (to keep
    # their order). Spread the same records over 12 host names, as a fleet would send them.
    rig.events = [
        e.model_copy(update={"host": f"ws{i % 12:02d}"}) for i, e in enumerate(rig.events)
    ]
    (a, port_a), (b, port_b) = rig.start_detector(), rig.start_detector()
    # Both join the group before any event arrives, so the partitions are split between them.
    deadline = time.monotonic() + 60
    while (
        min(processed(port_a), processed(port_b)) < 0
        or rig.log.read_text().count('"msg": "stage started", "stage": "detect"') < 2
    ):
        rig.check_running(deadline)
        await asyncio.sleep(0.2)
    await asyncio.sleep(8)  # the group's first rebalance settles
    await rig.publish_events()

    deadline = time.monotonic() + 120
    while processed(port_a) + processed(port_b) < len(rig.events):
        rig.check_running(deadline)
        await asyncio.sleep(0.2)
    share_a, share_b = processed(port_a), processed(port_b)
    await asyncio.sleep(2)
    ids = await rig.stored_alert_ids()
    for proc in (a, b):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert share_a > 0 and share_b > 0, f"one detector idled: {share_a} / {share_b}"
    assert share_a + share_b == len(rig.events), "each event is processed once when none fail"
    assert sorted(ids) == sorted(rig.expected)
