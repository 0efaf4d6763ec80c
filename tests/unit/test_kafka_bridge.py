"""The ingest bridge's pure parts: tenant from topic name, tenants read, one message."""

from __future__ import annotations

import pytest

from soc.bus.kafka_ingest import IngestMessage, ingest_pattern, tenant_of
from soc.errors import ConfigError
from soc.models import utcnow
from soc.settings import TENANT_NAME, ApiKey, load_settings
from soc.stages.bridge import accepted_tenants, parse_message

KEYS = [
    {"name": "ioc", "sha256": ApiKey.hash("a"), "role": "ingest", "tenants": ["hue-ioc"]},
    {"name": "lead", "sha256": ApiKey.hash("b"), "role": "lead", "tenants": ["*"]},
    {"name": "dof", "sha256": ApiKey.hash("c"), "role": "analyst", "tenants": ["hue-dof"]},
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.startswith("SOC_"):
            monkeypatch.delenv(k)


@pytest.mark.parametrize(
    ("topic", "tenant"),
    [
        ("soc.ingest.hue-ioc", "hue-ioc"),
        ("soc.ingest.hue.ioc", "hue.ioc"),
        ("soc.ingest.", None),
        ("soc.ingest.-bad", None),
        ("soc.events", None),
        ("socXingest.hue-ioc", None),  # the prefix's dots are literal
        ("other.ingest.hue-ioc", None),
        ("soc.ingest.hue-ioc\n", None),
    ],
)
def test_the_tenant_is_the_topic_names(topic: str, tenant: str | None) -> None:
    assert tenant_of(ingest_pattern("soc", TENANT_NAME), topic) == tenant


def test_accepted_tenants_are_the_ingest_keys_and_the_bridges_list() -> None:
    s = load_settings(
        env="development",
        bus={"kind": "kafka"},
        auth={"api_keys": KEYS},
        ingest={"kafka_bridge": {"tenants": ["hue-sxd"]}},
    )
    assert accepted_tenants(s) == {"hue-ioc", "hue-sxd"}
    assert s.kafka_bridge_on


def test_bridge_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ConfigError, match=r"needs bus\.kind=kafka"):
        load_settings(env="development", ingest={"kafka_bridge": {"enabled": True}})
    with pytest.raises(ConfigError, match="not a regular expression"):
        load_settings(env="development", ingest={"kafka_bridge": {"tenant_pattern": "[a-"}})
    with pytest.raises(ConfigError, match="not a regular expression"):
        load_settings(
            env="development", ingest={"kafka_bridge": {"tenant_pattern": "(?P<tenant>x)"}}
        )
    with pytest.raises(ConfigError, match="do not match tenant_pattern"):
        load_settings(env="development", ingest={"kafka_bridge": {"tenants": ["no/slash"]}})
    assert not load_settings(env="development").kafka_bridge_on  # memory bus: off
    off = load_settings(
        env="development", bus={"kind": "kafka"}, ingest={"kafka_bridge": {"enabled": False}}
    )
    assert not off.kafka_bridge_on


def test_a_message_is_judged_as_an_ingest_line_with_an_id_from_its_place() -> None:
    def message(value: bytes, offset: int) -> IngestMessage:
        return IngestMessage(
            tenant="hue-ioc", key="c/s", value=value, topic="soc.ingest.hue-ioc", partition=0,
            offset=offset,
        )  # fmt: skip

    received = utcnow()
    bad = parse_message(message(b"{not json", 7), received=received, max_line_bytes=1024)
    again = parse_message(message(b"{not json", 7), received=utcnow(), max_line_bytes=1024)
    elsewhere = parse_message(message(b"{not json", 8), received=received, max_line_bytes=1024)
    (letter,) = bad.dead
    assert (letter.reason, letter.source, letter.tenant) == ("not_json", "kafka:c/s", "hue-ioc")
    assert letter.id == again.dead[0].id != elsewhere.dead[0].id
    assert not parse_message(message(b"", 9), received=received, max_line_bytes=1024).dead
