"""The fuzz targets, by name: each module has ``fuzz_one(data: bytes) -> None``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

TARGETS: tuple[str, ...] = (
    "syslog",
    "linux_auth",
    "access_log",
    "line_formats",
    "zeek",
    "framing",
    "file_tail",
    "json_document",
    "http_input",
    "s3_object",
    "evtx_reader",
    "json_reader",
    "ndjson_ingest",
    "event_query",
    "sigma_rule",
    "sigma_filter",
    "sigma_correlation",
    "rule_pack",
    "drill_scenario",
    "stix",
    "taxii_envelope",
    "connector_config",
)
"""Every target, in the order the runner takes them."""

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def target(name: str) -> Callable[[bytes], None]:
    """The ``fuzz_one`` of target ``name``."""
    if name not in TARGETS:
        raise KeyError(f"no fuzz target {name!r}; known: {', '.join(TARGETS)}")
    module = importlib.import_module(f"tests.fuzz.targets.{name}")
    fuzz_one: Callable[[bytes], None] = module.fuzz_one
    return fuzz_one


def seeds(name: str) -> list[Path]:
    """The seed files of target ``name`` (its corpus folder, and its regressions)."""
    folder = CORPUS / name
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(("LICENSE", "README"))
    )
