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


def test_kafka_sasl_needs_a_mechanism_a_user_and_one_password(tmp_path: Path) -> None:
    base = {"env": "development", "bus": {"kafka": {"security_protocol": "SASL_SSL"}}}
    with pytest.raises(ConfigError, match="needs sasl_mechanism and sasl_username"):
        load_settings(**base)
    sasl = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512"}
    with pytest.raises(ConfigError, match="needs sasl_password or sasl_password_file"):
        load_settings(env="development", bus={"kafka": {**sasl, "sasl_username": "soc"}})
    secret = tmp_path / "kafka.password"
    secret.write_text("s3cret-from-a-file\n")
    both = {**sasl, "sasl_username": "soc", "sasl_password": "x", "sasl_password_file": secret}
    with pytest.raises(ConfigError, match="not both"):
        load_settings(env="development", bus={"kafka": both})
    with pytest.raises(ConfigError, match="ssl_certfile and ssl_keyfile"):
        load_settings(env="development", bus={"kafka": {"ssl_certfile": secret}})
    ok = {**sasl, "sasl_username": "soc", "sasl_password_file": secret}
    kafka = load_settings(env="development", bus={"kafka": ok}).bus.kafka
    assert kafka.sasl_password_value() == "s3cret-from-a-file"
    secret.unlink()
    with pytest.raises(ConfigError, match=r"bus\.kafka\.sasl_password_file: cannot read"):
        kafka.sasl_password_value()


def test_opensearch_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "os.password"
    secret.write_text("  from-the-file \n")
    with pytest.raises(ConfigError, match="a password needs a username"):
        load_settings(env="development", store={"opensearch": {"password_file": secret}})
    with pytest.raises(ConfigError, match="not both"):
        load_settings(
            env="development",
            store={"opensearch": {"username": "soc", "password": "x", "password_file": secret}},
        )
    s = load_settings(
        env="development", store={"opensearch": {"username": "soc", "password_file": secret}}
    )
    assert s.store.opensearch.password_value() == "from-the-file"
    inline = load_settings(
        env="development", store={"opensearch": {"username": "soc", "password": "inline"}}
    )
    assert inline.store.opensearch.password_value() == "inline"
    assert load_settings(env="development").store.opensearch.password_value() is None
