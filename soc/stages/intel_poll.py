"""Polling TAXII 2.1 collections for indicators (the settings' ``intel.feeds``).

Every feed is polled every ``interval_s``: the collection's objects added after the feed
record's ``added_after`` (the server's ``X-TAXII-Date-Added-Last`` of the last poll),
page after page (``taxii2client.v21.as_pages``), each page's indicators stored through
:meth:`~soc.intel.store.Indicators.put` as it comes. ``added_after`` moves only when the
whole poll succeeded, so a poll cut short is read again from where the last one ended
(the writes are idempotent: nothing is lost, nothing doubled). A failure is written to
the feed's record (``last_error``), counted (``soc_intel_polls_total{result="failed"}``)
and logged, and the feed is tried again at its next interval; one feed's failure never
stops the others or the stage. taxii2-client blocks: its calls run in a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import requests
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from soc.errors import BackendError, ConfigError, FeedError, IntelFormatError
from soc.intel.feeds import Feeds, FeedState
from soc.intel.intake import store_taken
from soc.intel.models import Tlp
from soc.intel.parse import Intake, marking_tlp, parse_stix
from soc.intel.store import Indicators
from soc.log import get_logger
from soc.metrics import INTEL_INDICATORS, INTEL_POLLS
from soc.models import utcnow
from soc.settings import FeedSettings, IntelSettings
from soc.stages.runtime import PeriodicStage
from soc.store.records import Records

log = get_logger(__name__)

DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
MAX_TICK_S = 5.0
"""The stage wakes at least this often to see which feeds are due."""


class _Pages:
    """A feed's objects, page after page, in a worker thread; remembers the server's
    ``X-TAXII-Date-Added-Last`` of the last page."""

    def __init__(self, feed: FeedSettings, added_after: str | None) -> None:
        self.feed = feed
        self.added_after = added_after
        self.added_last: str | None = None
        password = feed.secret()
        self._collection = Collection(
            feed.collection_url,
            user=feed.user,
            password=password,
            verify=feed.verify,
        )
        session = self._collection._conn.session
        session.hooks["response"].append(self._seen)
        self._timeout = feed.timeout_s
        original = session.request

        def request(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self._timeout)
            return original(*args, **kwargs)

        session.request = request

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        last = response.headers.get(DATE_ADDED_LAST)
        if last and response.ok and "/objects/" in response.url:
            self.added_last = last

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        filters: dict[str, Any] = {}
        if self.added_after:
            filters["added_after"] = self.added_after
        for envelope in as_pages(
            self._collection.get_objects, per_request=self.feed.page_size, **filters
        ):
            yield list(envelope.get("objects") or [])

    def close(self) -> None:
        self._collection.close()


class FeedPoller:
    """One feed: :meth:`poll` reads what is new and records how it went; never raises
    for the feed's own failures (only a store failure, BackendError, escapes)."""

    def __init__(self, feed: FeedSettings, *, indicators: Indicators, feeds: Feeds) -> None:
        self.feed = feed
        self._indicators = indicators
        self._feeds = feeds
        self.intake = Intake(
            source=feed.name,
            tenant=feed.tenant,
            tlp=feed.tlp,
            confidence=feed.confidence,
        )

    async def state(self) -> FeedState:
        stored = await self._feeds.get(self.feed.name)
        base = stored or FeedState(name=self.feed.name, tenant=self.feed.tenant)
        return base.model_copy(
            update={"tenant": self.feed.tenant, "collection_url": self.feed.collection_url}
        )

    async def poll(self) -> FeedState:
        state = await self.state()
        counts = {"objects": 0, "indicators": 0, "stored": 0, "rejected": 0, "skipped": 0}
        markings: dict[str, Tlp] = {}
        started = time.monotonic()
        try:
            reader = await asyncio.to_thread(_Pages, self.feed, state.added_after)
        except ConfigError as e:
            return await self._failed(state, FeedError(self.feed.name, str(e)))
        try:
            pages = reader.pages()
            while True:
                page = await asyncio.to_thread(next, pages, None)
                if page is None:
                    break
                taken = parse_stix(page, self.intake, markings=markings)
                for obj in page:  # TLP markings defined on one page apply to the next
                    if obj.get("type") == "marking-definition":
                        markings.update(_markings(obj))
                stored = await store_taken(self._indicators, taken, self.intake.source)
                counts["objects"] += len(page)
                counts["indicators"] += len(taken.indicators)
                counts["stored"] += stored
                for kind, n in taken.counts().items():
                    if kind != "indicators":
                        counts[kind] += n
                INTEL_INDICATORS.labels(via="feed").inc(stored)
        except (TAXIIServiceException, requests.RequestException, IntelFormatError) as e:
            return await self._failed(state, FeedError(self.feed.name, _describe(e)))
        except BackendError:
            raise  # the store: the feed is tried again at its next interval
        except Exception as e:  # a server's answer taxii2-client or the parser could not take
            log.warning("unexpected feed answer", extra={"feed": self.feed.name}, exc_info=e)
            return await self._failed(
                state, FeedError(self.feed.name, f"bad answer: {_describe(e)}")
            )
        finally:
            await asyncio.to_thread(reader.close)
        now = utcnow()
        state = state.model_copy(
            update={
                "added_after": reader.added_last or state.added_after,
                "last_poll": now,
                "last_success": now,
                "last_error": None,
                "last_error_at": None,
                "polls": state.polls + 1,
                "objects": state.objects + counts["objects"],
                "indicators": state.indicators + counts["stored"],
                "last_counts": counts,
            }
        )
        await self._feeds.put(state, now=now)
        INTEL_POLLS.labels(feed=self.feed.name, result="ok").inc()
        log.info(
            "feed polled",
            extra={
                "feed": self.feed.name,
                "added_after": state.added_after,
                "took_s": round(time.monotonic() - started, 3),
                **counts,
            },
        )
        return state

    async def _failed(self, state: FeedState, error: FeedError) -> FeedState:
        now = utcnow()
        state = state.model_copy(
            update={
                "last_poll": now,
                "last_error": error.detail,
                "last_error_at": now,
                "polls": state.polls + 1,
                "failures": state.failures + 1,
            }
        )
        await self._feeds.put(state, now=now)
        INTEL_POLLS.labels(feed=self.feed.name, result="failed").inc()
        log.warning(
            "feed poll failed; tried again at its next interval",
            extra={"feed": self.feed.name, "error": error.detail},
        )
        return state


def _markings(obj: dict[str, Any]) -> dict[str, Tlp]:
    tlp = marking_tlp(obj)
    return {str(obj.get("id")): tlp} if tlp else {}


def _describe(e: Exception) -> str:
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code} from {e.response.url}"
    if isinstance(e, requests.ConnectionError):
        return f"cannot connect: {type(e).__name__}: {str(e)[:300]}"
    return f"{type(e).__name__}: {str(e)[:300]}"


class IntelPoll(PeriodicStage):
    """Polls every configured feed when its interval has passed."""

    name = "intel-poll"

    def __init__(self, *, records: Records, indicators: Indicators, settings: IntelSettings):
        super().__init__()
        feeds = Feeds(records)
        self.pollers = [
            FeedPoller(feed, indicators=indicators, feeds=feeds) for feed in settings.feeds
        ]
        self.interval_s = min([MAX_TICK_S, *(f.interval_s for f in settings.feeds)])
        self._due: dict[str, float] = {}

    async def tick(self) -> None:
        for poller in self.pollers:
            if self.stopping:
                return
            name = poller.feed.name
            if time.monotonic() < self._due.get(name, 0.0):
                continue
            self._due[name] = time.monotonic() + poller.feed.interval_s
            try:
                await poller.poll()
            except Exception:
                # a store failure (retried at the feed's next interval) or a bug: logged,
                # and the other feeds polled all the same
                self._due[name] = time.monotonic() + min(poller.feed.interval_s, 30.0)
                log.exception("feed poll failed", extra={"feed": name})
