"""Recorded records moved in time, so that a replay happens now.

    pairs = retimed(records, end=utcnow())   # [(record, new time), ...]

Each record keeps its gaps to the others and the latest lands on ``end``, so
nothing is dated in the future and a day's chart shows the replay where it
happened. The record itself is not touched: its recorded time stays in the
raw event, and the new time goes into the envelope (``EventIn.time``). A
record that states no time (or a broken one) takes ``end``.
``soc-connector replay`` re-times drills the same way from their start, with
pacing (connectors/replay.py); ``soc run`` re-times its bundled sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from soc.ingest.normalize import NormalizeError, recorded_time


def retimed(
    records: Sequence[dict[str, Any]], *, end: datetime
) -> list[tuple[dict[str, Any], datetime]]:
    times: list[datetime | None] = []
    for record in records:
        try:
            times.append(recorded_time(record))
        except NormalizeError:
            times.append(None)
    known = [t for t in times if t is not None]
    if not known:
        return [(record, end) for record in records]
    shift = end - max(known)
    return [(r, t + shift if t is not None else end) for r, t in zip(records, times, strict=True)]
