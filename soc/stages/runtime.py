"""The stage runtime: the one loop every running stage of the pipeline is driven by.

    class DeadLetters(ConsumerStage[Message]):
        name = "deadletters"

        async def subscribe(self) -> Consumer[Message]:
            return await self.bus.subscribe(Topic.deadletters, GROUP)

        async def process(self, batch: Sequence[Message]) -> None:
            ...  # make the batch's output durable; raise BackendError to have it retried

    stage = DeadLetters(...)
    task = asyncio.create_task(stage.run())   # until stage.stop()

A :class:`ConsumerStage` joins its consumer group and then, until stopped:

    poll ──> process(batch) ──> commit (at most every 0.2 s, and when idle)
     ^  a bus outage is        \\_ a BackendError (store or bus down) retries
     |  waited out                the same batch with back-off; never skipped
     └──────────────────────────── the offsets are committed only after
                                   process returned: its output is durable

so a stage killed anywhere in between reads the uncommitted batch again on
restart (at-least-once; every write downstream is idempotent by id). A
:class:`PeriodicStage` calls :meth:`~PeriodicStage.tick` every ``interval_s``
until stopped, and a tick that fails on a backend is tried again at the next.

Both count their recovered failures in ``soc_errors_total{stage,error_type}``
and the time spent on each batch or tick in ``soc_stage_latency_seconds``.
Stopping during an outage ends the loop quietly: the batch in hand is not
committed and is read again by the next member of the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from soc.errors import BackendError
from soc.log import get_logger
from soc.metrics import ERRORS, STAGE_LATENCY

log = get_logger(__name__)

RETRY_MAX_S = 30.0
POLL_TIMEOUT_S = 0.5
COMMIT_INTERVAL_S = 0.2
"""Processed offsets are committed at most this often (each commit is a broker round trip
that blocks the stage), and at once when the stage goes idle or stops."""

M = TypeVar("M")
M_co = TypeVar("M_co", covariant=True)


async def until_done(
    step: Callable[[], Awaitable[object]],
    *,
    stage: str,
    stopping: asyncio.Event,
    give_up: Callable[[BackendError], bool] | None = None,
) -> None:
    """Run ``step`` until it returns; back off on BackendError; give up only when stopping
    (or when ``give_up`` says so of the error)."""
    delay = 0.5
    while True:
        try:
            await step()
            return
        except BackendError as e:
            ERRORS.labels(stage=stage, error_type=type(e).__name__).inc()
            if stopping.is_set() or (give_up is not None and give_up(e)):
                raise
            log.warning(
                "stage step failed; retrying",
                extra={"stage": stage, "error": str(e), "retry_in_s": delay},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            delay = min(delay * 2, RETRY_MAX_S)


class Consumer(Protocol[M_co]):
    """A consumer-group member: what a bus subscription (or the Kafka ingest topics) gives."""

    async def poll(self, *, max_records: int, timeout_s: float) -> Sequence[M_co]: ...

    async def commit(self) -> None: ...

    async def close(self) -> None: ...


class Stage(ABC):
    """Something that runs until :meth:`stop`; ``name`` is its ``stage`` metrics label."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def retrying(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` until it succeeds (see :func:`until_done`)."""
        await until_done(step, stage=self.name, stopping=self._stopping)

    @abstractmethod
    async def run(self) -> None: ...


class Keeper(Protocol):
    """State a consumer stage keeps beside its output (a ledger, counts): restored before
    the first batch, maintained after each, saved at stop."""

    async def restore(self) -> None: ...

    async def maintain(self) -> None: ...

    async def save(self) -> None: ...


class ConsumerStage(Stage, Generic[M]):
    """Polls a consumer group, processes each batch, commits it once its output is durable."""

    batch_size: int = 500
    commit_every_s: float = COMMIT_INTERVAL_S
    """Longest time between two commits while batches keep coming. What the stage keeps
    is saved before each commit, so a stage killed anywhere re-reads every batch its
    saved state has not counted: a stage that keeps state commits less often."""

    def kept(self) -> dict[str, Keeper]:
        """What the stage keeps, by name (for the logs); nothing by default."""
        return {}

    @abstractmethod
    async def subscribe(self) -> Consumer[M]:
        """Join the stage's consumer group (retried while the bus is down)."""

    @abstractmethod
    async def process(self, batch: Sequence[M]) -> None:
        """Make the batch's output durable; a BackendError retries the same batch."""

    def describe(self) -> dict[str, object]:
        """What the start and stop log lines say of this stage."""
        return {}

    async def maintain(self) -> None:
        """Called after every poll, batch or not (a stateful stage's timers): maintains what
        the stage keeps. A BackendError retries it, as for a batch."""
        for keeper in self.kept().values():
            await keeper.maintain()

    async def run(self) -> None:
        """What the stage keeps restored first, its batches processed until :meth:`stop`
        (backend failures retried, never skipped), and what it keeps saved at stop."""
        kept = self.kept()
        try:
            for keeper in kept.values():
                await self.retrying(keeper.restore)
        except BackendError:
            if self.stopping:
                return
            raise
        try:
            await self._consume()
        finally:
            for what, keeper in kept.items():
                try:
                    await keeper.save()
                except BackendError as e:
                    log.warning("state not saved at stop", extra={"state": what, "error": str(e)})

    async def _consume(self) -> None:
        consumer: Consumer[M] | None = None

        async def join() -> None:
            nonlocal consumer
            consumer = await self.subscribe()

        try:
            await self.retrying(join)
            assert consumer is not None
            log.info("stage started", extra={"stage": self.name, **self.describe()})
            await self._loop(consumer)
        except BackendError as e:
            if not self.stopping:
                raise
            log.info(
                "stage stopped during an outage; the batch is read again on restart",
                extra={"stage": self.name, "error": str(e)},
            )
        finally:
            if consumer is not None:
                await consumer.close()
            log.info("stage stopped", extra={"stage": self.name, **self.describe()})

    async def _loop(self, consumer: Consumer[M]) -> None:
        """Poll, process, and commit what is processed at most every ``commit_every_s``.

        A commit follows the output it covers (process returned) and the save of what
        the stage keeps, so a crash re-reads at most the last interval's batches; their
        writes are idempotent. An idle poll and a stop commit what is pending at once.
        """
        kept = self.kept().values()
        pending = False
        last_commit = time.monotonic()
        while not self.stopping:
            batch = await self._poll(consumer)
            if batch:
                started = time.perf_counter()
                await self.retrying(functools.partial(self.process, batch))
                STAGE_LATENCY.labels(stage=self.name).observe(time.perf_counter() - started)
                pending = True
            await self.retrying(self.maintain)
            due = not batch or time.monotonic() - last_commit >= self.commit_every_s
            if pending and (due or self.stopping):
                for keeper in kept:
                    await self.retrying(keeper.save)
                await self.retrying(consumer.commit)
                pending = False
                last_commit = time.monotonic()

    async def _poll(self, consumer: Consumer[M]) -> Sequence[M]:
        batch: Sequence[M] = []

        async def step() -> None:
            nonlocal batch
            batch = await consumer.poll(max_records=self.batch_size, timeout_s=POLL_TIMEOUT_S)

        await self.retrying(step)
        return batch


class PeriodicStage(Stage):
    """Calls :meth:`tick` every ``interval_s`` until :meth:`stop`."""

    interval_s: float = 60.0

    @abstractmethod
    async def tick(self) -> None:
        """One pass; a BackendError is logged and the pass tried again at the next tick."""

    @contextlib.asynccontextmanager
    async def resources(self) -> AsyncIterator[None]:
        """What the stage holds while it runs (an HTTP session, say); nothing by default."""
        yield

    async def run(self) -> None:
        log.info("stage started", extra={"stage": self.name, "interval_s": self.interval_s})
        async with self.resources():
            while not self.stopping:
                started = time.perf_counter()
                try:
                    await self.tick()
                except BackendError as e:
                    ERRORS.labels(stage=self.name, error_type=type(e).__name__).inc()
                    log.warning(
                        "stage tick failed; trying again",
                        extra={"stage": self.name, "error": str(e)},
                    )
                STAGE_LATENCY.labels(stage=self.name).observe(time.perf_counter() - started)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)
        log.info("stage stopped", extra={"stage": self.name})
