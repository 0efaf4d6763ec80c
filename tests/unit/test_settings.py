"""The one settings object: sources, nesting, refusals, and its documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc.errors import ConfigError
from soc.settings import ApiKey, load_settings
from soc.settings_doc import render

ROOT = Path(__file__).resolve().parents[2]
KEY = {"name": "k", "sha256": ApiKey.hash("t"), "role": "analyst", "tenants": ["hue-ioc"]}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("SOC_"):
            monkeypatch.delenv(k)


def test_development_defaults_are_the_embedded_pair() -> None:
    s = load_settings(env="development")
    assert (s.bus.kind, s.store.kind) == ("memory", "sqlite")


def test_default_secret_refused_outside_development() -> None:
    with pytest.raises(ConfigError, match="secret_key"):
        load_settings(env="production", auth={"api_keys": [KEY]})
    with pytest.raises(ConfigError, match="api_keys"):
        load_settings(env="production", auth={"secret_key": "a-real-long-secret"})
    ok = load_settings(
        env="production", auth={"secret_key": "a-real-long-secret", "api_keys": [KEY]}
    )
    assert ok.auth.api_keys[0].role == "analyst"


def test_environment_nests_with_double_underscore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_BUS__KIND", "kafka")
    monkeypatch.setenv("SOC_BUS__KAFKA__PARTITIONS", "12")
    monkeypatch.setenv("SOC_STORE__OPENSEARCH__HOSTS", '["http://os1:9200","http://os2:9200"]')
    s = load_settings()
    assert s.bus.kind == "kafka" and s.bus.kafka.partitions == 12
    assert s.store.opensearch.hosts == ["http://os1:9200", "http://os2:9200"]


def test_yaml_file_below_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "soc.yml"
    cfg.write_text("env: development\nbus: {kind: kafka, kafka: {partitions: 3}}\n")
    monkeypatch.setenv("SOC_CONFIG", str(cfg))
    monkeypatch.setenv("SOC_BUS__KAFKA__PARTITIONS", "9")
    s = load_settings()
    assert s.bus.kind == "kafka" and s.bus.kafka.partitions == 9


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_BUS__KIND", "rabbitmq")
    with pytest.raises(ConfigError, match=r"bus\.kind"):
        load_settings()


def test_ingest_key_names_one_tenant() -> None:
    with pytest.raises(ConfigError, match="exactly one tenant"):
        load_settings(
            env="development", auth={"api_keys": [{**KEY, "role": "ingest", "tenants": ["*"]}]}
        )


def test_configuration_reference_is_in_step() -> None:
    doc = (ROOT / "docs/CONFIGURATION.md").read_text()
    assert doc == render(), "run: python -m soc.settings_doc > docs/CONFIGURATION.md"
