"""Where the agent delivers: the SOC's Kafka (per-tenant ingest topic) or its ingest API.

    output = make_output(config)            # KafkaDelivery | HttpDelivery
    await output.send(entries)              # returns once the destination acknowledged all
                                            # raises DeliveryError when it did not

An output never drops: a failed send raises, the agent keeps the entries in
its spool and tries again later. A send that half-succeeded is sent again
whole; event ids make the resent half harmless.
"""

from __future__ import annotations

from typing import Protocol

from connectors.config import AgentConfig, KafkaOutput
from connectors.spool import Entry


class Output(Protocol):
    name: str

    async def send(self, entries: list[Entry]) -> None: ...

    async def heartbeat(self, body: bytes) -> None:
        """Report the agent's state (``body``: a soc.models.Heartbeat as JSON); raises
        DeliveryError when it was not taken."""
        ...

    async def close(self) -> None: ...


def make_output(config: AgentConfig) -> Output:
    if isinstance(config.output, KafkaOutput):
        from connectors.outputs.kafka import KafkaDelivery

        return KafkaDelivery(
            config.output, topic=config.kafka_topic(), connector=config.connector.id
        )
    from connectors.outputs.http import HttpDelivery

    return HttpDelivery(config.output)
