"""The roll of worker processes: who is working, and who has gone silent.

A `soc detect` or `soc correlate` has no API of its own to ask; killed with SIGKILL it
leaves nothing behind but a consumer group one member short. So each beats into the
store every ``workers.beat_s`` (:class:`RollCall`, a periodic stage), and every API's
/readyz reads the roll (:meth:`WorkerRoll.read`): a worker unheard of for
``workers.silent_after_s`` is named there as silent, with how long, and counted in
``soc_workers{role,state="silent"}``.

The roll is one counter of the store (soc.store.counters, atomic across processes on
both stores): a name per worker, ``<role>@<host>:<pid>``, and the Unix time of its last
beat. A worker stopping cleanly leaves the roll; a silent one stays named until
``workers.forget_after_s``, unless a worker of the same role starts on the same host and
finds its process gone (a restart by systemd or the operator): then it is dropped at once.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from soc.errors import BackendError
from soc.log import get_logger
from soc.settings import WorkerSettings
from soc.stages.runtime import PeriodicStage
from soc.store.counters import Counter, Counters

log = get_logger(__name__)

ROLL_KEY = "roll:workers"


def worker_name(role: str, host: str | None = None, pid: int | None = None) -> str:
    return f"{role}@{host or socket.gethostname()}:{pid if pid is not None else os.getpid()}"


def _parts(name: str) -> tuple[str, str, int | None]:
    role, _, rest = name.partition("@")
    host, _, pid = rest.rpartition(":")
    return role, host, int(pid) if pid.isdigit() else None


def _gone(pid: int) -> bool:
    """Whether no process has this id on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Worker:
    name: str
    role: str
    last_beat: float
    """Unix seconds."""
    silent_s: float
    """Seconds since its last beat."""
    silent: bool


class WorkerRoll:
    def __init__(self, counters: Counters, settings: WorkerSettings) -> None:
        self._counters = counters
        self.settings = settings

    async def beat(self, name: str, now: float | None = None, *, replaces: bool = False) -> None:
        """``name`` is alive at ``now``. With ``replaces``, the same role's entries on this
        host whose process is gone are dropped (a worker's first beat)."""
        at = time.time() if now is None else now
        role, host, _ = _parts(name)

        def change(c: Counter | None) -> tuple[Counter, None]:
            values = self._kept(c, at)
            if replaces:
                for other in list(values):
                    r, h, p = _parts(other)
                    if other != name and r == role and h == host and p is not None and _gone(p):
                        del values[other]
            values[name] = at
            return Counter(values=values, expires=at + self.settings.forget_after_s), None

        await self._counters.update_counter(ROLL_KEY, change)

    async def leave(self, name: str) -> None:
        """``name`` stopped cleanly: off the roll."""

        def change(c: Counter | None) -> tuple[Counter | None, None]:
            if c is None or name not in c.values:
                return c, None
            values = {k: v for k, v in c.values.items() if k != name}
            return (Counter(values=values, expires=c.expires) if values else None), None

        await self._counters.update_counter(ROLL_KEY, change)

    async def read(self, now: float | None = None) -> list[Worker]:
        """Every worker on the roll, the silent ones first, then by name."""
        at = time.time() if now is None else now

        def change(c: Counter | None) -> tuple[Counter | None, Counter | None]:
            return c, c

        stored = await self._counters.update_counter(ROLL_KEY, change)
        workers = [
            Worker(
                name=name,
                role=_parts(name)[0],
                last_beat=beat,
                silent_s=max(0.0, at - beat),
                silent=at - beat > self.settings.silent_after_s,
            )
            for name, beat in self._kept(stored, at).items()
        ]
        return sorted(workers, key=lambda w: (not w.silent, w.name))

    def _kept(self, c: Counter | None, now: float) -> dict[str, float]:
        if c is None:
            return {}
        forget = self.settings.forget_after_s
        return {k: v for k, v in c.values.items() if now - v <= forget}


class RollCall(PeriodicStage):
    """Beats this worker into the roll every ``workers.beat_s``; leaves it when stopped."""

    name = "roll-call"

    def __init__(self, roll: WorkerRoll, role: str) -> None:
        super().__init__()
        self._roll = roll
        self.worker = worker_name(role)
        self.interval_s = roll.settings.beat_s
        self._first = True

    async def tick(self) -> None:
        await self._roll.beat(self.worker, replaces=self._first)
        self._first = False

    async def run(self) -> None:
        await super().run()
        try:
            await self._roll.leave(self.worker)
        except BackendError as e:
            log.warning("could not leave the roll", extra={"worker": self.worker, "error": str(e)})
