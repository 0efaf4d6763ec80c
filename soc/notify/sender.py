"""The sender: takes due messages from the outbox, sends each once, retries with back-off.

For each due message: claim it (a write at the version read, state ``sending`` until
``now + claim_s``; a conflict means another sender has it), send it on its channel, then
write the outcome at the claimed version: ``sent``; or ``pending`` again after
``retry_min_s * 2**(attempts-1)`` (at most ``retry_max_s``); or ``given_up`` once it is
older than ``give_up_s``. Every attempt is audited (``notification.sent``,
``notification.failed``, ``notification.given_up``) and counted in
``soc_notifications_total{channel,result}``.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

import aiohttp

from soc.audit.trail import AuditTrail
from soc.log import get_logger
from soc.metrics import NOTIFICATIONS
from soc.models import utcnow
from soc.notify.channels import SendFailed, send
from soc.notify.config import NotifyConfig
from soc.notify.models import OutboxItem, OutboxState
from soc.notify.outbox import Outbox
from soc.settings import NotifySettings
from soc.store.records import Records

log = get_logger(__name__)

ACTOR = "system:notify"


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Sender:
    def __init__(
        self,
        records: Records,
        audit: AuditTrail,
        settings: NotifySettings,
        *,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.config = NotifyConfig(records, settings)
        self.outbox = Outbox(records)
        self._audit = audit
        self.owner = owner or settings.owner or default_owner()

    def backoff(self, attempts: int) -> timedelta:
        s = self.settings
        return timedelta(seconds=min(s.retry_max_s, s.retry_min_s * 2 ** max(attempts - 1, 0)))

    async def run_once(self, http: aiohttp.ClientSession, now: datetime | None = None) -> int:
        """One pass over the due messages; how many this sender sent."""
        sent = 0
        for item in await self.outbox.due(now or utcnow()):
            done = await self.deliver(item, http)
            sent += done is not None and done.state is OutboxState.sent
        return sent

    async def deliver(self, item: OutboxItem, http: aiohttp.ClientSession) -> OutboxItem | None:
        """Claim ``item`` and send it; the item as written after, ``None`` when another
        sender claimed it first."""
        now = utcnow()
        claimed = await self.outbox.write(
            item.model_copy(
                update={
                    "state": OutboxState.sending,
                    "attempts": item.attempts + 1,
                    "claimed_by": self.owner,
                    "next_at": now + timedelta(seconds=self.settings.claim_s),
                }
            )
        )
        if claimed is None:
            return None
        found = await self.config.channel(item.channel)
        try:
            if found is None:
                raise SendFailed(f"no channel {item.channel!r}")
            answer = await send(found[1], claimed, http)
        except SendFailed as e:
            return await self._failed(claimed, str(e))
        done = await self.outbox.write(
            claimed.model_copy(
                update={"state": OutboxState.sent, "sent_at": utcnow(), "last_error": None}
            )
        )
        NOTIFICATIONS.labels(channel=item.channel_type, result="sent").inc()
        await self._record(claimed, "sent", answer)
        log.info(
            "notification sent",
            extra={"id": item.id, "channel": item.channel, "trigger": item.trigger},
        )
        return done

    async def _failed(self, claimed: OutboxItem, error: str) -> OutboxItem | None:
        now = utcnow()
        give_up = now - claimed.created >= timedelta(seconds=self.settings.give_up_s)
        state = OutboxState.given_up if give_up else OutboxState.pending
        result = "given_up" if give_up else "failed"
        done = await self.outbox.write(
            claimed.model_copy(
                update={
                    "state": state,
                    "next_at": now if give_up else now + self.backoff(claimed.attempts),
                    "last_error": error[:1000],
                }
            )
        )
        NOTIFICATIONS.labels(channel=claimed.channel_type, result=result).inc()
        await self._record(claimed, result, error)
        log.warning(
            "notification not sent",
            extra={
                "id": claimed.id,
                "channel": claimed.channel,
                "attempts": claimed.attempts,
                "given_up": give_up,
                "error": error[:300],
            },
        )
        return done

    async def _record(self, item: OutboxItem, result: str, detail: str) -> None:
        await self._audit.append(
            actor=ACTOR,
            tenant=item.tenant,
            action=f"notification.{result}",
            target=f"notification:{item.id}",
            before={},
            after={
                "channel": item.channel,
                "channel_type": item.channel_type,
                "trigger": item.trigger,
                "key": item.key,
                "incident": item.incident,
                "attempt": item.attempts,
                "detail": detail[:300],
            },
        )
