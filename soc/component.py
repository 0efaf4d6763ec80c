"""A part with a lifetime: ``start()`` and ``stop()``, and ``async with`` for both.

    async with SqliteStore(settings) as store:     # start() ... stop()
        ...

Buses and stores derive from :class:`Component` and write only ``start`` and
``stop``; ``__aenter__`` and ``__aexit__`` are here, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Component(ABC):
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
