"""The private Kafka and OpenSearch of the fault tests, and the one rig they share.

The rig (tests/e2e/faults/rig.py) is started once for the module: each fault test runs
its own load and fault on it, and its ledger counts everything sent since the start (a
loss or a duplicate left by an earlier fault would show in every later ledger too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.faults.rig import FaultRig
from tests.e2e.faults.services import PrivateServices

FAULTS = 5
"""The tests sharing the rig: each its own load."""


@pytest.fixture(scope="session")
def private_services(kafka_bootstrap: str, opensearch_url: str) -> Iterator[PrivateServices]:
    """Started once for the fault tests (asking for the shared services' fixtures only so
    that these tests run, or are skipped, exactly where those do)."""
    services = PrivateServices.make()
    try:
        services.run("up")
        yield services
    finally:
        services.remove()


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path | None]:
    """A 4 MiB tmpfs at ``folder``: a disk that can really fill up (None: cannot mount)."""
    folder.mkdir()
    if os.geteuid() != 0:
        yield None
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        yield None
        return
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture(scope="module")
def rig(
    private_services: PrivateServices,
    shared_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FaultRig]:
    tmp = tmp_path_factory.mktemp("faults")
    with small_disk(tmp / "small-disk") as disk:
        r = FaultRig(
            services=private_services,
            prefix=f"f{uuid.uuid4().hex[:12]}",
            tmp=tmp,
            shared_dir=shared_dir,
            spool_dir=disk / "auth-data" if disk else None,
            runs=FAULTS,
        )
        try:
            asyncio.run(r.start())
            yield r
        finally:
            asyncio.run(r.close())
