"""Passwords: argon2id hashes, a verify that costs the same for unknown users, a policy.

Hashes are PHC strings (``$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``), so
each carries its own parameters: raising them later re-hashes every user at
their next login (:meth:`PasswordHashing.needs_rehash`), and old hashes still
verify meanwhile.

Passwords are NFKC-normalized before hashing (NIST SP 800-63B §5.1.1.2), so
the same password typed on two keyboards (composed or decomposed Vietnamese
diacritics, full-width digits) verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from soc.errors import AccountError

DEFAULT_HASHER = PasswordHasher(
    time_cost=3,
    memory_cost=64 * 1024,  # KiB: 64 MiB
    parallelism=4,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)
"""RFC 9106's second recommended profile (argon2id, t=3, 64 MiB, p=4): ~0.1 s per hash."""

MIN_LENGTH = 12
MAX_LENGTH = 1024
"""Longer input is refused by the policy and never hashed (bounds the work per request)."""

COMMON_PASSWORDS: frozenset[str] = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123123123123",
        "111111111111",
        "000000000000",
        "aaaaaaaaaaaa",
        "abc123456789",
        "abcd12345678",
        "password1234",
        "password12345",
        "password@123",
        "passwordpassword",
        "p@ssw0rd1234",
        "qwerty123456",
        "qwertyuiop12",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "administrator",
        "admin1234567",
        "admin@123456",
        "matkhau12345",
        "matkhau123456",
        "matkhau@123",
    }
)
"""The most common passwords that are long enough to pass the length rule (casefolded).

A tiny list on purpose: it stops the obvious ones offline. A larger breach
corpus can be added later without changing the interface."""

ProblemCode = Literal["too_short", "too_long", "same_as_username", "too_common"]


@dataclass(frozen=True)
class PasswordProblem:
    """Why the policy refuses a password: a stable ``code`` for the UI to translate."""

    code: ProblemCode
    message: str


class WeakPassword(AccountError):
    """The password policy refused a password; ``problems`` lists every reason."""

    def __init__(self, problems: list[PasswordProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def _normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *, username: str) -> list[PasswordProblem]:
    """Every way ``password`` breaks the policy; empty when it is acceptable."""
    pw = _normalize(password)
    problems: list[PasswordProblem] = []
    if len(pw) < MIN_LENGTH:
        problems.append(
            PasswordProblem("too_short", f"The password must be at least {MIN_LENGTH} characters.")
        )
    if len(pw) > MAX_LENGTH:
        problems.append(
            PasswordProblem("too_long", f"The password must be at most {MAX_LENGTH} characters.")
        )
    folded = pw.casefold()
    if username and folded.strip() == _normalize(username).casefold().strip():
        problems.append(
            PasswordProblem("same_as_username", "The password must not be the username.")
        )
    if folded in COMMON_PASSWORDS:
        problems.append(
            PasswordProblem(
                "too_common", "The password is one of the most common ones; choose another."
            )
        )
    return problems


def require_strong(password: str, *, username: str) -> None:
    """Raise :class:`WeakPassword` when the policy refuses ``password``."""
    problems = check_password(password, username=username)
    if problems:
        raise WeakPassword(problems)


class PasswordHashing:
    """Hash and verify with one argon2id configuration.

    ``verify`` with no stored hash (an unknown user) still verifies against a
    dummy hash of the same parameters, so the answer takes as long whether the
    user exists or not. The async variants run in a small thread pool, off the
    event loop, and bound how many hashes (64 MiB each) run at once.
    """

    def __init__(self, hasher: PasswordHasher = DEFAULT_HASHER, *, max_parallel: int = 4) -> None:
        self._hasher = hasher
        self._dummy: str | None = None
        self._max_parallel = max_parallel
        self._pool: ThreadPoolExecutor | None = None

    @property
    def hasher(self) -> PasswordHasher:
        return self._hasher

    def hash(self, password: str) -> str:
        """A new PHC string with a fresh salt. Apply the policy before, not here."""
        return self._hasher.hash(_normalize(password))

    def dummy_hash(self) -> str:
        """A hash of nothing anyone knows, with this configuration's parameters."""
        if self._dummy is None:
            self._dummy = self._hasher.hash("unknown user: nothing matches this")
        return self._dummy

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; a missing or broken hash never matches.

        The comparison inside argon2 is constant-time; a missing or malformed
        ``stored`` costs one verify against the dummy hash instead.
        """
        pw = _normalize(password)
        if stored is not None:
            try:
                return self._hasher.verify(stored, pw)
            except VerifyMismatchError:
                return False
            except (VerificationError, InvalidHashError):
                pass  # a broken stored hash: verify the dummy instead, at the same cost
        with contextlib.suppress(VerificationError):
            self._hasher.verify(self.dummy_hash(), pw)
        return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than this configuration's."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max_parallel, thread_name_prefix="argon2")
        return self._pool

    async def hash_async(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.hash, password
        )

    async def verify_async(self, stored: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.verify, stored, password
        )
