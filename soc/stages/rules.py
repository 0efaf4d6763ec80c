"""The rule reloader: polls the rule catalog and swaps the detector's rules when it changed.

Each tick is one read of the catalog's generation (soc.detect.catalog); only a changed
generation reads the rules and recompiles them, off the event loop (soc.detect.live). The
detector takes the rules anew at each batch, so a change reaches its next batch: within
``detect.rules_poll_s`` plus the compile time of the changed texts.
"""

from __future__ import annotations

from soc.detect.live import LiveRules
from soc.errors import BackendError
from soc.log import get_logger
from soc.stages.runtime import PeriodicStage

log = get_logger(__name__)


class RuleReloader(PeriodicStage):
    name = "rules"

    def __init__(self, live: LiveRules) -> None:
        super().__init__()
        self._live = live
        self.interval_s = live.poll_s

    async def tick(self) -> None:
        """A store outage is retried at the next tick (the runtime counts it); anything else
        is logged and the rules in use are kept: a detector never stops on a bad reload."""
        try:
            await self._live.refresh()
        except BackendError:
            raise
        except Exception:
            log.exception("rules reload failed; the rules in use are kept")
