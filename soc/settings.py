"""The one settings object, nested by stage.

Settings come, in order of precedence, from keyword arguments, environment
variables (prefix ``SOC_``, nesting with ``__``, e.g. ``SOC_BUS__KIND=kafka``),
and an optional YAML file named by ``SOC_CONFIG``. Build it once with
:func:`load_settings` and pass it down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from soc import detections as bundled
from soc.errors import ConfigError

Role = Literal["ingest", "viewer", "analyst", "lead", "responder", "admin", "taxii"]
ALL_TENANTS = "*"
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
"""Traffic Light Protocol 2.0 (FIRST): who may see it beyond the SOC."""
UNSAFE_SECRETS = frozenset({"", "changethis", "changeme", "secret", "development"})


class _Section(BaseModel):
    """A settings section: attribute docstrings become the documented descriptions."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class ApiKey(_Section):
    """A credential: only the SHA-256 of the token is configured, never the token."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    tenants: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _ingest_has_one_tenant(self) -> ApiKey:
        if self.role == "ingest" and (len(self.tenants) != 1 or self.tenants[0] == ALL_TENANTS):
            raise ValueError(f"ingest key {self.name!r} must name exactly one tenant")
        return self

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class LoginLimitSettings(_Section):
    """Limits in front of the password check of `POST /api/v1/auth/token`."""

    burst: float = Field(5, gt=0)
    """Sign-in attempts at once per (username, client address) before the rate applies."""
    per_second: float = Field(0.1, gt=0)
    """Attempts per second per (username, client address) after the burst."""
    ip_burst: float = Field(30, gt=0)
    """Attempts at once per client address, whatever the username (password spraying)."""
    ip_per_second: float = Field(1.0, gt=0)
    """Attempts per second per client address after that burst."""
    max_failures: int = Field(10, ge=1)
    """Failed sign-ins per (username, client address) within `window_s` that lock it out."""
    window_s: float = Field(900.0, gt=0)
    """Window in which failures are counted."""
    lockout_s: float = Field(900.0, gt=0)
    """How long a lockout lasts; a successful sign-in after it clears the count."""


class IngestLimitSettings(_Section):
    """A token bucket per ingest key on `POST /api/v1/ingest`, counted in lines."""

    enabled: bool = True
    """Limit each ingest key's rate; a refused request gets 429 and `Retry-After`."""
    burst: float = Field(200_000, gt=0)
    """Lines one key may send at once before the rate applies."""
    per_second: float = Field(50_000, gt=0)
    """Lines per second one key may send on average."""


class AuthSettings(_Section):
    api_keys: list[ApiKey] = Field(default_factory=list)
    """API keys as JSON or YAML: name, sha256 of the token, role, tenants (`soc keys new`)."""
    secret_key: SecretStr = SecretStr("changethis")
    """Signs session tokens. Refused outside development while it is a default; changing it
    signs everyone out."""
    token_lifetime_s: float = Field(8 * 3600, ge=60, le=7 * 24 * 3600)
    """Lifetime of a session token (8 h: a night shift); there are no refresh tokens."""
    revocation_refresh_s: float = Field(5.0, gt=0)
    """How often each API process reloads ended sessions from the store, so a sign-out or a
    disabled account reaches every process within this time."""
    login: LoginLimitSettings = LoginLimitSettings()
    ingest_rate: IngestLimitSettings = IngestLimitSettings()


class MemoryBusSettings(_Section):
    capacity: int = Field(10_000, ge=1)
    """Messages a topic holds, not yet committed by every group, before publishers wait."""


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated host:port list."""
    topic_prefix: str = Field("soc", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Topics are `<prefix>.events`, `<prefix>.alerts`, `<prefix>.deadletters`; the stages'
    consumer groups are `<prefix>.<group>` (e.g. `soc.soc-detect`)."""
    partitions: int = Field(6, ge=1)
    """Partitions of each topic created at start (the most detectors that share work)."""
    replication_factor: int = Field(1, ge=1)
    """Replicas of each topic created at start; 3 on a production cluster."""
    compression: Literal["zstd", "lz4", "gzip", "none"] = "zstd"
    """Producer compression. zstd costs the producer, the brokers and the consumers the least
    CPU of these; gzip (level 9 in aiokafka) the most."""
    batch_bytes: int = Field(1_048_576, ge=1024)
    """Largest record batch the producer sends to one partition, before compression; at
    most the topics' `max.message.bytes` (1 MiB by default)."""
    linger_ms: int = Field(0, ge=0)
    """How long a partly filled batch waits for more records before it is sent; a publish
    fills its batches itself, so waiting only adds latency."""
    max_batch: int = Field(500, ge=1)
    """Records a consumer fetches in one poll at most."""
    fetch_min_bytes: int = Field(1, ge=1)
    """Compressed bytes a broker gathers before it answers a consumer's fetch, waiting at most
    `fetch_max_wait_ms`. Larger (e.g. 32768) means fewer, fuller polls and commits at a steady
    moderate rate, for up to `fetch_max_wait_ms` more latency per stage."""
    fetch_max_wait_ms: int = Field(500, ge=0)
    """How long a broker holds a fetch that has fewer than `fetch_min_bytes`; idle consumers
    fetch this often."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How to reach the brokers."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """SASL mechanism, with SASL_* protocols."""
    sasl_username: str | None = None
    """SASL user."""
    sasl_password: SecretStr | None = None
    """SASL password (`SOC_BUS__KAFKA__SASL_PASSWORD`); or `sasl_password_file`."""
    sasl_password_file: Path | None = None
    """A file holding the SASL password (a mounted secret), read at start; instead of
    `sasl_password`."""
    ssl_cafile: Path | None = None
    """CA bundle to verify the brokers, with SSL protocols; null: the system's CAs."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM) for brokers that ask for one (`ssl.client.auth=required`)."""
    ssl_keyfile: Path | None = None
    """The client certificate's private key (PEM)."""
    connect_timeout_s: float = Field(60.0, gt=0)
    """How long start-up waits for the brokers before giving up."""

    @model_validator(mode="after")
    def _security_complete(self) -> KafkaSettings:
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ValueError("set sasl_password or sasl_password_file, not both")
        if self.security_protocol.startswith("SASL_"):
            if self.sasl_mechanism is None or not self.sasl_username:
                raise ValueError(f"{self.security_protocol} needs sasl_mechanism and sasl_username")
            if self.sasl_password is None and self.sasl_password_file is None:
                raise ValueError(
                    f"{self.security_protocol} needs sasl_password or sasl_password_file"
                )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("set both ssl_certfile and ssl_keyfile, or neither")
        return self

    def sasl_password_value(self) -> str | None:
        """The SASL password, from the settings or its file (ConfigError if unreadable)."""
        return _secret("bus.kafka.sasl_password_file", self.sasl_password, self.sasl_password_file)


class BusSettings(_Section):
    kind: Literal["memory", "kafka"] = "memory"
    """`memory` (in-process; `soc run` only) or `kafka`."""
    memory: MemoryBusSettings = MemoryBusSettings()
    kafka: KafkaSettings = KafkaSettings()


class SqliteSettings(_Section):
    path: Path = Path(".soc/soc.db")
    """The database file (created with its folder)."""
    backup_dir: Path = Path(".soc/backups")
    """Where `soc backup` writes its copies (`<name>.db` and its manifest `<name>.json`)."""


class OpenSearchSettings(_Section):
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    """Node URLs, as a JSON list."""
    index_prefix: str = Field("soc", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """Indices are `<prefix>-events-*`, `-alerts-*`, `-incidents-*`, `-deadletters-*`."""
    username: str | None = None
    """Basic-auth user."""
    password: SecretStr | None = None
    """Basic-auth password (`SOC_STORE__OPENSEARCH__PASSWORD`); or `password_file`."""
    password_file: Path | None = None
    """A file holding the basic-auth password (a mounted secret), read at start; instead
    of `password`."""
    verify_certs: bool = True
    """Verify the nodes' TLS certificates (https hosts)."""
    ca_certs: Path | None = None
    """CA bundle for the nodes' certificates; null: the system's CAs."""
    shards: int = Field(1, ge=1)
    """Primary shards of each new index."""
    replicas: int = Field(0, ge=0)
    """Replicas of each new index; 1 or more on a cluster."""
    bulk_retries: int = Field(5, ge=0)
    """Retries of a bulk write on 429, 5xx or connection errors before the stage backs off."""
    connect_timeout_s: float = Field(120.0, gt=0)
    """How long start-up waits for the cluster before giving up."""
    refresh_on_write: bool = False
    """Make every write searchable at once (tests, demos); costs throughput."""
    snapshot_repository: str = Field("soc-backups", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """The filesystem snapshot repository `soc backup` registers (if missing) and writes to."""
    snapshot_location: str = "soc"
    """The repository's folder on the nodes: relative to their `path.repo`, or an absolute
    path under it (every node must see the same shared folder)."""

    @model_validator(mode="after")
    def _one_password(self) -> OpenSearchSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def password_value(self) -> str | None:
        """The basic-auth password, from the settings or its file (ConfigError if unreadable)."""
        return _secret("store.opensearch.password_file", self.password, self.password_file)


def _secret(name: str, value: SecretStr | None, path: Path | None) -> str | None:
    """A secret given inline or as a file (whose surrounding whitespace is dropped)."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{name}: cannot read {path}: {e}") from e
    return value.get_secret_value() if value is not None else None


RETAINED_KINDS = ("events", "dead_letters", "alerts", "incidents", "audit")


class RetentionPeriods(_Section):
    """Days each kind of record is kept, by its own time; null keeps it until changed."""

    events_days: float | None = Field(90.0, gt=0)
    """Events (by event time)."""
    dead_letters_days: float | None = Field(30.0, gt=0)
    """Dead letters (by when the input was received)."""
    alerts_days: float | None = Field(None, gt=0)
    """Alerts (by event time); null: kept."""
    incidents_days: float | None = Field(None, gt=0)
    """Closed incidents (by their last change), deleted with their comments; open ones are
    never deleted; their alerts and audit entries keep their own periods; null: kept."""
    audit_days: float | None = Field(None, gt=0)
    """Audit entries (by their time): the one chain is cut at its start, behind a retention
    entry it is verified from, as far as every older entry is past its own tenant's period
    (docs/adr/0012-event-store.md); null: kept."""


class RetentionSettings(RetentionPeriods):
    """Retention periods, the defaults and per tenant (docs/OPERATIONS.md, retention)."""

    tenants: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    """Per tenant, the periods that differ from the defaults (JSON object), e.g.
    `{"so-y-te": {"events_days": 365}}`; a null period keeps that kind for the tenant."""
    interval_s: float = Field(3600.0, gt=0)
    """How often expired records are deleted."""
    batch_size: int = Field(1000, ge=1)
    """Rows deleted per statement on SQLite (each batch is its own short transaction, so
    writers wait at most about a third of a second); incidents, comments and audit entries
    deleted per write on both stores."""

    @model_validator(mode="after")
    def _known_kinds(self) -> RetentionSettings:
        names = {f"{k}_days" for k in RETAINED_KINDS}
        for tenant, periods in self.tenants.items():
            for name, days in periods.items():
                if name not in names:
                    raise ValueError(f"retention.tenants.{tenant}: unknown period {name!r}")
                if days is not None and days <= 0:
                    raise ValueError(f"retention.tenants.{tenant}.{name}: must be > 0")
        return self

    def days(self, kind: str, tenant: str) -> float | None:
        """The period of ``kind`` (one of :data:`RETAINED_KINDS`) for ``tenant``, in days."""
        name = f"{kind}_days"
        override = self.tenants.get(tenant, {})
        if name in override:
            return override[name]
        value: float | None = getattr(self, name)
        return value


class StoreSettings(_Section):
    kind: Literal["sqlite", "opensearch"] = "sqlite"
    """`sqlite` (embedded) or `opensearch`."""
    sqlite: SqliteSettings = SqliteSettings()
    opensearch: OpenSearchSettings = OpenSearchSettings()
    retention: RetentionSettings = RetentionSettings()
    keep_events: Literal["all", "alerting"] = "all"
    """`all`: every accepted event is stored (searchable, hunted again); `alerting`: only
    events that raised an alert (for a site that keeps its raw logs elsewhere)."""
    events_group: str = "soc-events"
    """Kafka consumer group of the event sink (the stage that stores every event)."""
    events_batch_size: int = Field(2000, ge=1)
    """Events the event sink takes from the bus at once."""


TENANT_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
"""A tenant name as the connectors' configuration allows it."""


class KafkaBridgeSettings(_Section):
    """The bridge from the per-tenant ingest topics `<prefix>.ingest.<tenant>` to the bus."""

    enabled: bool | None = None
    """Run the bridge inside `soc run` and `soc api`; null: whenever `bus.kind` is `kafka`
    (`soc bridge` runs it alone)."""
    group: str = Field("soc-ingest-bridge", min_length=1)
    """Kafka consumer group every bridge joins; they share the ingest topics' partitions."""
    tenant_pattern: str = TENANT_NAME
    """Regular expression the tenant part of an ingest topic's name must match whole; topics
    whose tenant does not match are not subscribed to."""
    tenants: list[str] = Field(default_factory=list)
    """Tenants whose ingest topics are read, besides those of the ingest keys (JSON list);
    `*` reads every tenant the pattern matches. Other tenants' topics are left unread."""
    batch_size: int = Field(500, ge=1)
    """Messages the bridge takes from Kafka at once."""
    topic_refresh_s: float = Field(30.0, gt=0)
    """How often the list of topics is refreshed, so a new tenant's topic is read in time."""
    metrics_port: int | None = Field(9465, ge=1, le=65535)
    """Where `soc bridge` serves /metrics; null turns it off."""
    metrics_host: str = "127.0.0.1"
    """Address for that /metrics server."""

    @field_validator("tenant_pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(f"(?P<tenant>{v})")  # as the bridge's topic pattern holds it
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from e
        return v

    @model_validator(mode="after")
    def _tenants_match(self) -> KafkaBridgeSettings:
        bad = [
            t for t in self.tenants if t != ALL_TENANTS and not re.fullmatch(self.tenant_pattern, t)
        ]
        if bad:
            raise ValueError(f"tenants {bad} do not match tenant_pattern")
        return self


class IngestSettings(_Section):
    max_line_bytes: int = Field(1_048_576, ge=64)
    """A longer line is refused (too_large) and dead-lettered with its head, size and hash."""
    max_body_bytes: int = Field(64 * 1_048_576, ge=1024)
    """A larger request body is refused whole with 413."""
    max_errors_reported: int = Field(100, ge=0)
    """Per-line errors listed in a response; every one is counted and dead-lettered."""
    kafka_bridge: KafkaBridgeSettings = KafkaBridgeSettings()


class CorrelationSettings(_Section):
    """How Sigma correlation rules are evaluated (docs/adr/0013-correlations.md)."""

    allowed_lateness_s: float = Field(60.0, ge=0)
    """How far (event time) a match may arrive behind the newest one seen for its tenant and
    still be counted in order; a match later than that is counted in
    soc_correlation_late_total and logged, not correlated."""
    idle_flush_s: float = Field(30.0, gt=0)
    """After this long (wall clock) without a new match for a tenant, its pending matches are
    evaluated without waiting for the allowed lateness, and its windows keep closing."""
    max_groups: int = Field(100_000, ge=1)
    """Live groups (tenant, correlation, group-by values) held; the least recently used
    is evicted beyond it (soc_correlation_evictions_total{kind="group"})."""
    max_matches_per_group: int = Field(1000, ge=1)
    """Matches kept per group (distinct values for value_count); the oldest is evicted
    beyond it. Keep it above the conditions' thresholds."""
    max_pending: int = Field(100_000, ge=1)
    """Matches held back for the allowed lateness; beyond it the oldest are evaluated at once
    (soc_correlation_evictions_total{kind="forced"})."""


class IndicatorMatchSettings(_Section):
    enabled: bool = True
    """Match every event against the live threat-intelligence indicators (soc.intel)."""
    poll_s: float = Field(5.0, gt=0)
    """How often a detector checks the store's indicator generation (one cheap read); on a
    change it rebuilds its matcher off the event loop and swaps it between batches."""
    match_subdomains: bool = True
    """A domain indicator also matches its subdomains (``evil.example`` matches
    ``c2.evil.example``); off: the exact domain only."""
    severity: Literal["informational", "low", "medium", "high", "critical"] | None = None
    """The severity of every "indicator match" alert; null: from the indicator's confidence
    (85 and more high, 50 and more medium, less low; none given: medium)."""


class DetectSettings(_Section):
    rules: list[Path] = Field(default_factory=lambda: [bundled.RULES])
    """Rule files or folders (JSON list), e.g. add a SigmaHQ checkout. The default is the
    project's rules, shipped in the package (`<soc>` is the installed `soc` package's folder);
    a relative path is read from the working directory."""
    pipelines: list[str | Path] = Field(
        default_factory=lambda: list[str | Path](["windows", "placeholders"])
    )
    """pySigma processing pipelines applied to every rule before it compiles (JSON list): a
    bare name is one of the project's, shipped in the package
    (`<soc>/detections/pipelines/<name>.yml`); anything else is a path to a YAML file."""
    group: str = "soc-detect"
    """Kafka consumer group the detectors share."""
    batch_size: int = Field(500, ge=1)
    """Events a detector takes from the bus at once."""
    metrics_port: int | None = Field(9464, ge=1, le=65535)
    """Where `soc detect` serves /metrics (it has no API); null turns it off."""
    metrics_host: str = "127.0.0.1"
    """Address for that /metrics server."""
    cache_dir: Path | None = Path(".soc/rule-cache")
    """Cache of compiled rules: a restart skips pySigma for unchanged files; null turns it off.
    Relative to the working directory, like `data_dir`."""
    rules_poll_s: float = Field(5.0, gt=0)
    """How often a detector checks the store's rule catalog for a change (one cheap read);
    on a change it recompiles off the event loop and swaps its engine between batches."""
    memo_mb: int = Field(64, ge=0)
    """Memory the engine may use to remember what its rules concluded on values seen
    before (docs/adr/0027); when spent, it forgets and starts over; 0 turns it off."""
    correlation: CorrelationSettings = CorrelationSettings()
    """Sigma correlation rules: allowed lateness, idle flush, and the caps on their state."""
    indicators: IndicatorMatchSettings = IndicatorMatchSettings()
    """Threat-intelligence indicators matched in the stream (docs/adr/0018)."""


class DeadlineSettings(_Section):
    acknowledge_s: float | None = Field(None, gt=0)
    """Seconds to acknowledge; null: no deadline."""
    resolve_s: float | None = Field(None, gt=0)
    """Seconds to resolve; null: no deadline."""


class IncidentSettings(_Section):
    group_keys: list[str] = Field(default_factory=lambda: ["rule_id", "host"])
    """What makes alerts one incident: alert attributes (rule_id, rule_title, host, source,
    severity, logsource.product|category|service) or event fields as `event.<name>`."""
    group_window_s: float = Field(3600.0, gt=0)
    """How far apart (event time) alerts of one key may be and still fold into one incident."""
    group: str = "soc-incidents"
    """Kafka consumer group of the grouping stage."""
    batch_size: int = Field(500, ge=1)
    """Alerts the grouping stage takes from the bus at once."""
    deadlines: dict[str, DeadlineSettings] = Field(default_factory=dict)
    """Per severity (critical, high, medium, low, informational): `acknowledge_s`, `resolve_s`.
    A severity left out keeps the default: critical 15 min / 4 h, high 1 h / 24 h,
    medium 4 h / 3 d, low 24 h / 7 d, informational none."""
    check_interval_s: float = Field(30.0, gt=0)
    """How often open incidents are checked against their deadlines."""
    webhooks: dict[str, str] = Field(default_factory=dict)
    """Tenant -> URL that receives a JSON POST for every breached deadline; `*` for the
    tenants not named. Each agency may route its escalations to its own on-call system."""
    webhook_timeout_s: float = Field(10.0, gt=0)
    """Time one webhook call may take; a failed call is retried at the next check."""
    stream_poll_s: float = Field(2.0, gt=0)
    """How often the API looks for new alerts and changed incidents for live views."""


class CorrelateSettings(_Section):
    """The correlation stage (`soc correlate`; `soc run` runs one): how it reads the matches
    topic. How correlations are evaluated is `detect.correlation`."""

    group: str = "soc-correlate"
    """Kafka consumer group the correlation stages share (the matches topic's partitions are
    spread over them)."""
    batch_size: int = Field(500, ge=1)
    """Matches a correlation stage takes from the bus at once."""
    metrics_port: int | None = Field(9466, ge=1, le=65535)
    """Where `soc correlate` serves /metrics (it has no API); null turns it off."""
    metrics_host: str = "127.0.0.1"
    """Address for that /metrics server."""


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    """Address the API listens on (`--host` overrides)."""
    port: int = Field(8000, ge=1, le=65535)
    """Port the API listens on (`--port` overrides)."""
    forwarded_allow_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    """Reverse proxies whose `X-Forwarded-For` (the client's address, for the sign-in
    limits) and `X-Forwarded-Proto` (https: `Strict-Transport-Security` is sent) are
    believed: addresses or networks, `*` for any; empty: none."""
    hsts_max_age_s: int = Field(31_536_000, ge=0)
    """`Strict-Transport-Security` max-age on answers to requests that came over TLS
    (directly or through a trusted proxy); 0 sends none. Never sent over plain http."""


class DrillSettings(_Section):
    """Incident-response drills (soc.drills): scenarios replayed through the live path."""

    run: bool = True
    """Whether this API process replays drills (one or more processes may; each drill is
    taken by one)."""
    scenarios: list[Path] = Field(default_factory=list)
    """Folders of the site's own scenarios (each ``<id>/scenario.yml``), beside the ones
    shipped in the package (``soc/detections/drills``)."""
    poll_s: float = Field(1.0, gt=0)
    """How often a drill runner looks for drills to start and for a pause or an abort."""
    stale_s: float = Field(30.0, gt=0)
    """A running drill whose runner has given no sign of life for this long is taken over
    by another runner (the replay goes on from the event after the last one saved)."""
    chunk: int = Field(500, ge=1, le=10_000)
    """Events sent in one ingest call at most."""


class ExpectedInterval(_Section):
    """How often one source (or every source a pattern matches) is expected to send, and
    how severe its silence is. Each name is a shell-style pattern (``*``, ``?``,
    ``[...]``; ``*`` matches anything); the first entry that matches wins."""

    tenant: str = "*"
    connector: str = "*"
    """The events' ``origin.connector`` (``-`` for events sent without an origin)."""
    source: str = "*"
    stream: str = "*"
    """The events' ``origin.stream`` (``-`` for events sent without an origin)."""
    interval_s: float | None = Field(None, gt=0)
    """At most this long between two events; unset: learned from the source's history
    (only the severity is set by this entry)."""
    severity: Literal["informational", "low", "medium", "high", "critical"] = "medium"
    """Of the silence alert and its incident (a domain controller's silence is high)."""

    def matches(self, tenant: str, connector: str, source: str, stream: str) -> bool:
        pairs = (
            (self.tenant, tenant),
            (self.connector, connector),
            (self.source, source),
            (self.stream, stream),
        )
        return all(fnmatch.fnmatchcase(got, want) for want, got in pairs)


class SourcesSettings(_Section):
    """The SOC's account of its feeds: the loss ledger (soc.sources.ledger) and each
    source's activity (soc.sources.activity), kept by each event sink over what it stores;
    silent and late sources (soc.stages.silence)."""

    reconcile_s: float = Field(60.0, gt=0)
    """How often the ledger is reconciled: gaps counted, gauges set, loss alerts raised."""
    grace_s: float = Field(300.0, ge=0)
    """How long a missing record may be late before it counts as lost."""
    snapshot_s: float = Field(5.0, gt=0)
    """How often, at most, each event sink writes its ledger and sources' activity to the
    store and then commits its offsets (also when idle and at stop): a sink killed anywhere
    re-reads what its saved account has not counted, so nothing is lost from the account
    (events counted and then re-read after a rebalance count as duplicates)."""
    owner: str = Field("", max_length=200)
    """Whose ledger this process keeps in the store: empty for the host name. Event sinks
    on one host need owners of their own."""
    expected: list[ExpectedInterval] = Field(default_factory=list)
    """Per source, as JSON or YAML: tenant, connector, source, stream (shell-style
    patterns, default ``*``), interval_s (unset: learned) and severity (default medium)
    of its silence; the first matching entry wins."""
    learn_percentile: float = Field(99.0, gt=0, le=100)
    """A learned interval is this percentile of the source's gaps between arrivals over
    the past week."""
    learn_min_gaps: int = Field(50, ge=1)
    """Gaps a source needs in its week before its interval is learned; until then it is
    ``default_interval_s``."""
    min_interval_s: float = Field(300.0, gt=0)
    """The least learned interval (a source busy every second is not silent after 2 s)."""
    default_interval_s: float = Field(3600.0, gt=0)
    """The expected interval of a source with too little history to learn one."""
    silent_factor: float = Field(3.0, ge=1)
    """A source quiet for its expected interval is late; for this many intervals, silent:
    a silence alert is raised."""
    incident_after_s: float = Field(1800.0, ge=0)
    """How long a silence alert stands before it opens an incident in the source's tenant
    (through grouping)."""
    watch_s: float = Field(60.0, gt=0)
    """How often the silence watch judges every source (run beside each event sink)."""
    breaks_min_s: float = Field(60.0, gt=0)
    """Silences at least this long are remembered per source (the last 16), to tell how
    long a silence lasted when its alert is resolved."""


Lang = Literal["vi", "en"]
Trigger = Literal[
    "incident_new",
    "handoff",
    "rejected",
    "deadline_80",
    "deadline_breached",
    "source_silent",
    "connector_silent",
    "loss_detected",
    "drill_started",
    "drill_ended",
    "test",
]
"""What a notification is about (soc.notify): a route names the triggers it takes."""
SeverityName = Literal["informational", "low", "medium", "high", "critical"]


class EmailChannelSettings(_Section):
    """Mail over SMTP (aiosmtplib): STARTTLS and login when a user is set."""

    type: Literal["email"] = "email"
    host: str
    """SMTP server."""
    port: int = Field(587, ge=1, le=65535)
    """587 (submission, STARTTLS), 465 with `tls`, 25 between servers."""
    starttls: bool = True
    """Upgrade the connection with STARTTLS before logging in (refused if the server
    cannot); off only for a relay on loopback."""
    tls: bool = False
    """Implicit TLS from the first byte (port 465) instead of STARTTLS."""
    ca_file: Path | None = None
    """CA bundle the server's certificate is checked against; empty: the system's."""
    user: str | None = None
    """Login name; empty: no authentication."""
    password: SecretStr | None = None
    """Login password (never returned by the API)."""
    sender: str = Field(min_length=3)
    """The From address, e.g. `soc@danang.gov.vn`."""
    to: list[str] = Field(min_length=1)
    """Recipients."""
    lang: Lang = "vi"
    """Language of the messages sent here."""
    timeout_s: float = Field(20.0, gt=0)
    """Time one delivery may take."""


class WebhookChannelSettings(_Section):
    """A JSON POST signed with HMAC-SHA256 (soc.notify.signing): headers `X-SOC-Timestamp`
    (Unix seconds) and `X-SOC-Signature: sha256=<hex of HMAC(secret, timestamp + "." +
    body)>`; a receiver recomputes it and refuses a timestamp more than 5 min off."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr
    """The shared HMAC key (never returned by the API)."""
    lang: Lang = "vi"
    timeout_s: float = Field(10.0, gt=0)


class ChatChannelSettings(_Section):
    """Any chat service that takes an HTTP call (a Telegram bot, a Zalo OA...), configured
    as a template: `{{name}}` in `url`, `headers` and `body` is replaced by the message's
    field (text, subject, link, severity, host, rule, tenant, trigger, incident, secret).
    In `body` the value is escaped as `escape` says (json: inside a JSON string)."""

    type: Literal["chat"] = "chat"
    url: str = Field(pattern=r"^https?://")
    """E.g. `https://api.telegram.org/bot{{secret}}/sendMessage`."""
    method: Literal["POST", "PUT", "GET"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = '{"text": "{{text}}"}'
    """E.g. `{"chat_id": "-100123", "text": "{{text}}"}`."""
    escape: Literal["json", "form", "none"] = "json"
    content_type: str = "application/json"
    secret: SecretStr | None = None
    """A token for `{{secret}}` (never returned by the API)."""
    lang: Lang = "vi"
    timeout_s: float = Field(10.0, gt=0)


ChannelSettings = Annotated[
    EmailChannelSettings | WebhookChannelSettings | ChatChannelSettings,
    Field(discriminator="type"),
]


class RouteSettings(_Section):
    """Which notifications go to which channel."""

    tenant: str = ALL_TENANTS
    """The tenant whose events it takes; `*` for all."""
    unit: str | None = None
    """Only events of this response unit (a hand-off to it, its incidents' deadlines):
    the unit's own channel. Empty: every unit's and the SOC's."""
    triggers: list[Trigger] = Field(min_length=1)
    min_severity: SeverityName = "high"
    """Incident events below this severity are not sent here."""
    channel: str
    """A channel's name (`notify.channels`, or one made through the API)."""
    lang: Lang | None = None
    """Overrides the channel's language."""


class NotifySettings(_Section):
    """Notifications (soc.notify): channels, routes, and the outbox's delivery."""

    enabled: bool = True
    """Whether this process runs the notification watch and sender (any number may: each
    notification is enqueued once and sent by one)."""
    base_url: str = "http://127.0.0.1:8000"
    """The web UI's address, for the incident links in messages."""
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    """Name -> channel (email, webhook or chat); more may be added through the API."""
    routes: list[RouteSettings] = Field(default_factory=list)
    """Trigger -> channel rules; more may be added through the API."""
    watch_s: float = Field(2.0, gt=0)
    """How often the audit trail is read for new events to notify."""
    deadline_check_s: float = Field(30.0, gt=0)
    """How often open incidents are checked for deadlines 80% spent."""
    send_s: float = Field(1.0, gt=0)
    """How often the outbox is read for messages due."""
    retry_min_s: float = Field(5.0, gt=0)
    """First wait after a failed send; doubled after each failure."""
    retry_max_s: float = Field(600.0, gt=0)
    """Longest wait between two tries."""
    give_up_s: float = Field(86_400.0, gt=0)
    """A message not delivered this long after it was enqueued is given up (audited)."""
    claim_s: float = Field(120.0, gt=0)
    """A sender's claim on a message; a claim older than this (the sender died) is taken
    over. Longer than any channel's timeout."""
    owner: str = Field("", max_length=200)
    """This sender's name in claims; empty for host name and process id."""
    keep_days: float = Field(30.0, gt=0)
    """Sent and given-up messages are deleted from the outbox this long after their last
    attempt (the audit trail keeps each attempt)."""


class FeedSettings(_Section):
    """One TAXII 2.1 collection the SOC takes indicators from (soc.stages.intel_poll)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
    """The feed's name: its indicators' ``source``, and its record."""
    collection_url: str = Field(pattern=r"^https?://")
    """The collection's URL, e.g. `https://taxii.example.vn/api1/collections/<id>/`."""
    user: str | None = None
    """HTTP Basic user; empty: no authentication."""
    password: SecretStr | None = None
    """HTTP Basic password (e.g. `SOC_INTEL__FEEDS='[{..., "password": "..."}]'`); never
    returned by the API."""
    password_file: Path | None = None
    """A file holding the password (a mounted secret), read at each poll; instead of
    `password`."""
    interval_s: float = Field(3600.0, gt=0)
    """How often the collection is polled (a failed poll is tried again at the next)."""
    tlp: Tlp = "amber"
    """TLP of the feed's indicators that carry no TLP marking."""
    confidence: int | None = Field(None, ge=0, le=100)
    """Confidence of the feed's indicators that carry none."""
    tenant: str = ALL_TENANTS
    """The tenant whose events the feed's indicators apply to; `*`: every tenant."""
    page_size: int = Field(1000, ge=1, le=10_000)
    """Objects asked for per request (the server may send fewer)."""
    verify: bool = True
    """Verify the server's TLS certificate."""
    timeout_s: float = Field(60.0, gt=0)
    """Longest wait for one answer of the server."""

    @model_validator(mode="after")
    def _one_password(self) -> FeedSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError(f"feed {self.name!r}: set password or password_file, not both")
        return self

    def secret(self) -> str | None:
        """The password, from the settings or its file (raises ConfigError if unreadable)."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"feed {self.name!r}: cannot read password_file: {e}") from e
        return self.password.get_secret_value() if self.password is not None else None


class IntelSettings(_Section):
    """Threat intelligence taken in (soc.intel): TAXII 2.1 feeds polled."""

    poll: bool = True
    """Whether this process polls the feeds (`soc run` and `soc api`; one process polling
    is enough, more do no harm: the indicators and the feed records are written by id)."""
    feeds: list[FeedSettings] = Field(default_factory=list)
    """TAXII 2.1 collections polled, as JSON or YAML: name, collection_url, user,
    password or password_file, interval_s, tlp, confidence, tenant."""

    @model_validator(mode="after")
    def _unique_names(self) -> IntelSettings:
        names = [f.name for f in self.feeds]
        if len(names) != len(set(names)):
            raise ValueError("intel.feeds: feed names must be unique")
        return self


SharingWhen = Literal["handoff", "close", "approval", "never"]


class SharingTarget(_Section):
    """A TAXII 2.1 collection the SOC pushes shared incidents to."""

    display_name: str = Field("the national platform", max_length=200)
    """How the English UI names it: "Shared with <display_name> at ..."."""
    display_name_vi: str = Field("Nền tảng quốc gia", max_length=200)
    """How the Vietnamese UI names it: "Đã chia sẻ với <display_name_vi> lúc ..."."""
    collection_url: str = Field(pattern=r"^https?://")
    """The collection's URL (`.../api-root/collections/<id>/`)."""
    user: str | None = None
    """HTTP Basic user; empty: no authentication."""
    password: SecretStr | None = None
    """HTTP Basic password (set it with `SOC_SHARING__TARGETS__<name>__PASSWORD` or in the
    config file readable by the service only; never returned by the API)."""
    verify_tls: bool = True
    """Check the server's certificate."""
    timeout_s: float = Field(30.0, gt=0)
    """Time one TAXII request may take."""


LOCAL_TARGET = "taxii-server"
"""The share "target" that is the SOC's own TAXII server: its tenants' collections."""


class SharingPolicy(_Section):
    """What a tenant shares, when, and with whom."""

    when: SharingWhen = "never"
    """`handoff`: when an incident is handed off; `close`: when it is closed; `approval`:
    when a lead approves (`POST /api/v1/incidents/{id}/share`); `never`."""
    redact: bool = True
    """Leave out personal data: account names and internal addresses (RFC 1918 and other
    private ranges, and `internal_networks`), with their indicators, and mask them in
    titles and descriptions."""
    internal_networks: list[str] = Field(default_factory=list)
    """The tenant's own networks (CIDR) besides the private ranges, redacted too."""

    @field_validator("internal_networks")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
        return value

    default_tlp: Tlp = "amber"
    """TLP of an incident no analyst has set one on."""
    targets: list[str] = Field(default_factory=list)
    """Names of `sharing.targets` this tenant shares with."""
    publish: bool = True
    """Also publish what is shared in the tenant's collection of the SOC's own TAXII 2.1
    server (`/taxii2/`), for the national platform or an OpenCTI to poll (shown on the
    incident as the target `taxii-server`)."""

    def all_targets(self) -> list[str]:
        """The push targets, and `taxii-server` when the policy publishes."""
        return [*self.targets, *([LOCAL_TARGET] if self.publish else [])]


class SharingSettings(_Section):
    """Sharing incidents out as STIX 2.1 over TAXII 2.1 (soc.sharing)."""

    enabled: bool = True
    """Whether this process runs the sharing watch and sender (any number may)."""
    targets: dict[str, SharingTarget] = Field(default_factory=dict)
    """Name (letters, digits, `_.-`; in job ids and the audit trail) -> a TAXII 2.1
    collection shares go to."""
    tenants: dict[str, SharingPolicy] = Field(default_factory=dict)
    """Tenant -> its policy; `*` for the tenants not named. A tenant with none: `never`."""
    watch_s: float = Field(2.0, gt=0)
    """How often the audit trail and shared incidents are read for shares to make."""
    send_s: float = Field(1.0, gt=0)
    """How often due shares are sent."""
    retry_min_s: float = Field(5.0, gt=0)
    """First wait after a failed share; doubled after each failure."""
    retry_max_s: float = Field(600.0, gt=0)
    """Longest wait between two tries (a share is never given up: it waits for the
    server)."""
    claim_s: float = Field(300.0, gt=0)
    """A sender's claim on a share; taken over after this (the sender died)."""
    status_wait_s: float = Field(60.0, gt=0)
    """How long the TAXII status resource is polled for a final answer in one attempt."""
    update_check_s: float = Field(30.0, gt=0)
    """How often the incidents shared in the last `follow_days` are checked for changes."""
    follow_days: float = Field(30.0, gt=0)
    """A shared incident changed within this many days of its last share is shared again."""

    def policy(self, tenant: str) -> SharingPolicy:
        return self.tenants.get(tenant) or self.tenants.get(ALL_TENANTS) or SharingPolicy()

    def target(self, name: str) -> SharingTarget | None:
        return self.targets.get(name)

    @model_validator(mode="after")
    def _targets_known(self) -> SharingSettings:
        names = set(self.targets)
        for name in names:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
                raise ValueError(f"sharing.targets: invalid name {name!r}")
            if name == LOCAL_TARGET:
                raise ValueError(f"sharing.targets: {LOCAL_TARGET!r} is the SOC's own server")
        for tenant, policy in self.tenants.items():
            unknown = set(policy.targets) - names
            if unknown:
                raise ValueError(f"sharing.tenants.{tenant}: unknown targets {sorted(unknown)}")
        return self


class WorkerSettings(_Section):
    """The roll of worker processes (`soc detect`, `soc correlate`): each beats into the
    store, and every API's /readyz names a worker that has gone silent (soc.stages.roll_call)."""

    beat_s: float = Field(5.0, gt=0)
    """Seconds between a worker's beats."""
    silent_after_s: float = Field(20.0, gt=0)
    """A worker not heard from for this long is named in /readyz as silent (status
    `degraded`; the API itself still answers 200) and counted as silent in `soc_workers`."""
    forget_after_s: float = Field(900.0, gt=0)
    """A silent worker is dropped from the roll after this long (a worker restarted on the
    same host drops its dead predecessors at once)."""

    @model_validator(mode="after")
    def _ordered(self) -> WorkerSettings:
        if not self.beat_s < self.silent_after_s < self.forget_after_s:
            raise ValueError("workers: beat_s < silent_after_s < forget_after_s")
        return self


class SampleSettings(_Section):
    replay_on_start: bool = False
    """Replay the bundled sample of recorded events at start (`make run` turns it on)."""
    tenant: str = "demo"
    """Tenant of the sample, and of the development keys."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SOC_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    env: Literal["development", "production"] = "production"
    """`development` allows default secrets and makes local keys; never in production."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Least level of the JSON log lines on stderr."""
    data_dir: Path = Path(".soc")
    """Local state: development keys. Relative to the working directory."""
    auth: AuthSettings = AuthSettings()
    bus: BusSettings = BusSettings()
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    detect: DetectSettings = DetectSettings()
    incidents: IncidentSettings = IncidentSettings()
    correlate: CorrelateSettings = CorrelateSettings()
    api: ApiSettings = ApiSettings()
    sample: SampleSettings = SampleSettings()
    drills: DrillSettings = DrillSettings()
    sources: SourcesSettings = SourcesSettings()
    notify: NotifySettings = NotifySettings()
    intel: IntelSettings = IntelSettings()
    sharing: SharingSettings = SharingSettings()
    workers: WorkerSettings = WorkerSettings()

    @model_validator(mode="after")
    def _bridge_needs_kafka(self) -> Settings:
        if self.ingest.kafka_bridge.enabled and self.bus.kind != "kafka":
            raise ValueError("ingest.kafka_bridge.enabled needs bus.kind=kafka")
        return self

    @property
    def kafka_bridge_on(self) -> bool:
        """Whether `soc run` and `soc api` run the ingest bridge."""
        enabled = self.ingest.kafka_bridge.enabled
        return self.bus.kind == "kafka" and enabled is not False

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.env != "development":
            if self.auth.secret_key.get_secret_value().lower() in UNSAFE_SECRETS:
                raise ValueError(
                    "auth.secret_key is a default value; set SOC_AUTH__SECRET_KEY "
                    "(or SOC_ENV=development for a local trial)"
                )
            if not self.auth.api_keys:
                raise ValueError(
                    "no auth.api_keys configured; create one with `soc keys new` "
                    "(or SOC_ENV=development for a local trial)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by ``SOC_CONFIG``, below the environment."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("SOC_CONFIG")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping at its top")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once, translating validation errors into ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as e:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(settings)'}: {err['msg']}"
            for err in e.errors()
        ]
        raise ConfigError("invalid settings:\n" + "\n".join(lines)) from e
