"""The agent's one configuration file: YAML, validated by pydantic.

    cfg = load_config(Path("/etc/soc-connector/connector.yml"))

A mistake is reported as ``connector.yml:14: sources[1].listen: ...``: the
file, the line and the key, so that an operator fixes it without reading code.
Secrets are never written in the file itself: tokens, passwords and keys are
named by ``*_file`` paths (or environment variables, for S3 credentials).

The tenant is the configuration's and the credential's, never a log line's:
events carry no tenant of their own on the way out (the ingest API takes it
from the token; on Kafka, each tenant writes its own topic, which Kafka ACLs
grant to that tenant's principal only).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.errors import ConfigError
from connectors.parse.dispatch import FORMATS
from soc.models import LogSource
from soc.yamltext import check_depth

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


def _size(value: Any) -> Any:
    """``"512MiB"``, ``"64k"``, ``1048576``: bytes."""
    if isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            raise ValueError(f"not a size: {value!r} (e.g. 1048576, 64KiB, 512MiB, 2GiB)")
        return int(m.group(1)) * _UNITS[m.group(2).lower()]
    return value


Size = Annotated[int, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _listen(value: str) -> str:
    _, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"listen must be HOST:PORT, not {value!r}")
    return value


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


class ConnectorIdentity(_Model):
    id: str = Field(pattern=_NAME)
    """This agent's name, unique in the SOC (e.g. ``ioc-web-01``); stamped on every event."""
    tenant: str = Field(pattern=_NAME)
    """The agency whose logs these are; on Kafka it names the topic written."""
    data_dir: Path
    """Where the agent keeps its registry (read positions) and its spool."""
    host: str | None = Field(None, min_length=1, max_length=255)
    """Host name for records that carry none (default: this machine's)."""
    timezone: str = "Asia/Ho_Chi_Minh"
    """Zone of timestamps that carry none (RFC 3164 syslog, auth.log, ...)."""
    heartbeat_s: float = Field(30.0, gt=0, le=3600)
    """How often the agent reports to the SOC (its streams' delivered seq and backlog);
    the SOC calls a connector late after two intervals without one, silent after five."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v


class SpoolConfig(_Model):
    max_bytes: Size = 1 << 30
    """Largest the on-disk spool may grow; when full, sources are paused (never dropped)."""
    segment_bytes: Size = 16 << 20
    """Size of one spool file; a file is deleted once all of it is acknowledged."""
    fsync: Literal["always", "batch", "never"] = "batch"
    """``batch``: fsync each appended batch (survives power loss); ``never``: leave it to the OS."""

    _coerce = field_validator("max_bytes", "segment_bytes", mode="before")(_size)


class KafkaOutput(_Model):
    type: Literal["kafka"] = "kafka"
    bootstrap_servers: list[str] = Field(min_length=1)
    topic: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,249}$")
    """Default ``soc.ingest.<tenant>``: the topic the SOC's ingest bridge reads for this tenant."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_file: Path | None = None
    compression: Literal["gzip", "none"] = "gzip"
    request_timeout_s: float = Field(30.0, gt=0)
    max_message_bytes: Size = 1_000_000
    """Largest message sent; keep it at or under the broker's ``message.max.bytes``."""

    _coerce = field_validator("max_message_bytes", mode="before")(_size)

    def model_post_init(self, _: Any) -> None:
        sasl = self.security_protocol.startswith("SASL")
        if sasl and not (self.sasl_username and self.sasl_password_file):
            raise ValueError(f"{self.security_protocol} needs sasl_username and sasl_password_file")


class HttpOutput(_Model):
    type: Literal["http"] = "http"
    url: str = Field(pattern=r"^https?://")
    """The SOC's base URL (``https://soc.example``) or its ingest route."""
    token_file: Path
    """File holding this tenant's ingest token (mode 0600)."""
    ca_file: Path | None = None
    """CA bundle to verify the SOC's certificate (default: the system's)."""
    timeout_s: float = Field(30.0, gt=0)

    def model_post_init(self, _: Any) -> None:
        host = self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        if self.url.startswith("http://") and not _loopback(host):
            raise ValueError("the SOC's url must be https:// (http:// only to a loopback address)")

    def ingest_url(self) -> str:
        u = self.url.rstrip("/")
        return u if u.endswith("/api/v1/ingest") else u + "/api/v1/ingest"

    def heartbeat_url(self) -> str:
        return self.ingest_url().removesuffix("/ingest") + "/heartbeat"


class DeliveryConfig(_Model):
    batch_events: int = Field(500, ge=1, le=100_000)
    batch_bytes: Size = 1 << 20
    retry_max_s: float = Field(30.0, gt=0)
    """Longest wait between attempts while the destination is down."""

    _coerce = field_validator("batch_bytes", mode="before")(_size)


class _Source(_Model):
    name: str = Field(pattern=_NAME)
    format: str = "auto"
    """Parser: auto, syslog, auth, auditd, apache, nginx, cef, fortigate, zeek, cloudtrail,
    k8s-audit, json, windows-json (docs/connectors/parsers.md)."""
    logsource: LogSource | None = None
    """Logsource for records whose format implies none."""
    max_line_bytes: Size = 256 << 10
    """Longest line parsed; a longer one is shipped as a ``too_large`` event with its head,
    size and SHA-256 (so it stays under Kafka's and the SOC's message limits)."""

    _coerce = field_validator("max_line_bytes", mode="before")(_size)

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v not in FORMATS:
            raise ValueError(f"unknown format {v!r}; one of {', '.join(sorted(FORMATS))}")
        return v


class FileSource(_Source):
    type: Literal["file"]
    paths: list[str] = Field(min_length=1)
    """Globs of files to follow (``/var/log/nginx/access.log*``)."""
    exclude: list[str] = Field(default_factory=list)
    """Globs of files not to read (``*.gz``)."""
    start_at: Literal["beginning", "end"] = "beginning"
    """Where a file first seen is read from."""
    scan_interval_s: float = Field(1.0, gt=0)
    """How often globs are re-expanded and files polled for growth."""
    close_inactive_s: float = Field(300.0, gt=0)
    """A file unchanged this long is closed (reopened when it grows)."""


class WindowsFilesSource(_Source):
    type: Literal["windows_files"]
    paths: list[str] = Field(min_length=1)
    """Globs of finished files to read once each: .evtx, exported .json/.ndjson, .zip of those."""
    scan_interval_s: float = Field(10.0, gt=0)
    format: str = "windows-json"


class SyslogTls(_Model):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    """When set, senders must present a certificate signed by this CA."""


class SyslogSource(_Source):
    type: Literal["syslog"]
    protocol: Literal["udp", "tcp", "tls"]
    listen: str
    framing: Literal["auto", "octet", "newline"] = "auto"
    tls: SyslogTls | None = None
    max_connections: int = Field(512, ge=1)
    format: str = "syslog"

    _listen = field_validator("listen")(lambda v: _listen(v))

    def model_post_init(self, _: Any) -> None:
        if self.protocol == "tls" and self.tls is None:
            raise ValueError("protocol tls needs a tls: section (cert_file, key_file)")
        if self.protocol != "tls" and self.tls is not None:
            raise ValueError(f"a tls: section needs protocol tls, not {self.protocol}")


class HttpSource(_Source):
    type: Literal["http"]
    listen: str
    path: str = Field("/", pattern=r"^/")
    token_file: Path | None = None
    """When set, pushes must carry ``Authorization: Bearer <token>``."""
    tls: SyslogTls | None = None
    max_body_bytes: Size = 16 << 20
    format: str = "json"

    _listen = field_validator("listen")(lambda v: _listen(v))
    _coerce2 = field_validator("max_body_bytes", mode="before")(_size)

    def model_post_init(self, _: Any) -> None:
        if self.token_file is None and not _loopback(split_listen(self.listen)[0]):
            raise ValueError("an http source listening beyond loopback needs a token_file")


class S3Source(_Source):
    type: Literal["s3"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    """Object storage endpoint (a domestic cloud's S3-compatible service); default AWS."""
    region: str = "us-east-1"
    access_key_id_file: Path | None = None
    secret_access_key_file: Path | None = None
    """Credentials; when unset, boto3's own chain (environment, instance role)."""
    interval_s: float = Field(60.0, gt=0)
    lookback_days: int = Field(2, ge=0, le=90)
    """Days before the newest object sent from a region's folder that are listed again, so
    late-delivered CloudTrail files are still found."""
    ca_file: Path | None = None
    format: str = "cloudtrail"


SourceConfig = Annotated[
    FileSource | WindowsFilesSource | SyslogSource | HttpSource | S3Source,
    Field(discriminator="type"),
]


class MetricsConfig(_Model):
    listen: str | None = "127.0.0.1:9466"
    """Where /metrics and /healthz are served; null to serve neither."""

    _listen = field_validator("listen")(lambda v: v if v is None else _listen(v))


class AgentConfig(_Model):
    connector: ConnectorIdentity
    output: KafkaOutput | HttpOutput = Field(discriminator="type")
    delivery: DeliveryConfig = DeliveryConfig()
    spool: SpoolConfig = SpoolConfig()
    metrics: MetricsConfig = MetricsConfig()
    sources: list[SourceConfig] = Field(min_length=1)

    def kafka_topic(self) -> str:
        assert isinstance(self.output, KafkaOutput)
        return self.output.topic or f"soc.ingest.{self.connector.tenant}"


def load_config(path: Path) -> AgentConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    return parse_config(text, name=str(path))


def yaml_document(text: str, name: str) -> tuple[Any, yaml.Node | None]:
    """The YAML document in ``text`` and its composed tree (which knows the lines, for
    :func:`located_errors`); ConfigError ``name:line: not valid YAML: ...``. Also used for
    drill scenarios (soc.drills.scenario)."""
    try:
        check_depth(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise ConfigError(f"{where}: not valid YAML: {getattr(e, 'problem', e)}") from e
    except RecursionError as e:  # PyYAML recurses: [[[[... past Python's limit
        raise ConfigError(f"{name}: not valid YAML: nested too deeply") from e
    return data, node


def parse_config(text: str, *, name: str = "<config>") -> AgentConfig:
    data, node = yaml_document(text, name)
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: the file must be a mapping (connector:, output:, sources:)")
    _check_unique_names(data, node, name)
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError("\n".join(located_errors(e, data, node, name))) from e


def located_errors(
    error: ValidationError, data: Any, node: yaml.Node | None, name: str
) -> list[str]:
    """Each error of a YAML document's validation as ``name:line: key: message``.

    ``data`` is the document as loaded and ``node`` its composed tree (``yaml.compose``),
    which knows the lines. Also used for drill scenarios (soc.drills.scenario).
    """
    lines = []
    for err in error.errors():
        loc = _real_loc(err["loc"], data)
        line = _line_of(node, loc)
        key = _loc_text(loc) or "(top)"
        lines.append(f"{name}:{line}: {key}: {err['msg']}")
    return lines


def _check_unique_names(data: dict[str, Any], node: yaml.Node | None, name: str) -> None:
    sources = data.get("sources")
    if not isinstance(sources, list):
        return
    seen: set[str] = set()
    for i, src in enumerate(sources):
        n = src.get("name") if isinstance(src, dict) else None
        if isinstance(n, str) and n in seen:
            line = _line_of(node, ["sources", i, "name"])
            raise ConfigError(f"{name}:{line}: sources[{i}].name: {n!r} names another source too")
        if isinstance(n, str):
            seen.add(n)


def _real_loc(loc: tuple[Any, ...], data: Any) -> list[str | int]:
    """The path in the document: pydantic adds union tags (``file``) that are not keys."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_dict = isinstance(cur, dict) and part in cur
        if in_dict or (isinstance(cur, list) and isinstance(part, int) and part < len(cur)):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and "[" not in part:
            # a missing key, or a tag of a union; keep a missing key's name
            if part not in ("kafka", "http", "file", "windows_files", "syslog", "s3"):
                out.append(part)
                break
        else:
            break
    return out


def _loc_text(loc: list[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _line_of(node: yaml.Node | None, loc: list[str | int]) -> int:
    """The 1-based line of the deepest node of ``loc`` found in the YAML tree."""
    line = 1 if node is None else node.start_mark.line + 1
    cur = node
    for part in loc:
        nxt = None
        if isinstance(cur, yaml.MappingNode):
            for k, v in cur.value:
                if getattr(k, "value", None) == part:
                    line = k.start_mark.line + 1
                    nxt = v
                    break
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and part < len(cur.value):
            nxt = cur.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        cur = nxt
    return line


def read_secret(path: Path) -> str:
    """A secret from its file, stripped; refuses a file others may read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read secret: {e.strerror}") from e
    if mode & 0o077 and os.environ.get("SOC_CONNECTOR_ALLOW_READABLE_SECRETS") != "1":
        raise ConfigError(f"{path}: secret file is readable by others; chmod 600 it")
    if not text:
        raise ConfigError(f"{path}: secret file is empty")
    return text
