"""Models to bus messages and back: JSON values, keyed by tenant and host."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from soc.bus.base import Message


class Keyed(Protocol):
    @property
    def bus_key(self) -> str: ...

    def model_dump_json(self) -> str: ...


M = TypeVar("M", bound=BaseModel)


def encode(records: Iterable[Keyed]) -> list[Message]:
    return [Message(key=r.bus_key, value=r.model_dump_json().encode()) for r in records]


def decode(
    model: type[M], messages: Iterable[Message]
) -> tuple[list[M], list[tuple[Message, str]]]:
    """Decoded models, and the messages that did not decode with the reason."""
    good: list[M] = []
    bad: list[tuple[Message, str]] = []
    for m in messages:
        try:
            good.append(model.model_validate_json(m.value))
        except ValidationError as e:
            bad.append((m, str(e.errors()[0]["msg"])))
    return good, bad
