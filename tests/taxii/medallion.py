"""A real TAXII 2.1 server for the tests: medallion, the OASIS reference implementation,
with its memory backend, run as its own process on loopback.

    with medallion(collections=[Collection("soc-share", "Shared by the SOC")]) as server:
        server.collection_url("soc-share")   # for taxii2client.v21.Collection
        server.user, server.password          # its HTTP Basic credentials

``refuse`` on :meth:`Medallion.stop` / :meth:`Medallion.start`: the server can be stopped
for a while (connections refused) and started again; its memory backend forgets what it
held, so a test that needs "refusing, then accepting" starts it after the first attempts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from soc.api.server import free_port

USER, PASSWORD = "soc-taxii", "mat-khau-taxii-thu-nghiem"
API_ROOT = "api1"


@dataclass
class Collection:
    alias: str
    title: str
    can_read: bool = True
    can_write: bool = True
    objects: list[dict[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


def _data(port: int, collections: list[Collection]) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    return {
        "/discovery": {
            "title": "Test national platform (medallion)",
            "description": "medallion on loopback for the SOC's tests",
            "contact": "soc-tests@localhost",
            "default": f"{base}/{API_ROOT}/",
            "api_roots": [f"{base}/{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "National platform API root",
                "description": "test",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 100 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": c.id,
                    "title": c.title,
                    "alias": c.alias,
                    "description": c.title,
                    "can_read": c.can_read,
                    "can_write": c.can_write,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": list(c.objects),
                    "manifest": [
                        {
                            "id": o["id"],
                            "date_added": o.get("modified") or o.get("created"),
                            "version": o.get("modified") or o.get("created"),
                            "media_type": "application/stix+json;version=2.1",
                        }
                        for o in c.objects
                    ],
                }
                for c in collections
            ],
        },
    }


@dataclass
class Medallion:
    port: int
    collections: list[Collection]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    user: str = USER
    password: str = PASSWORD

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_root_url(self) -> str:
        return f"{self.url}/{API_ROOT}/"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/taxii2/"

    def collection(self, alias: str) -> Collection:
        return next(c for c in self.collections if c.alias == alias)

    def collection_url(self, alias: str) -> str:
        return f"{self.api_root_url}collections/{self.collection(alias).id}/"

    def start(self) -> None:
        assert self.process is None
        data = self.workdir / "data.json"
        data.write_text(json.dumps(_data(self.port, self.collections)))
        config = self.workdir / "config.json"
        config.write_text(
            json.dumps(
                {
                    "backend": {
                        "module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend",
                        "filename": str(data),
                    },
                    "users": {self.user: self.password},
                    "taxii": {"max_page_size": 100},
                }
            )
        )
        log = (self.workdir / "medallion.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1",
             "--port", str(self.port), str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"medallion exited: {self.log()}")
            try:
                r = requests.get(
                    self.discovery_url,
                    auth=(self.user, self.password),
                    headers={"Accept": "application/taxii+json;version=2.1"},
                    timeout=2,
                )
                if r.status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"medallion did not answer in 30 s: {self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        path = self.workdir / "medallion.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def objects(self, alias: str) -> list[dict[str, Any]]:
        """Every object version the collection holds, read over TAXII (all versions)."""
        url = f"{self.collection_url(alias)}objects/"
        out: list[dict[str, Any]] = []
        params: dict[str, str] = {"match[version]": "all"}
        while True:
            r = requests.get(
                url,
                params=params,
                auth=(self.user, self.password),
                headers={"Accept": "application/taxii+json;version=2.1"},
                timeout=10,
            )
            r.raise_for_status()
            body = r.json()
            out.extend(body.get("objects", []))
            if not body.get("more"):
                return out
            params = {"match[version]": "all", "next": body["next"]}


@contextmanager
def medallion(
    collections: list[Collection], *, start: bool = True, port: int | None = None
) -> Iterator[Medallion]:
    with tempfile.TemporaryDirectory(prefix="medallion-") as tmp:
        server = Medallion(port=port or free_port(), collections=collections, workdir=Path(tmp))
        if start:
            server.start()
        try:
            yield server
        finally:
            server.stop()
