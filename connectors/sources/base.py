"""What a source is: a task that reads records and hands them to the agent in batches.

    class MySource(Source):
        async def run(self, emit: Emit) -> None:
            ...
            await emit(Batch(source=self.name, stream="...", first_seq=n, records=[...]))

``emit`` returns once the batch is parsed and safely in the on-disk spool;
it *waits* while the spool is full, which is how backpressure reaches a
source: a file tailer stops reading, a TCP listener stops reading its
sockets (so senders block), the HTTP receiver answers later.

Positions: a batch may carry a ``checkpoint`` (JSON-able: an offset, an S3
key). Once every event of that batch (and of all batches emitted before it
by this source) is acknowledged by the destination, the agent calls
``await source.commit(batch.stream, batch.checkpoint)``, in emit order. A
source persists positions there (see registry.py), never earlier, so a
crash re-reads what was not acknowledged rather than losing it.

Sequence numbers: ``first_seq`` is the number of the batch's first record
in its stream (0-based); records are numbered consecutively. A replayable
source (a file) must give the same numbers to the same records when it
re-reads them after a restart (keep the next seq beside the offset). A push
source (syslog, HTTP) cannot re-read; it names its streams with the agent's
``ctx.run_id`` (``tcp:10.0.0.5#<run_id>``) so numbers never repeat.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Awaitable, Callable, Container, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from connectors.parse.framing import Frame
from connectors.registry import Registry

RecordKind = Literal["line", "document"]
"""``line``: each record is one line or framed message (one event, or an error event).
``document``: each record is a whole document (a CloudTrail file, a JSON array), any events."""


@dataclass(slots=True)
class Batch:
    source: str
    """The configured source's name."""
    stream: str
    """One ordered feed inside the source: a file's identity, a peer, an object key."""
    first_seq: int
    records: list[Frame]
    """Records as frames: ``Frame(data)`` for a plain line; framing errors kept."""
    kind: RecordKind = "line"
    host: str | None = None
    """Host to use for records that name none (a syslog peer's address)."""
    checkpoint: Any = None
    """Position to commit once this batch is acknowledged; None: nothing to commit."""
    path: str | None = None
    """The file the records come from, for a format that takes meaning from its name
    (a Zeek JSON log without ``_path`` is the log its name says: ``dns.log``)."""
    preamble: tuple[bytes, ...] = ()
    """Header lines in force before the first record, when a stream is read again from
    its middle: a stateful format (Zeek TSV) reads them first. Not records."""


Emit = Callable[[Batch], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SourceContext:
    connector: str
    """The agent's id."""
    run_id: str
    """Unique per agent start (push sources name their streams with it)."""
    registry: Registry
    """Durable positions, keyed by source name."""
    log: logging.Logger


class Unreadable:
    """Paths a source could not open: each warned about once, until it opens again."""

    def __init__(self, source: str, log: logging.Logger) -> None:
        self.source = source
        self.log = log
        self._paths: set[str] = set()

    def failed(self, path: str, error: OSError) -> None:
        if path not in self._paths:
            self._paths.add(path)
            self.log.warning(
                "cannot open file; retrying each scan",
                extra={"source": self.source, "path": path, "error": error.strerror},
            )

    def opened(self, path: str) -> None:
        self._paths.discard(path)


class Absences:
    """When each read position's file was first found missing, so that it is forgotten
    only after staying gone for a while (a rotation leaves it missing for a moment)."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def present(self, stream: str) -> None:
        self._since.pop(stream, None)

    def gone_for(
        self, streams: Iterable[str], live: Container[object], after_s: float
    ) -> list[str]:
        """The ``streams`` not in ``live`` for ``after_s`` or more; forgotten here too."""
        now = time.monotonic()
        stale = []
        for s in streams:
            if s in live:
                self._since.pop(s, None)
            elif now - self._since.setdefault(s, now) >= after_s:
                stale.append(s)
        for s in stale:
            del self._since[s]
        return stale


class Source(abc.ABC):
    def __init__(self, config: Any, ctx: SourceContext) -> None:
        self.config = config
        self.ctx = ctx
        self.name: str = config.name

    @abc.abstractmethod
    async def run(self, emit: Emit) -> None:
        """Read until cancelled; a source that can fail for a while retries by itself."""

    async def commit(self, stream: str, checkpoint: Any) -> None:  # noqa: B027
        """Persist ``checkpoint`` for ``stream``: everything up to it is acknowledged."""

    def ready(self) -> bool:
        """For /healthz: False when the source cannot work (e.g. its port could not be bound)."""
        return True
