"""Durable read positions (the "registry", as Filebeat calls it): one JSON file per source.

    reg = Registry(data_dir / "registry")
    state = reg.load("auth")          # {} the first time
    reg.save("auth", {"streams": {...}})

A save writes a temporary file, fsyncs it and renames it over the old one,
then fsyncs the folder: after a crash the file holds either the old state or
the new one, never half of either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Registry:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, source: str) -> Path:
        return self.folder / f"{source}.json"

    def load(self, source: str) -> dict[str, Any]:
        try:
            data = json.loads(self._path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self._path(source)}: registry file is not a JSON object")
        return data

    def save(self, source: str, state: dict[str, Any]) -> None:
        path = self._path(source)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f, separators=(",", ":"), sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
