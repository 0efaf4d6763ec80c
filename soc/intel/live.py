"""The detector's indicator matcher, built from the store and swapped whole on a change.

    live = LiveIndicators(Indicators(store), settings.detect.indicators)
    await live.load()          # at start: read every indicator, build
    matcher = live.current     # a batch takes this once and matches with it only
    await live.refresh()       # the reloader's tick: cheap when nothing changed

A refresh reads the indicators' generation (one record, soc.intel.store); when it moved
it reads every indicator and builds a new :class:`IndicatorMatcher` off the event loop,
then replaces :attr:`LiveIndicators.current` in one assignment. When only a validity
boundary passed (``current.next_change``), it rebuilds from the indicators it holds,
without reading the store. A matcher checks each hit's validity itself, so an
indicator that expires between two ticks stops matching at once anyway.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from soc.intel.matcher import IndicatorMatcher
from soc.intel.models import Indicator
from soc.intel.store import Indicators
from soc.log import get_logger
from soc.metrics import INDICATOR_REBUILD_SECONDS, INDICATOR_REBUILDS, INDICATORS_LIVE
from soc.models import utcnow
from soc.settings import IndicatorMatchSettings

log = get_logger(__name__)


def build(
    indicators: list[Indicator], *, now: datetime, generation: int, subdomains: bool
) -> tuple[IndicatorMatcher, float]:
    started = time.perf_counter()
    matcher = IndicatorMatcher(indicators, now=now, generation=generation, subdomains=subdomains)
    return matcher, time.perf_counter() - started


class LiveIndicators:
    """The live indicators of one detector: loaded at start, rebuilt on change."""

    def __init__(self, indicators: Indicators, settings: IndicatorMatchSettings) -> None:
        self._indicators = indicators
        self._settings = settings
        self._lock = asyncio.Lock()
        self.current = IndicatorMatcher(now=utcnow(), subdomains=settings.match_subdomains)
        self.poll_s = settings.poll_s

    @property
    def severity(self) -> str | None:
        return self._settings.severity

    async def load(self) -> IndicatorMatcher:
        """Read every indicator and build now, whatever the generation."""
        async with self._lock:
            generation = await self._indicators.generation()
            found = [i async for i in self._indicators.all()]
            matcher, seconds = await asyncio.to_thread(
                build,
                found,
                now=utcnow(),
                generation=generation,
                subdomains=self._settings.match_subdomains,
            )
            self._swap(matcher, seconds, reason="changed")
            return matcher

    async def refresh(self) -> bool:
        """Rebuild when the generation moved or a validity boundary passed; whether swapped."""
        reason = "changed"
        try:
            generation = await self._indicators.generation()
            if generation != self.current.generation:
                await self.load()
            elif self.current.due(now := utcnow()):
                reason = "validity"
                async with self._lock:
                    kept = list(self.current.kept)
                    matcher, seconds = await asyncio.to_thread(
                        build,
                        kept,
                        now=now,
                        generation=self.current.generation,
                        subdomains=self._settings.match_subdomains,
                    )
                    self._swap(matcher, seconds, reason=reason)
            else:
                return False
        except Exception:
            INDICATOR_REBUILDS.labels(reason=reason, result="failed").inc()
            raise
        INDICATOR_REBUILDS.labels(reason=reason, result="swapped").inc()
        return True

    def _swap(self, matcher: IndicatorMatcher, seconds: float, *, reason: str) -> None:
        self.current = matcher
        INDICATOR_REBUILD_SECONDS.observe(seconds)
        INDICATORS_LIVE.set(matcher.live_count)
        log.info(
            "indicator matcher built",
            extra={
                "reason": reason,
                "generation": matcher.generation,
                "kept": len(matcher),
                "live": matcher.live_count,
                "invalid": matcher.invalid,
                "next_change": matcher.next_change.isoformat() if matcher.next_change else None,
                "build_s": round(seconds, 3),
            },
        )
