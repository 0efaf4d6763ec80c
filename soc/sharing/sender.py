"""The share sender: builds a due job's bundle, applies the policy, pushes what is new.

For each due job: claim it (state ``sending`` until ``now + claim_s``, written at the
version read; a conflict means another sender has it). Then, at send time:

1. the incident as it is now, its TLP (the analyst's, else the policy's
   ``default_tlp``); TLP:RED is **withheld**, never sent;
2. its STIX bundle (soc.evidence.export.build_stix) with that TLP, redacted when the
   policy says so (soc.sharing.redact);
3. the object versions this target has not accepted yet (the ledger, soc.sharing.jobs),
   each recorded ``sent`` before the push;
4. the push and the status resource polled until final (soc.sharing.taxii); each version
   the server accepted, or refused as already held when this SOC had sent it before
   (a push whose answer was lost) or when it is immutable (an SCO another party sent) or
   a published marking definition (TLP 2.0), is recorded ``accepted`` and never sent there again.

Every object accepted: the job is ``shared``, the objects join the tenant's own TAXII
collection (soc.sharing.objects), the incident is followed for changes, and the share is
audited (``incident.shared``: who asked, target, bundle SHA-256, status id, counts).
Otherwise (server unreachable, an HTTP error, objects refused or still pending) the job
is ``pending`` again after ``retry_min_s * 2**(attempts-1)`` (at most ``retry_max_s``),
with its ``last_error``, audited ``incident.share_failed``; it is never given up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from soc.detect.catalog import RuleCatalog
from soc.evidence.export import build_stix
from soc.incidents.cases import Cases
from soc.incidents.models import Change, Incident
from soc.log import get_logger
from soc.metrics import SHARED_OBJECTS, SHARES
from soc.models import canonical_json, utcnow
from soc.notify.sender import default_owner
from soc.settings import LOCAL_TARGET, SharingSettings, SharingTarget, Tlp
from soc.sharing.jobs import Follow, Shares, object_version
from soc.sharing.models import ShareJob, ShareState
from soc.sharing.objects import StixObjects
from soc.sharing.redact import redact
from soc.sharing.taxii import PushFailed, push
from soc.store import Store

log = get_logger(__name__)

ACTOR = "system:sharing"


def effective_tlp(incident: Incident, settings: SharingSettings) -> Tlp:
    return incident.tlp or settings.policy(incident.tenant).default_tlp


class ShareSender:
    def __init__(
        self,
        store: Store,
        cases: Cases,
        settings: SharingSettings,
        *,
        rules_dirs: Sequence[Path | str],
        catalog: RuleCatalog | None = None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.shares = Shares(store)
        self.shared_objects = StixObjects(store)
        self._store = store
        self._cases = cases
        self._rules_dirs = rules_dirs
        self._catalog = catalog
        self.owner = owner or default_owner()

    def backoff(self, attempts: int) -> timedelta:
        s = self.settings
        return timedelta(seconds=min(s.retry_max_s, s.retry_min_s * 2 ** max(attempts - 1, 0)))

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass over the due jobs; how many this sender finished as shared."""
        done = 0
        for job in await self.shares.due(now or utcnow()):
            out = await self.deliver(job)
            done += out is not None and out.state is ShareState.shared
        return done

    async def deliver(self, job: ShareJob) -> ShareJob | None:
        """Claim ``job`` and send it; the job as written after, ``None`` when another sender
        claimed it first."""
        now = utcnow()
        claimed = await self.shares.write(
            job.model_copy(
                update={
                    "state": ShareState.sending,
                    "attempts": job.attempts + 1,
                    "claimed_by": self.owner,
                    "next_at": now + timedelta(seconds=self.settings.claim_s),
                }
            )
        )
        if claimed is None:
            return None
        target = self.settings.target(claimed.target)
        incident = await self._cases.incidents.get(claimed.incident, tenants=[claimed.tenant])
        local = claimed.target == LOCAL_TARGET
        if target is None and not local:
            return await self._withhold(claimed, None, f"no sharing target {claimed.target!r}")
        if incident is None:
            return await self._withhold(claimed, None, "the incident no longer exists")
        tlp = effective_tlp(incident, self.settings)
        if tlp == "red":
            return await self._withhold(claimed, incident, "TLP:RED never leaves the SOC")
        if target is None:  # the SOC's own TAXII server: published in the tenant's collection
            job, objects = await self._bundle(claimed, incident, tlp)
            return await self._shared(job, incident, objects, status_id=None, sent=len(objects))
        try:
            return await self._send(claimed, incident, target, tlp)
        except PushFailed as e:
            return await self._failed(claimed, incident, str(e))

    async def _bundle(
        self, job: ShareJob, incident: Incident, tlp: Tlp
    ) -> tuple[ShareJob, list[dict[str, Any]]]:
        """The incident's bundle as its tenant's policy lets it out, and the job noting it."""
        policy = self.settings.policy(incident.tenant)
        bundle = await build_stix(
            self._store, incident, rules_dirs=self._rules_dirs, catalog=self._catalog, tlp=tlp
        )
        if policy.redact:
            bundle = redact(bundle, policy)
        objects: list[dict[str, Any]] = bundle["objects"]
        sha = hashlib.sha256(canonical_json(bundle).encode()).hexdigest()
        job = job.model_copy(
            update={
                "tlp": tlp,
                "redacted": policy.redact,
                "bundle_sha256": sha,
                "objects": len(objects),
            }
        )
        return job, objects

    async def _send(
        self, job: ShareJob, incident: Incident, target: SharingTarget, tlp: Tlp
    ) -> ShareJob | None:
        job, objects = await self._bundle(job, incident, tlp)
        now = utcnow()
        new: list[dict[str, Any]] = []
        sent_before: set[tuple[str, str]] = set()
        for obj in objects:
            key = (str(obj["id"]), object_version(obj))
            state = await self.shares.ledger_state(job.target, *key)
            if state == "accepted":
                continue
            if state == "sent":
                sent_before.add(key)
            else:
                await self.shares.mark(job.tenant, job.target, obj, "sent", now)
            new.append(obj)
        if not new:
            return await self._shared(job, incident, objects, status_id=None, sent=0)
        result = await push(target, new, wait_s=self.settings.status_wait_s)
        accepted = 0
        problems: list[str] = []
        for obj in new:
            key = (str(obj["id"]), object_version(obj))
            held_anyway = key in sent_before or not key[1] or obj["type"] == "marking-definition"
            ok = result.was_accepted(key) or (result.was_present(key) and held_anyway)
            if ok:
                await self.shares.mark(job.tenant, job.target, obj, "accepted", utcnow())
                accepted += 1
            elif (failure := result.failure(key)) is not None:
                problems.append(f"{key[0]}: {failure}")
            elif result.was_present(key):
                problems.append(f"{key[0]}: the server holds another copy of this version")
            else:
                problems.append(f"{key[0]}: pending")
        SHARED_OBJECTS.labels(target=job.target).inc(accepted)
        job = job.model_copy(
            update={
                "status_id": result.status_id,
                "sent": job.sent + len(new),
                "accepted": job.accepted + accepted,
            }
        )
        if problems:
            error = f"status {result.status_id}: {len(problems)} not accepted: " + "; ".join(
                problems[:5]
            )
            return await self._failed(job, incident, error)
        return await self._shared(job, incident, objects, status_id=result.status_id, sent=len(new))

    async def _shared(
        self,
        job: ShareJob,
        incident: Incident,
        objects: list[dict[str, Any]],
        *,
        status_id: str | None,
        sent: int,
    ) -> ShareJob | None:
        now = utcnow()
        added = await self.shared_objects.add(job.tenant, objects, now=now)
        if job.target == LOCAL_TARGET:  # the versions new to the tenant's collection
            sent = len(added)
            job = job.model_copy(update={"sent": job.sent + sent, "accepted": job.accepted + sent})
        await self.shares.follow(
            Follow(
                tenant=job.tenant,
                incident=incident.id,
                target=job.target,
                updated=incident.updated,
                shared_at=now,
            )
        )
        done = await self.shares.write(
            job.model_copy(
                update={
                    "state": ShareState.shared,
                    "shared_at": now,
                    "last_error": None,
                    "next_at": now,
                }
            )
        )
        SHARES.labels(target=job.target, result="shared").inc()
        if sent or job.trigger != "update":
            await self._audit(job, incident, "shared", {"sent_now": sent})
        log.info(
            "incident shared",
            extra={
                "incident": incident.id,
                "target": job.target,
                "sent": sent,
                "status_id": status_id,
            },
        )
        return done

    async def _failed(self, job: ShareJob, incident: Incident, error: str) -> ShareJob | None:
        now = utcnow()
        done = await self.shares.write(
            job.model_copy(
                update={
                    "state": ShareState.pending,
                    "next_at": now + self.backoff(job.attempts),
                    "last_error": error[:1000],
                }
            )
        )
        SHARES.labels(target=job.target, result="failed").inc()
        await self._audit(job, incident, "share_failed", {"error": error[:300]})
        log.warning(
            "incident not shared",
            extra={
                "incident": job.incident,
                "target": job.target,
                "attempts": job.attempts,
                "error": error[:300],
            },
        )
        return done

    async def _withhold(
        self, job: ShareJob, incident: Incident | None, why: str
    ) -> ShareJob | None:
        done = await self.shares.write(
            job.model_copy(
                update={"state": ShareState.withheld, "last_error": why, "next_at": utcnow()}
            )
        )
        SHARES.labels(target=job.target, result="withheld").inc()
        if incident is not None:
            await self._audit(job, incident, "share_withheld", {"reason": why})
        log.info("share withheld", extra={"incident": job.incident, "reason": why})
        return done

    async def _audit(
        self, job: ShareJob, incident: Incident, action: str, extra: dict[str, Any]
    ) -> None:
        after = {
            "job": job.id,
            "target": job.target,
            "trigger": job.trigger,
            "requested_by": job.requested_by,
            "tlp": job.tlp,
            "redacted": job.redacted,
            "bundle_sha256": job.bundle_sha256,
            "status_id": job.status_id,
            "objects": job.objects,
            "sent": job.sent,
            "accepted": job.accepted,
            "attempt": job.attempts,
        } | extra
        await self._cases.record(
            Change.of(incident, actor=ACTOR, action=action, time=utcnow(), after=after)
        )
