"""Accounts, the in-memory store, and password sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from soc.security.passwords import PasswordHashing, WeakPassword
from soc.security.roles import UserPrincipal
from soc.security.users import (
    MemoryUserStore,
    User,
    UserNotFound,
    authenticate,
    new_user,
)
from tests.unit.security.helpers import SpyHasher, cheap

T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
PASSWORD = "song-huong-chay-qua-thanh-pho"


def make(hashing: PasswordHashing, **overrides: object) -> User:
    fields: dict[str, object] = {
        "username": "Analyst.Hoa",
        "display_name": "Nguyễn Thị Hoa",
        "role": "analyst",
        "tenants": ["hue-ioc"],
        "password": PASSWORD,
        "hashing": hashing,
        "now": T0,
    }
    fields.update(overrides)
    return new_user(**fields)  # type: ignore[arg-type]


async def store_with(*users: User) -> MemoryUserStore:
    store = MemoryUserStore()
    for user in users:
        await store.put(user)
    return store


def test_new_user_normalizes_the_name_and_hashes_the_password(hashing: PasswordHashing) -> None:
    user = make(hashing)
    assert user.username == "analyst.hoa"
    assert user.created == T0
    assert user.password_hash.startswith("$argon2id$")
    assert hashing.verify(user.password_hash, PASSWORD)
    assert user.password_hash not in repr(user)
    assert "password_hash" not in user.public().model_dump()


def test_new_user_applies_the_policy(hashing: PasswordHashing) -> None:
    with pytest.raises(WeakPassword) as caught:
        make(hashing, password="analyst.hoa")
    assert [p.code for p in caught.value.problems] == ["too_short", "same_as_username"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "analyst", "tenants": ["*"]}, "may not hold all tenants"),
        ({"role": "responder"}, "needs a unit"),
        ({"username": "-bad"}, "username"),
        ({"username": "a" * 65}, "username"),
        ({"tenants": []}, "at least 1"),
        ({"tenants": ["hue ioc"]}, "not tenant names"),
        ({"role": "ingest"}, "role"),
    ],
)
def test_invalid_accounts_are_refused(
    hashing: PasswordHashing, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make(hashing, **overrides)


def test_leads_admins_and_responders_with_units_are_accepted(hashing: PasswordHashing) -> None:
    assert make(hashing, role="lead", tenants=["*"]).tenants == ["*"]
    assert make(hashing, role="admin", tenants=["*"]).role == "admin"
    assert make(hashing, role="responder", unit="CAT-PCTP").unit == "CAT-PCTP"


async def test_authenticate_returns_the_principal_and_records_the_login(
    hashing: PasswordHashing,
) -> None:
    store = await store_with(make(hashing, role="responder", unit="CAT-PCTP"))
    later = T0 + timedelta(days=1)
    principal = await authenticate(store, " ANALYST.hoa ", PASSWORD, hashing=hashing, now=later)
    assert principal == UserPrincipal(
        name="analyst.hoa", role="responder", tenants=("hue-ioc",), unit="CAT-PCTP"
    )
    stored = await store.get("analyst.hoa")
    assert stored is not None and stored.last_login == later


async def test_a_wrong_password_is_refused_and_not_recorded(hashing: PasswordHashing) -> None:
    store = await store_with(make(hashing))
    assert await authenticate(store, "analyst.hoa", PASSWORD + "!", hashing=hashing) is None
    stored = await store.get("analyst.hoa")
    assert stored is not None and stored.last_login is None


async def test_an_unknown_user_costs_one_dummy_verify(spy: SpyHasher) -> None:
    hashing = PasswordHashing(spy)
    store = await store_with(make(hashing))
    assert await authenticate(store, "nobody", PASSWORD, hashing=hashing) is None
    assert spy.verified == [hashing.dummy_hash()]


async def test_a_disabled_user_is_refused_after_the_same_work(spy: SpyHasher) -> None:
    hashing = PasswordHashing(spy)
    user = make(hashing)
    store = await store_with(user)
    await store.disable("analyst.hoa")
    assert await authenticate(store, "analyst.hoa", PASSWORD, hashing=hashing) is None
    assert spy.verified == [user.password_hash]


async def test_an_old_hash_is_replaced_at_sign_in() -> None:
    old, new = PasswordHashing(cheap(time_cost=1)), PasswordHashing(cheap(time_cost=2))
    store = await store_with(make(old))
    assert await authenticate(store, "analyst.hoa", PASSWORD, hashing=new) is not None
    stored = await store.get("analyst.hoa")
    assert stored is not None
    assert "t=2" in stored.password_hash
    assert not new.needs_rehash(stored.password_hash)
    assert await authenticate(store, "analyst.hoa", PASSWORD, hashing=new) is not None


async def test_a_current_hash_is_kept(hashing: PasswordHashing) -> None:
    user = make(hashing)
    store = await store_with(user)
    await authenticate(store, "analyst.hoa", PASSWORD, hashing=hashing)
    stored = await store.get("analyst.hoa")
    assert stored is not None and stored.password_hash == user.password_hash


async def test_the_store_hands_out_copies_sorted(hashing: PasswordHashing) -> None:
    store = await store_with(make(hashing, username="b.user"), make(hashing, username="a.user"))
    got = await store.get("a.user")
    assert got is not None
    got.tenants.append("hue-doh")
    again = await store.get("a.user")
    assert again is not None and again.tenants == ["hue-ioc"]
    assert [u.username for u in await store.list()] == ["a.user", "b.user"]
    assert await store.get("nobody") is None


async def test_changes_to_an_unknown_user_are_refused() -> None:
    store = MemoryUserStore()
    with pytest.raises(UserNotFound):
        await store.set_password("nobody", "$argon2id$x")
    with pytest.raises(UserNotFound):
        await store.disable("nobody")
    with pytest.raises(UserNotFound):
        await store.record_login("nobody", at=T0)


async def test_set_password_replaces_the_hash(hashing: PasswordHashing) -> None:
    store = await store_with(make(hashing))
    await store.set_password("analyst.hoa", hashing.hash("a-brand-new-passphrase"))
    assert await authenticate(store, "analyst.hoa", PASSWORD, hashing=hashing) is None
    assert await authenticate(store, "analyst.hoa", "a-brand-new-passphrase", hashing=hashing)
