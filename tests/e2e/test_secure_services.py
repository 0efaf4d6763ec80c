"""The pipeline over a Kafka that wants SASL_SSL and an OpenSearch with its security plugin.

A private pair, started by `deploy/local/services.sh up --secure` on free ports in a run
dir of this module's own (the distributions are the shared cache's, linked, never fetched
again), with a CA, certificates and passwords generated at start. The shared services
(SOC_TEST_KAFKA, SOC_TEST_OPENSEARCH) are never touched; the marks only keep this test
where the other Kafka/OpenSearch tests run.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from soc.bus.kafka import client_kwargs
from soc.errors import StoreError
from soc.settings import KafkaSettings, OpenSearchSettings, Settings
from soc.store.opensearch import OpenSearchStore
from tests.e2e.harness import auth, backend_settings, free_port, running_service, sample_lines
from tests.e2e.test_pipeline import expected_alert_ids, wait_for_alerts

pytestmark = [pytest.mark.kafka, pytest.mark.opensearch, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "deploy/local/services.sh"


@dataclass(frozen=True)
class Secure:
    env: dict[str, str]
    """The SOC_* settings services.sh wrote (run/secure/soc.env)."""
    dir: Path
    """run/secure: ca.crt, the password files."""

    @property
    def kafka(self) -> dict[str, Any]:
        e = self.env
        return {
            "bootstrap_servers": e["SOC_BUS__KAFKA__BOOTSTRAP_SERVERS"],
            "security_protocol": e["SOC_BUS__KAFKA__SECURITY_PROTOCOL"],
            "sasl_mechanism": e["SOC_BUS__KAFKA__SASL_MECHANISM"],
            "sasl_username": e["SOC_BUS__KAFKA__SASL_USERNAME"],
            "sasl_password_file": e["SOC_BUS__KAFKA__SASL_PASSWORD_FILE"],
            "ssl_cafile": e["SOC_BUS__KAFKA__SSL_CAFILE"],
        }

    @property
    def opensearch(self) -> dict[str, Any]:
        e = self.env
        return {
            "hosts": [e["SOC_STORE__OPENSEARCH__HOSTS"].strip('[]"')],
            "username": e["SOC_STORE__OPENSEARCH__USERNAME"],
            "password_file": e["SOC_STORE__OPENSEARCH__PASSWORD_FILE"],
            "ca_certs": e["SOC_STORE__OPENSEARCH__CA_CERTS"],
        }


def _run(env: dict[str, str], *args: str, timeout: float) -> str:
    r = subprocess.run(
        ["bash", str(SERVICES), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert r.returncode == 0, f"services.sh {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


def _env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key] = shlex.split(value)[0]
    return out


@pytest.fixture(scope="module")
def secure(kafka_bootstrap: str, opensearch_url: str) -> Iterator[Secure]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOC_LOCAL_")}
    # The distributions: the cache the shared services use (SOC_LOCAL_CACHE, else the
    # clone's default); `fetch --secure` adds the one with the security plugin if missing.
    if "SOC_LOCAL_CACHE" in os.environ:
        base["SOC_LOCAL_CACHE"] = os.environ["SOC_LOCAL_CACHE"]
    fetched = _run(base, "fetch", "--secure", timeout=600)
    homes = dict(re.findall(r"\] (kafka|opensearch) \S+ in (\S+)", fetched))
    assert set(homes) == {"kafka", "opensearch"}, fetched
    # A private cache of symlinks, under /var/tmp: as root, OpenSearch runs as another
    # user, who must be able to traverse to it (pytest's tmp_path is 0700).
    cache = Path(tempfile.mkdtemp(prefix="soc-secure-test-", dir="/var/tmp"))
    cache.chmod(0o755)
    for home in homes.values():
        (cache / Path(home).name).symlink_to(home)
    env = {
        **base,
        "SOC_LOCAL_CACHE": str(cache),
        "SOC_LOCAL_KAFKA_PORT": str(free_port()),
        "SOC_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "SOC_LOCAL_OPENSEARCH_PORT": str(free_port()),
        "SOC_LOCAL_OPENSEARCH_TRANSPORT_PORT": str(free_port()),
        "SOC_LOCAL_START_TIMEOUT": "180",
    }
    try:
        _run(env, "up", "--secure", timeout=420)
        secure_dir = cache / "run/secure"
        yield Secure(env=_env_file(secure_dir / "soc.env"), dir=secure_dir)
    finally:
        _run(env, "down", timeout=120)
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA that signed nothing of the services'."""
    key, crt = tmp_path / "other-ca.key", tmp_path / "other-ca.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=not-the-soc-ca", "-keyout", str(key), "-out", str(crt)),
        ],
        check=True,
        capture_output=True,
    )
    return crt


async def test_pipeline_over_tls_and_authentication(
    secure: Secure, unique_name: str, tmp_path: Path
) -> None:
    values = backend_settings(
        "kafka", "opensearch", prefix=unique_name, tmp=tmp_path, kafka=None, opensearch=None
    )
    values["bus"]["kafka"].update(secure.kafka)
    values["store"]["opensearch"].update(secure.opensearch)
    settings = Settings(**values)
    assert settings.store.opensearch.hosts[0].startswith("https://")
    lines = sample_lines()
    expected = expected_alert_ids(settings, lines, "hue-ioc")
    assert expected

    async with running_service(settings) as client:
        r = await client.post("/api/v1/ingest", content=b"\n".join(lines), headers=auth("ingest"))
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(lines)
        # A fresh broker creates its offsets topic at the first group join: slow on a busy machine.
        items = await wait_for_alerts(client, len(expected), within=180)
        assert {a["id"] for a in items} == expected
        r = await client.get(f"/api/v1/alerts/{items[0]['id']}", headers=auth("analyst"))
        assert r.status_code == 200
        assert r.json()["event"]["id"] == items[0]["event_id"]

    # What the API answered is what the secured OpenSearch holds.
    password = (secure.dir / "opensearch-soc.password").read_text().strip()
    ca = ssl.create_default_context(cafile=str(secure.dir / "ca.crt"))
    url = settings.store.opensearch.hosts[0]
    async with httpx.AsyncClient(verify=ca, auth=("soc", password)) as os_client:
        r = await os_client.post(
            f"{url}/{unique_name}-alerts-*/_search", json={"size": 0, "track_total_hits": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["hits"]["total"]["value"] == len(expected)


async def test_opensearch_refuses_without_credentials_or_with_another_ca(
    secure: Secure, other_ca: Path
) -> None:
    url = secure.opensearch["hosts"][0]
    ca = ssl.create_default_context(cafile=str(secure.dir / "ca.crt"))
    async with httpx.AsyncClient(verify=ca) as client:
        r = await client.get(f"{url}/_cluster/health")
        assert r.status_code == 401
        r = await client.get(f"{url}/_cluster/health", auth=("soc", "not-the-password"))
        assert r.status_code == 401
    wrong = ssl.create_default_context(cafile=str(other_ca))
    async with httpx.AsyncClient(verify=wrong) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"{url}/_cluster/health")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.TransportError):
            await client.get(url.replace("https://", "http://") + "/_cluster/health")

    # The SOC's own store, with a wrong password, stops at start with an error.
    store = OpenSearchStore(
        OpenSearchSettings(
            **{**secure.opensearch, "password_file": None, "password": "not-the-password"},
            connect_timeout_s=5,
        )
    )
    with pytest.raises(StoreError, match=r"opensearch: connect: AuthenticationException\(401"):
        await store.start()


async def _kafka_refuses(settings: KafkaSettings, caplog: pytest.LogCaptureFixture) -> str:
    producer = AIOKafkaProducer(**client_kwargs(settings), request_timeout_ms=5000)
    caplog.clear()
    try:
        with pytest.raises(KafkaConnectionError):
            await producer.start()
    finally:
        await producer.stop()
    return caplog.text


async def test_kafka_refuses_without_credentials_or_with_another_ca(
    secure: Secure, other_ca: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiokafka")
    good = KafkaSettings(**secure.kafka)
    producer = AIOKafkaProducer(**client_kwargs(good), request_timeout_ms=10000)
    await producer.start()
    try:
        await producer.send_and_wait("soc-secure-probe", b"x")
    finally:
        await producer.stop()

    wrong_password = {**secure.kafka, "sasl_password_file": None, "sasl_password": "nope"}
    text = await _kafka_refuses(KafkaSettings(**wrong_password), caplog)
    assert "SaslAuthenticationFailed" in text
    text = await _kafka_refuses(KafkaSettings(**{**secure.kafka, "ssl_cafile": other_ca}), caplog)
    assert "CERTIFICATE_VERIFY_FAILED" in text
    plaintext = KafkaSettings(bootstrap_servers=secure.kafka["bootstrap_servers"])
    await _kafka_refuses(plaintext, caplog)
