"""The event bus: one seam (:mod:`soc.bus.base`), two implementations.

:func:`build_bus` is the only place that knows both: the in-process
:class:`~soc.bus.memory.MemoryBus` and the Kafka one, imported only when asked
for so that the memory bus works without aiokafka loaded.
"""

from __future__ import annotations

from soc.bus.base import Bus, Message, Subscription, Topic
from soc.settings import BusSettings

__all__ = ["Bus", "Message", "Subscription", "Topic", "build_bus"]


def build_bus(settings: BusSettings) -> Bus:
    """The bus ``settings.kind`` names, not yet started."""
    if settings.kind == "kafka":
        from soc.bus.kafka import KafkaBus

        return KafkaBus(settings.kafka)
    from soc.bus.memory import MemoryBus

    return MemoryBus(settings.memory)
