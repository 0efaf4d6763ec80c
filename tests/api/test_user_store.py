"""Accounts and ended sessions in the store, against SQLite and a real OpenSearch.

The same behaviour on both: accounts by name, listed in name order, changed
without losing a concurrent change; revocations written by one process and
read by another, forgotten once no token can match them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import soc.security.accounts as users_module
from soc.errors import Conflict
from soc.security.accounts import RecordRevocations, RecordUserStore
from soc.security.passwords import PasswordHashing
from soc.security.tokens import TokenClaims
from soc.security.users import User, UserExists, UserNotFound, new_user
from soc.store import Store
from soc.store.records import Kind, Record, RecordPage, RecordQuery
from tests.stores import BACKENDS, fresh_store
from tests.unit.security.helpers import cheap

T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
PASSWORD = "song-huong-chay-qua-thanh-pho"
HASHING = PasswordHashing(cheap())


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> AsyncIterator[Store]:
    async for s in fresh_store(request, tmp_path, unique_name):
        yield s


def user(username: str, **fields: object) -> User:
    values: dict[str, object] = {
        "username": username,
        "display_name": username.title(),
        "role": "analyst",
        "tenants": ["hue-ioc"],
        "password": PASSWORD,
        "hashing": HASHING,
        "now": T0,
    }
    values.update(fields)
    return new_user(**values)  # type: ignore[arg-type]


async def test_accounts_round_trip_by_name(store: Store) -> None:
    users = RecordUserStore(store)
    hoa = user("analyst.hoa", display_name="Nguyễn Thị Hoa")
    await users.create(hoa)
    assert await users.get("analyst.hoa") == hoa
    assert await users.get("analyst.lan") is None
    assert await users.get("Not A Name!") is None
    assert await users.get("x" * 600) is None
    with pytest.raises(UserExists):
        await users.create(user("analyst.hoa", role="viewer"))
    assert (await users.get("analyst.hoa")) == hoa


async def test_the_list_is_in_name_order_across_pages(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users_module, "PAGE", 2)
    users = RecordUserStore(store)
    names = ["pctp.tuan", "admin.root", "analyst.hoa", "lead.minh", "analyst.an"]
    for name in names:
        await users.put(user(name))
    assert [u.username for u in await users.list()] == sorted(names)


async def test_put_replaces_and_the_helpers_change_one_field(store: Store) -> None:
    users = RecordUserStore(store)
    await users.put(user("analyst.hoa"))
    await users.put(user("analyst.hoa", role="lead", tenants=["*"]))
    stored = await users.get("analyst.hoa")
    assert stored is not None and stored.role == "lead" and stored.tenants == ["*"]
    await users.set_password("analyst.hoa", "$argon2id$new")
    await users.record_login("analyst.hoa", at=T0 + timedelta(hours=1))
    await users.disable("analyst.hoa")
    stored = await users.get("analyst.hoa")
    assert stored is not None and stored.password_hash == "$argon2id$new"
    assert stored.last_login == T0 + timedelta(hours=1) and stored.disabled
    assert stored.role == "lead"
    with pytest.raises(UserNotFound):
        await users.disable("nobody")
    with pytest.raises(UserNotFound):
        await users.set_password("nobody", "$argon2id$x")


class Interfering:
    """Records that let another writer change a record right after the next read."""

    def __init__(self, records: Store, interfere: Callable[[], Awaitable[None]]) -> None:
        self._records = records
        self._interfere: Callable[[], Awaitable[None]] | None = interfere

    async def get_record(self, kind: Kind, record_id: str) -> Record | None:
        record = await self._records.get_record(kind, record_id)
        interfere, self._interfere = self._interfere, None
        if interfere is not None:
            await interfere()
        return record

    async def put_record(self, record: Record, *, expect: int) -> Record:
        return await self._records.put_record(record, expect=expect)

    async def put_records(self, writes: Sequence[tuple[Record, int]]) -> list[Record | Conflict]:
        return await self._records.put_records(writes)

    async def get_records(self, kind: Kind, record_ids: Sequence[str]) -> dict[str, Record]:
        return await self._records.get_records(kind, record_ids)

    async def find_records(self, query: RecordQuery) -> RecordPage:
        return await self._records.find_records(query)

    async def delete_record(self, kind: Kind, record_id: str) -> bool:
        return await self._records.delete_record(kind, record_id)

    async def delete_records(self, kind: Kind, record_ids: Sequence[str]) -> int:
        return await self._records.delete_records(kind, record_ids)


async def test_a_concurrent_change_is_not_lost(store: Store) -> None:
    plain = RecordUserStore(store)
    await plain.create(user("analyst.hoa"))
    calls = 0

    def promote(u: User) -> User:
        nonlocal calls
        calls += 1
        return u.model_copy(update={"role": "lead"})

    async def sign_in_meanwhile() -> None:
        await plain.record_login("analyst.hoa", at=T0)

    users = RecordUserStore(Interfering(store, sign_in_meanwhile))
    updated = await users.update("analyst.hoa", promote)
    assert calls == 2, "the change was applied again on the fresh version"
    stored = await plain.get("analyst.hoa")
    assert stored == updated
    assert stored is not None and stored.role == "lead" and stored.last_login == T0


async def test_parallel_updates_all_land(store: Store) -> None:
    users = RecordUserStore(store)
    await users.create(user("analyst.hoa"))
    await asyncio.gather(
        users.record_login("analyst.hoa", at=T0),
        users.update("analyst.hoa", lambda u: u.model_copy(update={"display_name": "Hoa"})),
        users.update("analyst.hoa", lambda u: u.model_copy(update={"unit": "SOC-L1"})),
        users.set_password("analyst.hoa", "$argon2id$other"),
    )
    stored = await users.get("analyst.hoa")
    assert stored is not None
    assert (stored.last_login, stored.display_name, stored.unit, stored.password_hash) == (
        T0,
        "Hoa",
        "SOC-L1",
        "$argon2id$other",
    )


def claims(sub: str, *, iat: datetime, jti: str = "j" * 22) -> TokenClaims:
    return TokenClaims(
        iss="soc",
        sub=sub,
        role="analyst",
        tenants=("hue-ioc",),
        iat=iat.timestamp(),
        exp=(iat + timedelta(hours=8)).timestamp(),
        jti=jti,
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_revocation_written_by_one_process_is_read_by_another(store: Store) -> None:
    clock = Clock(T0)
    one = RecordRevocations(store, clock=clock)
    two = RecordRevocations(store, clock=clock)
    session = claims("analyst.hoa", iat=T0 - timedelta(hours=1), jti="a" * 22)
    other = claims("analyst.hoa", iat=T0 - timedelta(hours=1), jti="b" * 22)
    one.revoke(session.jti, expires_at=session.expires_at)
    assert one.is_revoked(session) and not two.is_revoked(session)
    assert one.pending == 1
    await one.flush()
    assert one.pending == 0
    await two.refresh()
    assert two.is_revoked(session) and not two.is_revoked(other)

    one.revoke_subject("lead.minh", before=T0)
    await one.flush()
    await two.refresh()
    assert two.is_revoked(claims("lead.minh", iat=T0 - timedelta(minutes=1)))
    assert not two.is_revoked(claims("lead.minh", iat=T0 + timedelta(seconds=1)))


async def test_the_later_subject_cutoff_wins_whoever_writes_last(store: Store) -> None:
    clock = Clock(T0)
    one, two, three = (RecordRevocations(store, clock=clock) for _ in range(3))
    one.revoke_subject("analyst.hoa", before=T0 + timedelta(minutes=10))
    await one.flush()
    two.revoke_subject("analyst.hoa", before=T0)
    await two.flush()
    await three.refresh()
    assert three.is_revoked(claims("analyst.hoa", iat=T0 + timedelta(minutes=5)))


async def test_revocations_no_token_can_match_are_ignored_and_purged(store: Store) -> None:
    clock = Clock(T0)
    one = RecordRevocations(store, clock=clock)
    session = claims("analyst.hoa", iat=T0 - timedelta(hours=1))
    one.revoke(session.jti, expires_at=session.expires_at)
    one.revoke_subject("analyst.hoa", before=T0)
    await one.flush()
    clock.now = T0 + timedelta(hours=9)  # past every token those could match
    later = RecordRevocations(store, clock=clock)
    await later.refresh()
    assert len(later._memory) == 0
    assert await later.purge() == 2
    page = await store.find_records(RecordQuery(kind=Kind.revocation, tenants=None))
    assert page.items == []


async def test_the_background_loop_brings_other_processes_revocations(store: Store) -> None:
    watcher = RecordRevocations(store, refresh_s=0.05)
    task = asyncio.create_task(watcher.run())
    try:
        writer = RecordRevocations(store)
        now = datetime.now(UTC)
        session = claims("analyst.hoa", iat=now - timedelta(minutes=1))
        writer.revoke(session.jti, expires_at=session.expires_at)
        await writer.flush()
        for _ in range(100):
            if watcher.is_revoked(session):
                break
            await asyncio.sleep(0.05)
        assert watcher.is_revoked(session)
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)
