"""docker-compose.yml cannot run here (no Docker engine); check what can be checked."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from connectors.cli import main as connector_cli
from soc.cli import main as soc_cli

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
