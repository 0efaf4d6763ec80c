"""Cheap argon2 parameters and a recording hasher for the security tests."""

from __future__ import annotations

from typing import Literal

from argon2 import PasswordHasher, Type


def cheap(time_cost: int = 1) -> PasswordHasher:
    """argon2id with the least memory: microseconds instead of 0.1 s."""
    return PasswordHasher(time_cost=time_cost, memory_cost=8, parallelism=1, type=Type.ID)


class SpyHasher(PasswordHasher):
    """Cheap, and records the hash every verify was asked to check."""

    def __init__(self, time_cost: int = 1) -> None:
        super().__init__(time_cost=time_cost, memory_cost=8, parallelism=1, type=Type.ID)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(hash if isinstance(hash, str) else hash.decode())
        return super().verify(hash, password)
