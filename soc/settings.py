"""The one settings object, nested by stage.

Settings come, in order of precedence, from keyword arguments, environment
variables (prefix ``SOC_``, nesting with ``__``, e.g. ``SOC_BUS__KIND=kafka``),
and an optional YAML file named by ``SOC_CONFIG``. Build it once with
:func:`load_settings` and pass it down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from soc.errors import ConfigError

Role = Literal["ingest", "viewer", "analyst", "lead", "responder", "admin"]
ALL_TENANTS = "*"
UNSAFE_SECRETS = frozenset({"", "changethis", "changeme", "secret", "development"})


class ApiKey(BaseModel):
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


class AuthSettings(BaseModel):
    api_keys: list[ApiKey] = Field(default_factory=list)
    secret_key: SecretStr = SecretStr("changethis")
    """Signs session tokens. Must be changed outside development."""


class MemoryBusSettings(BaseModel):
    capacity: int = Field(10_000, ge=1)
    """Messages a topic holds before publishers wait (backpressure)."""


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "soc"
    partitions: int = Field(6, ge=1)
    replication_factor: int = Field(1, ge=1)
    compression: Literal["gzip", "none"] = "gzip"
    linger_ms: int = Field(5, ge=0)
    max_batch: int = Field(500, ge=1)
    """Records a consumer takes per poll."""
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    connect_timeout_s: float = Field(60.0, gt=0)


class BusSettings(BaseModel):
    kind: Literal["memory", "kafka"] = "memory"
    memory: MemoryBusSettings = MemoryBusSettings()
    kafka: KafkaSettings = KafkaSettings()


class SqliteSettings(BaseModel):
    path: Path = Path(".soc/soc.db")


class OpenSearchSettings(BaseModel):
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    index_prefix: str = "soc"
    username: str | None = None
    password: SecretStr | None = None
    verify_certs: bool = True
    ca_certs: Path | None = None
    shards: int = Field(1, ge=1)
    replicas: int = Field(0, ge=0)
    bulk_retries: int = Field(5, ge=0)
    connect_timeout_s: float = Field(120.0, gt=0)
    refresh_on_write: bool = False
    """Make writes searchable at once (tests, demos); costs throughput."""


class StoreSettings(BaseModel):
    kind: Literal["sqlite", "opensearch"] = "sqlite"
    sqlite: SqliteSettings = SqliteSettings()
    opensearch: OpenSearchSettings = OpenSearchSettings()


class IngestSettings(BaseModel):
    max_line_bytes: int = Field(1_048_576, ge=64)
    max_body_bytes: int = Field(64 * 1_048_576, ge=1024)
    max_errors_reported: int = Field(100, ge=0)
    """Per-line errors listed in a response; all are counted and dead-lettered."""


class DetectSettings(BaseModel):
    rules: list[Path] = Field(default_factory=lambda: [Path("detections/rules")])
    group: str = "soc-detect"
    batch_size: int = Field(500, ge=1)
    store_all_events: bool = False
    """Also archive events that raised no alert (needed for full event search)."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    page_max: int = Field(500, ge=1)


class SampleSettings(BaseModel):
    replay_on_start: bool = False
    tenant: str = "demo"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SOC_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    env: Literal["development", "production"] = "production"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path(".soc")
    auth: AuthSettings = AuthSettings()
    bus: BusSettings = BusSettings()
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    detect: DetectSettings = DetectSettings()
    api: ApiSettings = ApiSettings()
    sample: SampleSettings = SampleSettings()

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
        lines = [f"  {'.'.join(str(p) for p in err['loc']) or '(settings)'}: {err['msg']}"
                 for err in e.errors()]
        raise ConfigError("invalid settings:\n" + "\n".join(lines)) from e
