"""argon2id hashing, the equal-cost verify for unknown users, and the password policy."""

from __future__ import annotations

import threading
import unicodedata
from typing import Literal

import pytest
from argon2 import PasswordHasher, Type

from soc.security.passwords import (
    MAX_LENGTH,
    PasswordHashing,
    WeakPassword,
    check_password,
    require_strong,
)
from tests.unit.security.helpers import SpyHasher, cheap

GOOD = "tram-chim-bay-qua-song-huong"


def test_the_default_is_argon2id_with_rfc_9106_parameters() -> None:
    stored = PasswordHashing().hash(GOOD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_verify_accepts_the_password_and_refuses_others(hashing: PasswordHashing) -> None:
    stored = hashing.hash(GOOD)
    assert stored != hashing.hash(GOOD)  # a fresh salt each time
    assert hashing.verify(stored, GOOD)
    assert not hashing.verify(stored, GOOD + "x")
    assert not hashing.verify(stored, "")


def test_passwords_are_nfkc_normalized(hashing: PasswordHashing) -> None:
    composed = unicodedata.normalize("NFC", "mật khẩu của trực ban")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert hashing.verify(hashing.hash(composed), decomposed)


def test_needs_rehash_when_the_parameters_change(hashing: PasswordHashing) -> None:
    stronger = PasswordHashing(cheap(time_cost=2))
    old = hashing.hash(GOOD)
    assert not hashing.needs_rehash(old)
    assert stronger.needs_rehash(old)
    assert stronger.verify(old, GOOD)  # an old hash still verifies until it is replaced
    assert not stronger.needs_rehash(stronger.hash(GOOD))
    assert hashing.needs_rehash("not a hash")
    assert hashing.needs_rehash("$argon2id$garbage")


def test_an_unknown_user_costs_one_verify_against_the_dummy(spy: SpyHasher) -> None:
    hashing = PasswordHashing(spy)
    assert not hashing.verify(None, GOOD)
    assert spy.verified == [hashing.dummy_hash()]


def test_a_malformed_hash_never_matches_and_costs_the_same(spy: SpyHasher) -> None:
    hashing = PasswordHashing(spy)
    assert not hashing.verify("$argon2id$garbage", GOOD)
    assert spy.verified[-1] == hashing.dummy_hash()


def test_the_dummy_has_the_configured_parameters(spy: SpyHasher) -> None:
    hashing = PasswordHashing(spy)
    assert hashing.dummy_hash().startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert hashing.dummy_hash() == hashing.dummy_hash()


async def test_async_variants_run_off_the_event_loop_thread(hashing: PasswordHashing) -> None:
    seen: list[str] = []

    class Recording(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            seen.append(threading.current_thread().name)
            return super().verify(hash, password)

    h = PasswordHashing(Recording(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    stored = await h.hash_async(GOOD)
    assert await h.verify_async(stored, GOOD)
    assert not await h.verify_async(None, GOOD)
    assert seen and all(name.startswith("argon2") for name in seen)


@pytest.mark.parametrize(
    ("password", "username", "codes"),
    [
        (GOOD, "analyst.hoa", []),
        ("short", "analyst.hoa", ["too_short"]),
        ("x" * 11, "analyst.hoa", ["too_short"]),
        ("x" * 12, "analyst.hoa", []),
        ("x" * (MAX_LENGTH + 1), "analyst.hoa", ["too_long"]),
        ("Analyst.Hoa.Lead", "analyst.hoa.lead", ["same_as_username"]),
        (" analyst.hoa.lead ", "analyst.hoa.lead", ["same_as_username"]),
        ("Password1234", "analyst.hoa", ["too_common"]),
        ("matkhau123456", "analyst.hoa", ["too_common"]),
        ("admin", "admin", ["too_short", "same_as_username"]),
    ],
)
def test_policy(password: str, username: str, codes: list[str]) -> None:
    assert [p.code for p in check_password(password, username=username)] == codes


def test_policy_messages_are_plain_sentences() -> None:
    with pytest.raises(WeakPassword) as caught:
        require_strong("admin", username="admin")
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "The password must be at least 12 characters.",
        "The password must not be the username.",
    ]
    assert str(caught.value) == "; ".join(messages)
    require_strong(GOOD, username="admin")
