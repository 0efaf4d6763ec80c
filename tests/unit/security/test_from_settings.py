"""The security parts built from the settings, and the account seam's create and update."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.security.passwords import PasswordHashing
from soc.security.ratelimit import LoginGuard, RateLimiter
from soc.security.roles import UserPrincipal
from soc.security.tokens import TokenExpired, Tokens
from soc.security.users import MemoryUserStore, User, UserExists, UserNotFound, new_user
from soc.settings import AuthSettings, IngestLimitSettings, LoginLimitSettings

T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
HOA = UserPrincipal(name="analyst.hoa", role="analyst", tenants=("hue-ioc",))


def test_the_token_lifetime_comes_from_the_settings() -> None:
    auth = AuthSettings(secret_key="a-real-long-secret", token_lifetime_s=3600)
    tokens = Tokens.from_settings(auth)
    issued = tokens.issue(HOA, now=T0)
    assert issued.claims.exp - issued.claims.iat == pytest.approx(3600, abs=1)
    assert tokens.verify(issued.token, now=T0 + timedelta(minutes=59)).sub == "analyst.hoa"
    with pytest.raises(TokenExpired):
        tokens.verify(issued.token, now=T0 + timedelta(minutes=61))


def test_default_settings_keep_the_adr_limits() -> None:
    auth = AuthSettings()
    assert auth.token_lifetime_s == 8 * 3600
    login = auth.login
    assert (login.burst, login.per_second, login.ip_burst, login.ip_per_second) == (5, 0.1, 30, 1)
    assert (login.max_failures, login.window_s, login.lockout_s) == (10, 900, 900)


async def test_the_login_guard_follows_its_settings() -> None:
    now = [0.0]
    guard = LoginGuard.from_settings(
        LoginLimitSettings(max_failures=2, lockout_s=60, burst=100), clock=lambda: now[0]
    )
    await guard.failed("analyst.hoa", "10.0.0.1")
    assert (await guard.failed("analyst.hoa", "10.0.0.1")).reason == "locked"
    decision = await guard.check("analyst.hoa", "10.0.0.1")
    assert not decision.allowed and decision.retry_after == 60
    now[0] = 61
    assert (await guard.check("analyst.hoa", "10.0.0.1")).allowed


def test_the_ingest_limiter_is_none_when_turned_off() -> None:
    assert RateLimiter.for_ingest(IngestLimitSettings(enabled=False)) is None
    limiter = RateLimiter.for_ingest(IngestLimitSettings(burst=10, per_second=2))
    assert limiter is not None and (limiter.burst, limiter.per_second) == (10, 2)


def make(hashing: PasswordHashing, username: str = "analyst.hoa") -> User:
    return new_user(
        username=username,
        display_name="Hoa",
        role="analyst",
        tenants=["hue-ioc"],
        password="song-huong-chay-qua-thanh-pho",
        hashing=hashing,
        now=T0,
    )


async def test_create_refuses_a_taken_name(hashing: PasswordHashing) -> None:
    store = MemoryUserStore()
    await store.create(make(hashing))
    with pytest.raises(UserExists):
        await store.create(make(hashing))


async def test_update_applies_a_change_to_the_stored_account(hashing: PasswordHashing) -> None:
    store = MemoryUserStore()
    await store.create(make(hashing))
    changed = await store.update("analyst.hoa", lambda u: u.model_copy(update={"role": "lead"}))
    assert changed.role == "lead"
    stored = await store.get("analyst.hoa")
    assert stored is not None and stored.role == "lead"
    with pytest.raises(UserNotFound):
        await store.update("nobody", lambda u: u)
