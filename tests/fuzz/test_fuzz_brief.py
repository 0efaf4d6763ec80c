"""The fuzz targets, briefly, in ``make test``: every seed (and every regression input) of
every target replayed in this process, then every target under atheris in one process for
``FUZZ_BRIEF_SECONDS`` (default 25). Any crash fails the test, naming its input; the long
runs are ``make fuzz`` (docs/FUZZING.md)."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.runner import run_all_in_one
from tests.fuzz.targets import TARGETS, seeds, target

BRIEF_S = float(os.environ.get("FUZZ_BRIEF_SECONDS", "25"))
BRIEF_SEED = int(os.environ.get("FUZZ_BRIEF_SEED", "16"))
BRIEF_RUNS = int(os.environ.get("FUZZ_BRIEF_RUNS", "15000"))
"""A fixed draw and a fixed number of inputs (about 25 s here): every run of `make test`
walks the same inputs in the same order, so it fails because the code changed, not by
chance (a slower machine stops earlier, at BRIEF_S); `make fuzz` draws anew each time."""


@pytest.mark.parametrize("name", TARGETS)
def test_every_seed_passes_its_target(name: str) -> None:
    fuzz_one = target(name)
    found = seeds(name)
    assert found, f"target {name} has no seed corpus"
    for seed in found:
        fuzz_one(seed.read_bytes())


def test_each_target_under_atheris_finds_no_crash(tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    result, counts = run_all_in_one(BRIEF_S, work=work, seed=BRIEF_SEED, runs=BRIEF_RUNS)
    assert not result.failed, f"{result.line()}\n{result.output_tail}"
    assert result.executions > 0, result.output_tail
    assert set(counts) == set(TARGETS)
