"""On Kafka, an event sink killed mid-stream leaves no false gap in the loss ledger.

The sink saves its ledger before it commits its offsets: killed anywhere, the events its
saved ledger has not counted are read again by the next sink and counted then. Here the
sink may commit only every 60 s while events flow, and it is killed (SIGKILL) after
storing part of the recorded events: the restarted sink's account has every record and
no gap.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta

import pytest

from soc.models import Origin, utcnow
from soc.sources.records import LedgerRecords
from tests.e2e.detectors import Rig, metric

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch]

STREAM = {"connector": "dc-01", "source": "winlog", "stream": "Security"}


def stored(port: int) -> float:
    """The process's soc_events_stored_total, or -1 while it does not answer."""
    return metric(port, "soc_events_stored_total")


async def test_a_killed_sink_leaves_no_false_gap(rig: Rig) -> None:
    rig.events = [
        e.model_copy(update={"origin": Origin(**STREAM, seq=i)}) for i, e in enumerate(rig.events)
    ]
    total = len(rig.events)
    rig.env["SOC_SOURCES__SNAPSHOT_S"] = "60"
    await rig.publish_events()

    first, port = rig.start_detector()
    deadline = time.monotonic() + 120
    seen = 0.0
    while first.poll() is None and (seen := stored(port)) < total * 0.3:
        assert time.monotonic() < deadline, rig.log.read_text()[-3000:]
        await asyncio.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert 0 < seen < total, f"the kill must land mid-stream (stored {seen})"

    second, _ = rig.start_detector()
    records = LedgerRecords(rig.store)
    deadline = time.monotonic() + 120
    while True:
        account = (await records.merged(None)).reconcile(utcnow(), timedelta(0))
        streams = [s for s in account.streams if s.connector == STREAM["connector"]]
        if streams and streams[0].records == total:
            break
        assert second.poll() is None, rig.log.read_text()[-3000:]
        assert time.monotonic() < deadline, (streams, rig.log.read_text()[-3000:])
        await asyncio.sleep(0.5)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)
    (s,) = streams
    assert (s.lost, s.pending, s.gaps, s.highest_arrived) == (0, 0, [], total - 1)
