"""The agent's configuration: the shipped files stay valid, mistakes are named, secrets guarded.

Every YAML under deploy/connector/ is loaded with the agent's own loader, so an
example cannot drift from the schema. A mistake must name the file, the line
and the key (``c.yml:13: sources[0].pathz: ...``); the line numbers below are
exact. The last test keeps the agent light: importing it must not pull in the
SOC server's stack.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from connectors.cli import main as connector_cli
from connectors.config import (
    AgentConfig,
    ConfigError,
    HttpOutput,
    HttpSource,
    KafkaOutput,
    S3Source,
    SyslogSource,
    load_config,
    parse_config,
    read_secret,
    split_listen,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "connector"
DEPLOYED = sorted(DEPLOY.rglob("*.yml"))
UNIT = DEPLOY / "soc-connector.service"

BASE = """\
connector:
  id: web-01
  tenant: hue-ioc
  data_dir: /var/lib/soc-connector
output:
  type: http
  url: https://soc.example.invalid
  token_file: /etc/soc-connector/ingest.token
sources:
  - name: auth
    type: file
    paths: [/var/log/auth.log]
"""
"""Twelve lines; each case below appends from line 13 on."""

SYSLOG = """\
  - name: netdev
    type: syslog
    protocol: {protocol}
    listen: "{listen}"
"""
"""A second source, lines 13 to 16."""

DOCUMENTATION_NETS = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "127.0.0.0/8", "0.0.0.0/32")
]


# -- the shipped files ---------------------------------------------------------------


def test_the_deploy_folder_has_the_default_and_the_examples() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in DEPLOYED}
    assert {
        "connector.yml",
        "examples/ioc-datacenter.yml",
        "examples/standby-site.yml",
        "examples/cloud-tenant.yml",
    } <= names


@pytest.mark.parametrize("path", DEPLOYED, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_shipped_yaml_loads_and_uses_placeholders_only(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.connector.data_dir == Path("/var/lib/soc-connector")  # the unit's StateDirectory
    for secret in _secret_files(cfg):
        assert secret.parent.parts[:3] == ("/", "etc", "soc-connector"), secret
    for host in _hosts(cfg):
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            assert host.endswith(".example.invalid"), f"{path.name}: {host} is not a placeholder"
        else:
            assert any(addr in net for net in DOCUMENTATION_NETS), f"{path.name}: {host}"


def test_the_default_is_the_hardened_one() -> None:
    cfg = load_config(DEPLOY / "connector.yml")
    assert isinstance(cfg.output, HttpOutput)
    assert cfg.output.url.startswith("https://")
    assert cfg.spool.fsync == "batch"
    assert cfg.spool.max_bytes == 1 << 30
    assert cfg.metrics.listen is not None
    assert split_listen(cfg.metrics.listen)[0] == "127.0.0.1"
    assert {(s.type, s.name) for s in cfg.sources} == {("file", "auth"), ("file", "syslog")}


def test_the_examples_keep_what_their_comments_promise() -> None:
    ioc = load_config(DEPLOY / "examples" / "ioc-datacenter.yml")
    assert isinstance(ioc.output, KafkaOutput)
    assert ioc.output.security_protocol == "SASL_SSL"
    assert ioc.kafka_topic() == "soc.ingest.hue-ioc"
    tls = [s for s in ioc.sources if isinstance(s, SyslogSource) and s.protocol == "tls"]
    assert tls and all(s.tls and s.tls.client_ca_file for s in tls)  # mutual TLS
    assert not [s for s in ioc.sources if isinstance(s, SyslogSource) and s.protocol == "udp"]
    assert {"file", "syslog", "windows_files"} <= {s.type for s in ioc.sources}

    standby = load_config(DEPLOY / "examples" / "standby-site.yml")
    assert isinstance(standby.output, HttpOutput)
    assert standby.spool.max_bytes > load_config(DEPLOY / "connector.yml").spool.max_bytes
    assert {s.protocol for s in standby.sources if isinstance(s, SyslogSource)} == {"tcp", "tls"}

    cloud = load_config(DEPLOY / "examples" / "cloud-tenant.yml")
    s3 = [s for s in cloud.sources if isinstance(s, S3Source)]
    assert s3 and all(s.endpoint_url for s in s3)  # a domestic cloud, not AWS
    webhooks = [s for s in cloud.sources if isinstance(s, HttpSource)]
    assert webhooks and all(s.token_file and s.format == "k8s-audit" for s in webhooks)


def test_the_unit_runs_the_default_config_in_a_hardened_sandbox() -> None:
    unit = _unit(UNIT)
    exec_start = unit["ExecStart"][0].split()
    assert exec_start == [
        "/opt/soc-connector/bin/soc-connector",
        "run",
        "--config",
        "/etc/soc-connector/connector.yml",
    ]
    run = connector_cli.commands["run"]
    assert "--config" in {opt for p in run.params for opt in p.opts}
    assert Path("/var/lib", unit["StateDirectory"][0]) == Path("/var/lib/soc-connector")
    for key, value in {
        "User": "soc-connector",
        "SupplementaryGroups": "adm",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "Restart": "always",
    }.items():
        assert unit[key] == [value], key
    assert "@system-service" in unit["SystemCallFilter"]
    assert unit["AmbientCapabilities"] == [""]  # 514 is opt-in, via a drop-in
    assert set(unit["RestrictAddressFamilies"][0].split()) <= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert int(unit["LimitNOFILE"][0]) >= 4096
    assert int(unit["TimeoutStopSec"][0].removesuffix("s")) > 10  # the agent drains for 10 s


# -- mistakes name the file, the line and the key ----------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        pytest.param(
            BASE + "    pathz: [/var/log/secure]\n",
            "13: sources[0].pathz",
            "Extra inputs are not permitted",
            id="unknown key in a source",
        ),
        pytest.param(
            BASE + "spools:\n  max_bytes: 1GiB\n",
            "13: spools",
            "Extra inputs are not permitted",
            id="unknown top-level key",
        ),
        pytest.param(
            BASE + "    scan_interval_s: soon\n",
            "13: sources[0].scan_interval_s",
            "valid number",
            id="wrong type",
        ),
        pytest.param(
            BASE + SYSLOG.format(protocol="tcp", listen="0.0.0.0:99999"),
            "16: sources[1].listen",
            "listen must be HOST:PORT, not '0.0.0.0:99999'",
            id="listen port out of range",
        ),
        pytest.param(
            BASE + "metrics:\n  listen: localhost\n",
            "14: metrics.listen",
            "listen must be HOST:PORT, not 'localhost'",
            id="listen without port",
        ),
        pytest.param(
            BASE + "    format: evtx\n",
            "13: sources[0].format",
            "unknown format 'evtx'",
            id="unknown format",
        ),
        pytest.param(
            BASE + SYSLOG.format(protocol="tls", listen="0.0.0.0:6514"),
            "13: sources[1]",
            "protocol tls needs a tls: section",
            id="tls without a tls section",
        ),
        pytest.param(
            BASE + "spool:\n  max_bytes: 1.5GiB\n",
            "14: spool.max_bytes",
            "not a size: '1.5GiB'",
            id="bad size",
        ),
        pytest.param(
            BASE + "    max_line_bytes: 12 parsecs\n",
            "13: sources[0].max_line_bytes",
            "not a size",
            id="bad size in a source",
        ),
        pytest.param(
            BASE.replace("  token_file: /etc/soc-connector/ingest.token\n", ""),
            "5: output.token_file",
            "Field required",
            id="missing key",
        ),
        pytest.param(
            BASE.replace("    type: file\n", "    type: files\n"),
            "10: sources[0]",
            "'files'",
            id="unknown source type",
        ),
        pytest.param(
            BASE.replace("  tenant: hue-ioc\n", " tenant: hue-ioc\n"),
            "3",
            "not valid YAML",
            id="bad YAML indentation",
        ),
        pytest.param(
            BASE + '    exclude: ["*.gz]\n',
            "14",
            "not valid YAML",
            id="bad YAML unclosed quote",
        ),
    ],
)
def test_a_mistake_names_file_line_and_key(text: str, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name="c.yml")
    message = str(caught.value)
    assert message.startswith(f"c.yml:{where}: "), message
    assert says in message, message


def test_load_config_names_the_real_file(tmp_path: Path) -> None:
    path = tmp_path / "connector.yml"
    path.write_text(BASE + "    format: evtx\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:13: sources\[0\]\.format: "):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")


def test_every_mistake_is_reported_at_once() -> None:
    text = BASE.replace("id: web-01", "id: 'web 01'") + "    pathz: [/x]\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name="c.yml")
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        ["c.yml:2", "connector.id"],
        ["c.yml:13", "sources[0].pathz"],
    ]


def test_duplicate_source_names_point_at_the_second_one() -> None:
    text = BASE + "  - name: auth\n    type: file\n    paths: [/var/log/secure]\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name="c.yml")
    assert str(caught.value) == "c.yml:13: sources[1].name: 'auth' names another source too"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("512MiB", 512 << 20),
        ("512MB", 512 << 20),
        ("512m", 512 << 20),
        ("64k", 64 << 10),
        ("64KiB", 64 << 10),
        ("2GiB", 2 << 30),
        ("1 TiB", 1 << 40),
        ("1048576", 1 << 20),
        (1048576, 1 << 20),
    ],
)
def test_sizes_parse(value: str | int, expected: int) -> None:
    text = BASE + f"spool:\n  max_bytes: {value}\n  segment_bytes: {value}\n"
    cfg = parse_config(text + f"delivery:\n  batch_bytes: {value}\n")
    assert cfg.spool.max_bytes == cfg.spool.segment_bytes == expected
    assert cfg.delivery.batch_bytes == expected


# -- secrets ----------------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SOC_CONNECTOR_ALLOW_READABLE_SECRETS", raising=False)
    path = tmp_path / "ingest.token"
    path.write_text("  s3cr3t-token\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_a_private_secret_is_read_stripped(secret: Path) -> None:
    assert read_secret(secret) == "s3cr3t-token"


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640, 0o660])
def test_a_secret_others_may_read_is_refused(secret: Path, mode: int) -> None:
    secret.chmod(mode)
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(secret))}: secret file is readable by others"
    ):
        read_secret(secret)


def test_readable_secrets_are_allowed_only_when_asked(
    secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret.chmod(0o644)
    monkeypatch.setenv("SOC_CONNECTOR_ALLOW_READABLE_SECRETS", "true")
    with pytest.raises(ConfigError, match="readable by others"):
        read_secret(secret)
    monkeypatch.setenv("SOC_CONNECTOR_ALLOW_READABLE_SECRETS", "1")
    assert read_secret(secret) == "s3cr3t-token"


def test_an_empty_or_missing_secret_is_refused(secret: Path) -> None:
    secret.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="secret file is empty"):
        read_secret(secret)
    with pytest.raises(ConfigError, match="cannot read secret"):
        read_secret(secret.with_name("missing.token"))


# -- the agent stays light -------------------------------------------------------------

HEAVY = ("fastapi", "uvicorn", "starlette", "opensearchpy")

PROBE = """
import importlib, json, pkgutil, sys
import connectors
names = [m.name for m in pkgutil.walk_packages(connectors.__path__, "connectors.")]
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"imported": names, "heavy": heavy}}))
"""


def test_importing_the_agent_does_not_import_the_server_stack() -> None:
    """Every connectors.* module (agent, cli, sources, outputs, ...) in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    imported = set(result["imported"])
    assert {"connectors.agent", "connectors.cli", "connectors.outputs.http"} <= imported
    assert {"connectors.outputs.kafka", "connectors.sources.base"} <= imported
    assert result["heavy"] == []


# -- helpers ----------------------------------------------------------------------


def _secret_files(cfg: AgentConfig) -> list[Path]:
    out = cfg.output
    paths = [getattr(out, "token_file", None), getattr(out, "sasl_password_file", None)]
    for s in cfg.sources:
        paths += [getattr(s, "token_file", None)]
        paths += [
            getattr(s, "access_key_id_file", None),
            getattr(s, "secret_access_key_file", None),
        ]
        tls = getattr(s, "tls", None)
        if tls is not None:
            paths.append(tls.key_file)
    return [p for p in paths if p is not None]


def _hosts(cfg: AgentConfig) -> list[str]:
    """Every host name or address the configuration reaches or listens on."""
    hosts: list[str] = []
    if isinstance(cfg.output, HttpOutput):
        hosts.append(urlsplit(cfg.output.url).hostname or "")
    else:
        hosts += [server.rpartition(":")[0] for server in cfg.output.bootstrap_servers]
    if cfg.metrics.listen:
        hosts.append(split_listen(cfg.metrics.listen)[0])
    for s in cfg.sources:
        if isinstance(s, SyslogSource | HttpSource):
            hosts.append(split_listen(s.listen)[0])
        if isinstance(s, S3Source) and s.endpoint_url:
            hosts.append(urlsplit(s.endpoint_url).hostname or "")
    return hosts


def _unit(path: Path) -> dict[str, list[str]]:
    """A systemd unit's keys; a key may repeat (SystemCallFilter=), so each maps to a list."""
    keys: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        keys.setdefault(key.strip(), []).append(value.strip())
    return keys


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  url: https://soc.example.invalid",
            "  url: http://soc.example.invalid",
            "c.yml:5: output: Value error, the SOC's url must be https://",
        ),
        (
            "  url: https://soc.example.invalid\n  token_file: /etc/soc-connector/ingest.token",
            "  bootstrap_servers: [kafka.example.invalid:9093]\n  security_protocol: SASL_SSL",
            "c.yml:5: output: Value error, SASL_SSL needs sasl_username and sasl_password_file",
        ),
    ],
)
def test_insecure_or_incomplete_outputs_are_refused(old: str, new: str, expected: str) -> None:
    text = BASE.replace(old, new)
    if "bootstrap" in new:
        text = text.replace("type: http", "type: kafka")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name="c.yml")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_plain_http_to_loopback_is_allowed() -> None:
    text = BASE.replace("https://soc.example.invalid", "http://127.0.0.1:8000")
    cfg = parse_config(text)
    assert isinstance(cfg.output, HttpOutput)
    assert cfg.output.ingest_url() == "http://127.0.0.1:8000/api/v1/ingest"


def test_tls_settings_on_a_plain_tcp_source_are_refused() -> None:
    text = BASE + (
        "  - name: net\n    type: syslog\n    protocol: tcp\n    listen: 0.0.0.0:6514\n"
        "    tls: {cert_file: /etc/c.pem, key_file: /etc/k.pem}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, name="c.yml")
    assert str(caught.value) == (
        "c.yml:13: sources[1]: Value error, a tls: section needs protocol tls, not tcp"
    )


def test_an_open_http_receiver_needs_a_token() -> None:
    push = "  - name: k8s\n    type: http\n    listen: {}\n    path: /audit\n"
    with pytest.raises(ConfigError, match="needs a token_file"):
        parse_config(BASE + push.format("0.0.0.0:8088"), name="c.yml")
    assert parse_config(BASE + push.format("127.0.0.1:8088")).sources[1].name == "k8s"
