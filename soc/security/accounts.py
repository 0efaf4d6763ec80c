"""Accounts and ended sessions over the case-records seam, alike on SQLite and OpenSearch.

    RecordUserStore    soc.security.users.UserStore: one ``user`` record per account
    RecordRevocations  soc.security.tokens.Revocations: answers from memory, writes each
                       revocation as a ``revocation`` record and reloads them all every
                       few seconds, so a sign-out reaches every API process

Both belong to no tenant (``NO_TENANT``): an account's tenants are a term to
filter on, and who may see an account is decided by the users routes
(:func:`soc.security.roles.may_manage`).

Every change of a stored account is a read-modify-write that names the version
it read (:meth:`Records.put_record`'s ``expect``), retried on a conflict, so a
sign-in recording ``last_login`` never undoes an admin's change made meanwhile.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from soc.errors import BackendError, Conflict
from soc.log import get_logger
from soc.models import utcnow
from soc.security.tokens import LEEWAY, LIFETIME, MemoryRevocations, TokenClaims
from soc.security.users import USERNAME, User, UserExists, UserNotFound
from soc.store.records import NO_TENANT, Kind, Record, RecordQuery, Records
from soc.store.terms import micros, words

log = get_logger(__name__)

UPDATE_TRIES = 10
"""Read-modify-write attempts on one account before a Conflict is given up to the caller."""
PAGE = 1000
PURGE_EVERY_S = 60.0
PURGE_BATCH = 500


def user_record(user: User) -> Record:
    """The stored form of an account; listed in username order (equal ``sort``, by id)."""
    terms = {
        "role": [user.role],
        "tenants": list(user.tenants),
        "disabled": ["true" if user.disabled else "false"],
    }
    if user.unit:
        terms["unit"] = [user.unit]
    return Record(
        kind=Kind.user,
        id=user.username,
        tenant=NO_TENANT,
        sort=0,
        terms=terms,
        words=words(f"{user.username} {user.display_name}"),
        doc=user.model_dump(mode="json"),
    )


class RecordUserStore:
    """A :class:`~soc.security.users.UserStore` over any store's case records."""

    def __init__(self, records: Records) -> None:
        self._records = records

    async def get(self, username: str) -> User | None:
        if not re.fullmatch(USERNAME, username):
            return None  # no such account can exist: never send the name to the backend
        record = await self._records.get_record(Kind.user, username)
        return User.model_validate(record.doc) if record else None

    async def put(self, user: User) -> None:
        for _ in range(UPDATE_TRIES):
            stored = await self._records.get_record(Kind.user, user.username)
            try:
                await self._records.put_record(
                    user_record(user), expect=stored.version if stored else 0
                )
                return
            except Conflict:
                continue
        raise Conflict(f"user {user.username} kept changing", expected=0, found=None)

    async def create(self, user: User) -> None:
        try:
            await self._records.put_record(user_record(user), expect=0)
        except Conflict as e:
            raise UserExists(f"a user {user.username!r} exists") from e

    async def update(self, username: str, change: Callable[[User], User]) -> User:
        for _ in range(UPDATE_TRIES):
            stored = await self._records.get_record(Kind.user, username)
            if stored is None:
                raise UserNotFound(f"no user {username!r}")
            changed = change(User.model_validate(stored.doc))
            if changed.username != username:
                raise ValueError("an account cannot be renamed")
            try:
                await self._records.put_record(user_record(changed), expect=stored.version)
                return changed
            except Conflict:
                continue  # changed meanwhile: apply the change again to the new version
        raise Conflict(f"user {username} kept changing", expected=0, found=None)

    async def list(self) -> builtins.list[User]:
        users: builtins.list[User] = []
        after: tuple[int, str] | None = None
        while True:
            page = await self._records.find_records(
                RecordQuery(kind=Kind.user, tenants=None, order="asc", limit=PAGE, after=after)
            )
            users += [User.model_validate(r.doc) for r in page.items]
            if page.next is None:
                return users
            after = page.next

    async def set_password(self, username: str, password_hash: str) -> None:
        await self.update(username, lambda u: u.model_copy(update={"password_hash": password_hash}))

    async def disable(self, username: str) -> None:
        await self.update(username, lambda u: u.model_copy(update={"disabled": True}))

    async def record_login(self, username: str, *, at: datetime) -> None:
        await self.update(username, lambda u: u.model_copy(update={"last_login": at}))


class RecordRevocations:
    """:class:`~soc.security.tokens.Revocations` shared through the store.

    :meth:`is_revoked` is asked on every request, so it answers from an
    in-memory copy (a :class:`MemoryRevocations`). :meth:`revoke` and
    :meth:`revoke_subject` change that copy at once and queue the write;
    :meth:`flush` writes the queue (routes await it before answering, and
    :meth:`run` does it every ``refresh_s``). :meth:`refresh` reloads every
    revocation still in force from the store, which is how another process's
    sign-out arrives here: within ``refresh_s``.

    A record's ``sort`` is the moment it stops mattering (in microseconds),
    so a refresh reads only live ones and a purge deletes the rest.
    """

    def __init__(
        self,
        records: Records,
        *,
        refresh_s: float = 5.0,
        lifetime: timedelta = LIFETIME,
        leeway: timedelta = LEEWAY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._records = records
        self._memory = MemoryRevocations(lifetime=lifetime, leeway=leeway, clock=clock)
        self._keep = lifetime + leeway
        self._leeway = leeway
        self._clock = clock
        self.refresh_s = refresh_s
        self._jtis: dict[str, datetime] = {}
        self._subjects: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._purged_at = 0.0

    # The Revocations protocol: synchronous, from memory.

    def revoke(self, jti: str, *, expires_at: datetime) -> None:
        self._memory.revoke(jti, expires_at=expires_at)
        self._jtis[jti] = expires_at

    def revoke_subject(self, sub: str, *, before: datetime) -> None:
        self._memory.revoke_subject(sub, before=before)
        current = self._subjects.get(sub)
        self._subjects[sub] = max(before, current) if current else before

    def is_revoked(self, claims: TokenClaims) -> bool:
        return self._memory.is_revoked(claims)

    # Sharing through the store.

    @property
    def pending(self) -> int:
        """Revocations made here and not yet written."""
        return len(self._jtis) + len(self._subjects)

    async def flush(self) -> None:
        """Write the queued revocations; what fails stays queued (and raises)."""
        async with self._lock:
            while self._jtis:
                jti, expires_at = next(iter(self._jtis.items()))
                await self._write_jti(jti, expires_at)
                if self._jtis.get(jti) == expires_at:
                    del self._jtis[jti]
            while self._subjects:
                sub, before = next(iter(self._subjects.items()))
                await self._write_subject(sub, before)
                if self._subjects.get(sub) == before:
                    del self._subjects[sub]

    async def refresh(self) -> None:
        """Load every revocation still in force into memory (adds; never forgets early)."""
        after: tuple[int, str] | None = None
        since = micros(self._clock())
        while True:
            page = await self._records.find_records(
                RecordQuery(
                    kind=Kind.revocation,
                    tenants=None,
                    sort_from=since,
                    order="asc",
                    limit=PAGE,
                    after=after,
                )
            )
            for record in page.items:
                self._apply(record)
            if page.next is None:
                return
            after = page.next

    async def purge(self) -> int:
        """Delete up to a batch of revocations no token can match any more."""
        page = await self._records.find_records(
            RecordQuery(
                kind=Kind.revocation,
                tenants=None,
                sort_to=micros(self._clock()),
                order="asc",
                limit=PURGE_BATCH,
            )
        )
        for record in page.items:
            await self._records.delete_record(Kind.revocation, record.id)
        return len(page.items)

    async def sync(self) -> None:
        """One round: write what is queued, reload, and now and then purge."""
        await self.flush()
        await self.refresh()
        if time.monotonic() - self._purged_at >= PURGE_EVERY_S:
            await self.purge()
            self._purged_at = time.monotonic()

    async def run(self) -> None:
        """:meth:`sync` every ``refresh_s`` until :meth:`stop`; a failing store is retried."""
        self._stop.clear()
        while not self._stop.is_set():
            try:
                await self.sync()
            except BackendError as e:
                log.warning("revocations not synchronized", extra={"error": str(e)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.refresh_s)
        try:
            await self.flush()
        except BackendError as e:
            log.warning("revocations not written at stop", extra={"error": str(e)})

    def stop(self) -> None:
        self._stop.set()

    def _apply(self, record: Record) -> None:
        doc = record.doc
        if "jti" in doc:
            self._memory.revoke(str(doc["jti"]), expires_at=datetime.fromisoformat(doc["until"]))
        elif "sub" in doc:
            self._memory.revoke_subject(
                str(doc["sub"]), before=datetime.fromisoformat(doc["before"])
            )

    async def _write_jti(self, jti: str, expires_at: datetime) -> None:
        record = Record(
            kind=Kind.revocation,
            id=f"jti:{jti}",
            tenant=NO_TENANT,
            sort=micros(expires_at + self._leeway),
            terms={"type": ["session"]},
            doc={"jti": jti, "until": expires_at.isoformat()},
        )
        with contextlib.suppress(Conflict):  # written already: a revocation never changes
            await self._records.put_record(record, expect=0)

    async def _write_subject(self, sub: str, before: datetime) -> None:
        record_id = f"sub:{sub}"
        for _ in range(UPDATE_TRIES):
            stored = await self._records.get_record(Kind.revocation, record_id)
            if stored is not None:
                cutoff = datetime.fromisoformat(stored.doc["before"])
                if cutoff >= before:
                    return
            record = Record(
                kind=Kind.revocation,
                id=record_id,
                tenant=NO_TENANT,
                sort=micros(before + self._keep),
                terms={"type": ["subject"], "sub": [sub]},
                doc={"sub": sub, "before": before.isoformat()},
            )
            try:
                await self._records.put_record(record, expect=stored.version if stored else 0)
                return
            except Conflict:
                continue
        raise Conflict(f"revocation of {sub} kept changing", expected=0, found=None)
