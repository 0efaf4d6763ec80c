"""A Sigma rule uploaded as a rule text; see _sigma.py. Seeds: the repository's own rules."""

from __future__ import annotations

from tests.fuzz.targets._sigma import fuzz_rule_text


def fuzz_one(data: bytes) -> None:
    fuzz_rule_text(data)
