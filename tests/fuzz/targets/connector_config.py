"""The connector's configuration file, connector.yml (connectors.config.parse_config): an
AgentConfig or ConfigError naming ``file:line: key: message``."""

from __future__ import annotations

import contextlib

from connectors.config import parse_config
from connectors.errors import ConfigError
from tests.fuzz.targets._common import text


def fuzz_one(data: bytes) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text(data), name="connector.yml")
