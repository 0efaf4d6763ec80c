"""A private Kafka broker and OpenSearch node for the fault tests (deploy/local/services.sh).

The fault tests stop, kill and restart these: never the shared services the other tests
(and other runs on the machine) use. They run on free ports with a run dir of their own,
and reuse the distributions already unpacked by `make test` (``services.sh cache-dir``,
or ``SOC_LOCAL_DIST``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ["bash", str(ROOT / "deploy/local/services.sh")]


def _dist() -> str:
    """Where the distributions are: SOC_LOCAL_DIST, else the shared services' cache."""
    if os.environ.get("SOC_LOCAL_DIST"):
        return os.environ["SOC_LOCAL_DIST"]
    env = {k: v for k, v in os.environ.items() if k != "SOC_LOCAL_CACHE"}
    done = subprocess.run(
        [*SERVICES, "cache-dir"], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


@dataclass
class PrivateServices:
    """One Kafka broker and one OpenSearch node of this test run's own."""

    run_dir: Path
    kafka_port: int
    opensearch_port: int
    env: dict[str, str]

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def opensearch(self) -> str:
        return f"http://127.0.0.1:{self.opensearch_port}"

    @classmethod
    def make(cls) -> PrivateServices:
        # Under /var/tmp, not pytest's 0700 tmp: OpenSearch runs as another user under root.
        run_dir = Path("/var/tmp") / f"soc-faults-{uuid.uuid4().hex[:10]}"
        run_dir.mkdir(mode=0o755)
        run_dir.chmod(0o755)
        kafka, controller, http, transport = (free_port() for _ in range(4))
        env = {
            **os.environ,
            "SOC_LOCAL_CACHE": str(run_dir),
            "SOC_LOCAL_DIST": _dist(),
            "SOC_LOCAL_KAFKA_PORT": str(kafka),
            "SOC_LOCAL_KAFKA_CONTROLLER_PORT": str(controller),
            "SOC_LOCAL_OPENSEARCH_PORT": str(http),
            "SOC_LOCAL_OPENSEARCH_TRANSPORT_PORT": str(transport),
        }
        return cls(run_dir=run_dir, kafka_port=kafka, opensearch_port=http, env=env)

    def run(self, action: str) -> None:
        """``services.sh <action>`` on these services; fails the test if it fails."""
        done = subprocess.run(
            [*SERVICES, action],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env=self.env,
        )
        assert done.returncode == 0, f"services.sh {action}:\n{done.stdout}{done.stderr}"

    def remove(self) -> None:
        try:
            self.run("down")
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)
