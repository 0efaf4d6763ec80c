"""A drill's scenario.yml (soc.drills.scenario.parse_scenario): a Scenario or ConfigError
naming ``file:line: key``."""

from __future__ import annotations

import contextlib
from pathlib import Path

from soc.drills.scenario import parse_scenario
from soc.errors import ConfigError
from tests.fuzz.targets._common import text

FOLDER = Path(__file__).resolve().parents[4] / "soc" / "detections" / "drills" / "ssh-brute-force"


def fuzz_one(data: bytes) -> None:
    with contextlib.suppress(ConfigError):
        parse_scenario(text(data), name="scenario.yml", folder=FOLDER)
