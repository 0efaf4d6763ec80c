"""docker-compose.yml cannot run here (no Docker engine); check what can be checked."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.cli import main as connector_cli
from soc.cli import main as soc_cli
from soc.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_the_pipeline_with_health_checks() -> None:
    services = compose()["services"]
    assert {"kafka", "opensearch", "api", "detect", "correlate", "connector", "prometheus"} <= set(
        services
    )
    for name in ("kafka", "opensearch", "api"):
        assert services[name]["healthcheck"]["test"], name
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
    assert "ports" not in services["detect"], "detect must scale: no fixed host port"
    assert "ports" not in services["correlate"], "correlate must scale: no fixed host port"


def test_every_command_it_runs_exists() -> None:
    services = compose()["services"]
    for name in ("api", "detect", "correlate"):
        command = services[name]["command"]
        assert command[0] in soc_cli.commands, f"{name}: soc {command[0]} does not exist"  # type: ignore[attr-defined]
        options = {p.opts[0] for p in soc_cli.commands[command[0]].params}  # type: ignore[attr-defined]
        assert {c for c in command[1:] if c.startswith("--")} <= options
    shell = services["connector"]["command"][-1]
    argv = shlex.split(shell)
    assert argv[0] == "soc-connector" and argv[1] in connector_cli.commands  # type: ignore[attr-defined]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["soc"]' in dockerfile


def test_prometheus_scrapes_api_and_detectors() -> None:
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["soc-api"]["static_configs"][0]["targets"] == ["api:8000"]
    assert jobs["soc-detect"]["dns_sd_configs"][0]["names"] == ["detect"]
    assert jobs["soc-correlate"]["dns_sd_configs"][0]["names"] == ["correlate"]


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_kafka_and_opensearch_want_tls_and_credentials() -> None:
    services = compose()["services"]
    init = services["tls-init"]
    assert init["restart"] == "no" and "/tls" in " ".join(init["volumes"])
    for name in ("kafka", "opensearch"):
        svc = services[name]
        assert svc["depends_on"]["tls-init"]["condition"] == "service_completed_successfully"
        script = svc["command"][-1].removeprefix("/deploy-tls/")
        assert (ROOT / "deploy/docker/tls" / script).is_file(), script
    assert "DISABLE_SECURITY_PLUGIN" not in services["opensearch"]["environment"]
    assert services["opensearch"]["environment"]["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    assert "https://localhost:9200" in services["opensearch"]["healthcheck"]["test"][1]
    assert "--command-config" in services["kafka"]["healthcheck"]["test"][1]
    kafka_sh = (ROOT / "deploy/docker/tls/kafka.sh").read_text()
    assert "listeners=SASL_SSL://:9092,CONTROLLER://localhost:9093" in kafka_sh
    assert "PLAINTEXT://:" not in kafka_sh, "no plaintext listener outside the container"
    for name in ("api", "detect", "correlate"):
        svc = services[name]
        assert "deploy/docker/tls.env" in svc["env_file"], name
        assert "tls:/tls:ro" in svc["volumes"], name


def test_the_soc_settings_of_tls_env_are_valid_and_hold_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _env_file(ROOT / "deploy/docker/tls.env")
    assert not [k for k in env if k.endswith("PASSWORD")], "secrets are files, never values"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings(env="development")
    k, o = s.bus.kafka, s.store.opensearch
    assert (k.security_protocol, k.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert k.sasl_password_file == Path("/tls/soc/kafka.password")
    assert k.ssl_cafile == Path("/tls/ca.crt") == o.ca_certs
    assert o.hosts == ["https://opensearch:9200"] and o.verify_certs
    assert o.password_file == Path("/tls/soc/opensearch.password")


def test_tls_init_makes_a_ca_and_certificates_for_the_service_names(tmp_path: Path) -> None:
    """deploy/docker/tls/init.sh, run for real (openssl) into a scratch dir."""
    env = {"PATH": os.environ["PATH"], "TLS_DIR": str(tmp_path)}
    if os.geteuid() != 0:
        uid = str(os.getuid())
        env |= {"KAFKA_UID": uid, "OPENSEARCH_UID": uid, "SOC_UID": uid}
    script = ROOT / "deploy/docker/tls/init.sh"
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True, timeout=120)
    ca = tmp_path / "ca.crt"
    pem = (tmp_path / "kafka/keystore.pem").read_text()
    assert "PRIVATE KEY" in pem and "CERTIFICATE" in pem
    for cert, names in (
        (tmp_path / "kafka/keystore.pem", ["DNS:kafka", "DNS:localhost"]),
        (tmp_path / "opensearch/node.crt", ["DNS:opensearch", "DNS:localhost"]),
        (tmp_path / "opensearch/admin.crt", []),
    ):
        r = subprocess.run(
            ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stdout + r.stderr
        text = subprocess.run(
            ["openssl", "x509", "-in", str(cert), "-noout", "-text"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name in names:
            assert name in text, (cert, name)
    assert "CN=soc-opensearch-admin" in subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "opensearch/admin.crt"), "-noout", "-subject"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace(" ", "")
    soc = {p.name: p.read_text().strip() for p in (tmp_path / "soc").iterdir()}
    assert soc["kafka.password"] == (tmp_path / "kafka/soc.password").read_text().strip()
    assert soc["opensearch.password"] == (tmp_path / "opensearch/soc.password").read_text().strip()
    assert len(set(soc.values())) == 2 and all(len(v) == 48 for v in soc.values())
    assert not (tmp_path / "ca.key").exists(), "the CA key is not kept"
    assert oct((tmp_path / "soc").stat().st_mode & 0o777) == "0o700"
    # A second run keeps everything (Kafka's users and OpenSearch's index were made from it).
    before = (tmp_path / "soc/kafka.password").read_text()
    subprocess.run(["sh", str(script)], env=env, check=True, capture_output=True, timeout=60)
    assert (tmp_path / "soc/kafka.password").read_text() == before


def test_the_container_scripts_parse() -> None:
    for script in sorted((ROOT / "deploy/docker/tls").glob("*.sh")):
        shell = "bash" if script.read_text().startswith("#!/bin/bash") else "sh"
        r = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert r.returncode == 0, f"{script.name}: {r.stderr}"
