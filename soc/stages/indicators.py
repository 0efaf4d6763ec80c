"""The indicator reloader: polls the indicators' generation and swaps the detector's
matcher when it moved, or when an indicator's validity starts or ends (soc.intel.live).

Each tick is one read of the generation; a change reaches the detector's next batch
within ``detect.indicators.poll_s`` plus the build time (about a second for 100,000
indicators, see bench/intel.py). Validity is also checked on every hit, so an expired
indicator stops matching at once whatever the tick.
"""

from __future__ import annotations

from soc.errors import BackendError
from soc.intel.live import LiveIndicators
from soc.log import get_logger
from soc.stages.runtime import PeriodicStage

log = get_logger(__name__)


class IndicatorReloader(PeriodicStage):
    name = "indicators"

    def __init__(self, live: LiveIndicators) -> None:
        super().__init__()
        self._live = live
        self.interval_s = live.poll_s

    async def tick(self) -> None:
        """A store outage is retried at the next tick; anything else is logged and the
        matcher in use is kept."""
        try:
            await self._live.refresh()
        except BackendError:
            raise
        except Exception:
            log.exception("indicator matcher rebuild failed; the one in use is kept")
