"""The `soc` command: run the pipeline, or a part of it, and small admin tasks."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import click
import yaml

try:
    import fastapi  # noqa: F401  (only to tell a connector-only install apart)
except ImportError:  # pragma: no cover - depends on the install
    sys.exit("soc: the SOC service needs its server dependencies: pip install 'soc[server]'")

from soc.errors import ConfigError
from soc.log import get_logger, setup_logging
from soc.settings import ApiKey, Settings, load_settings

log = get_logger("soc")


def _settings(**overrides: object) -> Settings:
    from soc.app import with_dev_keys

    try:
        settings = load_settings(**overrides)
    except ConfigError as e:
        click.echo(f"soc: {e}", err=True)
        sys.exit(2)
    setup_logging(settings.log_level)
    return with_dev_keys(settings)


def _serve(settings: Settings, *, workers: bool, host: str | None, port: int | None) -> None:
    import uvicorn

    from soc.api.app import create_app
    from soc.app import Service

    app = create_app(Service(settings, workers=workers))
    uvicorn.run(
        app,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_config=None,
        access_log=False,
        forwarded_allow_ips=settings.api.forwarded_allow_ips,
    )


@click.group()
@click.version_option(package_name="soc")
def main() -> None:
    """Events in, Sigma detections, alerts out. Settings: SOC_* variables or SOC_CONFIG=file."""


@main.command()
@click.option("--host", help="Address to listen on (default: api.host, 127.0.0.1)")
@click.option("--port", type=int, help="Port to listen on (default: api.port, 8000)")
def run(host: str | None, port: int | None) -> None:
    """The whole pipeline in one process: ingest API, detector, correlation stage, dead-letter
    sink (and on Kafka the ingest bridge)."""
    settings = _settings()
    _dev_accounts(settings)
    _serve(settings, workers=True, host=host, port=port)


@main.command()
@click.option("--host")
@click.option("--port", type=int)
def api(host: str | None, port: int | None) -> None:
    """The HTTP API (ingest and alerts) and the Kafka ingest bridge; run `soc detect` beside it."""
    settings = _settings()
    if settings.bus.kind == "memory":
        click.echo(
            "soc api: the memory bus lives in one process; use `soc run`, or SOC_BUS__KIND=kafka",
            err=True,
        )
        sys.exit(2)
    _serve(settings, workers=False, host=host, port=port)


@main.command()
def detect() -> None:
    """A detection worker; several share the consumer group (Kafka only). Run `soc correlate`
    beside it for the correlation rules."""
    from soc.app import Service

    settings = _settings()
    d = settings.detect
    _kafka_worker("soc detect", settings, d.metrics_port, d.metrics_host, one_process=True)

    async def serve(stop: asyncio.Event) -> None:
        service = Service(
            settings,
            workers=True,
            bridge=False,
            correlate=False,
            drills=False,
            intel=False,
            role="detect",
        )
        await service.start()
        try:
            await stop.wait()
        finally:
            await service.stop()

    _until_signal(serve)


@main.command()
def correlate() -> None:
    """A correlation stage: Sigma correlations over the detectors' matches (Kafka only).

    Several share the matches topic's partitions; each restores the state of the partitions
    it is given from the changelog, so one may be killed, added or removed at any time.
    """
    from soc.app import run_correlate

    settings = _settings()
    s = settings.correlate
    _kafka_worker("soc correlate", settings, s.metrics_port, s.metrics_host, one_process=True)
    _until_signal(lambda stop: run_correlate(settings, stop))


@main.command()
def bridge() -> None:
    """The Kafka ingest bridge alone: `<prefix>.ingest.<tenant>` topics to the bus (Kafka only).

    `soc run` and `soc api` run one too; start more to share the ingest topics' partitions.
    """
    from soc.app import run_bridge

    settings = _settings()
    s = settings.ingest.kafka_bridge
    _kafka_worker("soc bridge", settings, s.metrics_port, s.metrics_host, one_process=False)
    _until_signal(lambda stop: run_bridge(settings, stop))


@main.command()
@click.option(
    "--rules",
    "rules",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A rule file or folder (repeat; default: detect.rules, the rules shipped in the package)",
)
@click.option(
    "--pipeline",
    "pipelines",
    multiple=True,
    help="A processing pipeline: one of the package's by name, or a path (repeat; replaces"
    " detect.pipelines)",
)
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    help="Files: the tenant the events are given (default: hunt). --store: a tenant to hunt in"
    " (repeat; default: every tenant)",
)
@click.option(
    "--store",
    "from_store",
    is_flag=True,
    help="Hunt the configured store's events (a retro-hunt): the arguments are rule files,"
    " folders or ids of loaded rules",
)
@click.option("--since", help="--store: events from this time on (ISO 8601; UTC unless stated)")
@click.option("--until", help="--store: events before this time (ISO 8601; default: now)")
@click.option(
    "--raise",
    "raise_alerts",
    is_flag=True,
    help="--store: store and publish the alerts not stored yet (default: only print matches)",
)
@click.option(
    "--jobs",
    "jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Files: processes that match the records (default: every core it may use); the output is"
    " the same for any number",
)
@click.argument("paths", nargs=-1, required=True)
def hunt(
    rules: tuple[Path, ...],
    pipelines: tuple[str, ...],
    tenants: tuple[str, ...],
    from_store: bool,
    since: str | None,
    until: str | None,
    raise_alerts: bool,
    jobs: int | None,
    paths: tuple[str, ...],
) -> None:
    """Run the detection engine over files: .evtx, .json, .jsonl, .ndjson, Zeek's .log (also
    .gz), .zip, folders.

    Prints one JSON object per match on stdout, a summary on stderr; exits 1 when a
    record could not be read or a rule failed to compile, else 0. --jobs N matches with N
    processes (files, and blocks of a big file's lines, across them); the output is the
    same, in the same order, as with one.

    With --store, runs RULE-FILE-OR-ID... over the stored events of [--since, --until)
    instead (a retro-hunt, recorded and audited like one started from the UI); exits 0
    when it ran to its end, 1 when it failed, 2 when refused.
    """
    overrides: dict[str, object] = {}
    if rules:
        overrides["rules"] = list(rules)
    if pipelines:
        overrides["pipelines"] = list(pipelines)
    if from_store:
        if jobs is not None:
            click.echo("soc hunt: --jobs goes with files, not --store", err=True)
            sys.exit(2)
        _store_hunt(overrides, paths, since, until, tenants, raise_alerts)
        return
    if since or until or raise_alerts:
        click.echo("soc hunt: --since, --until and --raise go with --store", err=True)
        sys.exit(2)
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        click.echo(f"soc hunt: no such file or directory: {missing[0]}", err=True)
        sys.exit(2)
    from soc.hunt.files import hunt_command

    # A hunt serves nothing and holds no keys: the production guards on auth do not apply.
    try:
        settings = load_settings(env="development")
    except ConfigError as e:
        click.echo(f"soc hunt: {e}", err=True)
        sys.exit(2)
    setup_logging(settings.log_level)
    detect = settings.detect.model_copy(update=overrides)
    tenant = tenants[-1] if tenants else "hunt"
    files = [Path(p) for p in paths]
    workers = jobs if jobs is not None else _cores()
    settings = settings.model_copy(update={"detect": detect})
    sys.exit(hunt_command(settings, files, tenant, jobs=workers))


def _cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or taskset
    limits it), else the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _store_hunt(
    overrides: dict[str, object],
    targets: tuple[str, ...],
    since: str | None,
    until: str | None,
    tenants: tuple[str, ...],
    raise_alerts: bool,
) -> None:
    """`soc hunt --store`: the configured store and bus, the runner of soc.hunt.records."""
    from soc.hunt.command import store_hunt_command

    if not since:
        click.echo("soc hunt: --store needs --since", err=True)
        sys.exit(2)
    try:
        start, end = _utc(since), _utc(until) if until else datetime.now(UTC)
    except ValueError as e:
        click.echo(f"soc hunt: {e}", err=True)
        sys.exit(2)
    settings = _settings()
    setup_logging(settings.log_level)
    detect = settings.detect.model_copy(update=overrides)
    settings = settings.model_copy(update={"detect": detect})
    status = store_hunt_command(
        settings, targets, since=start, until=end, tenants=tenants, raise_alerts=raise_alerts
    )
    sys.exit(status)


def _utc(text: str) -> datetime:
    """An ISO 8601 time; UTC when it states no offset."""
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@main.group()
def keys() -> None:
    """API keys: only their SHA-256 goes into the settings."""


@keys.command("new")
@click.option("--name", required=True, help="Who or what holds the key, e.g. connector-ioc-dc1")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["ingest", "viewer", "analyst", "lead", "responder", "admin", "taxii"]),
    help="taxii: reads the TAXII 2.1 collections of its tenants (/taxii2/), nothing else",
)
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    required=True,
    help="A tenant the key may act for (repeat; '*' for all, not for ingest)",
)
def keys_new(name: str, role: str, tenants: tuple[str, ...]) -> None:
    """Make a key: prints the token once, and the settings entry to add."""
    if role == "taxii" and "*" in tenants:
        raise click.UsageError("a taxii key names its tenants (one collection each), not '*'")
    token = secrets.token_urlsafe(32)
    entry = ApiKey.model_validate(
        {"name": name, "sha256": ApiKey.hash(token), "role": role, "tenants": list(tenants)}
    )
    click.echo(f"token (give it to the holder; it is not stored): {token}", err=True)
    click.echo(yaml.safe_dump({"auth": {"api_keys": [entry.model_dump()]}}, sort_keys=False))


@main.group()
def evidence() -> None:
    """Evidence bundles: a zip of files with a manifest of their SHA-256."""


@evidence.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def evidence_verify(bundle: Path) -> None:
    """Check every file of BUNDLE against its manifest; exits 0 when all match, else 1."""
    from soc.evidence.bundle import verify_bundle

    report = verify_bundle(bundle)
    for problem in report.problems:
        click.echo(f"{bundle}: {problem}")
    if not report.ok:
        click.echo(f"{bundle}: FAILED ({len(report.problems)} problems)")
        sys.exit(1)
    click.echo(f"{bundle}: ok, {report.files} files match the manifest")


@main.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An exported NDJSON chain to check instead of the configured store's",
)
@click.option(
    "--excerpt",
    is_flag=True,
    help="The file is an excerpt (an evidence bundle's audit.ndjson), not a chain from its start",
)
def audit_verify(path: Path | None, excerpt: bool) -> None:
    """Verify the audit chain: prints ok, entries and head (and, once retention cut the
    chain's start, the entry it verified from), or the first break; exits 0 or 1."""
    from soc.audit import ChainReport
    from soc.evidence.auditlog import verify_audit_file

    if excerpt and path is None:
        raise click.UsageError("--excerpt needs --file")
    if path is not None:
        report = verify_audit_file(path.read_bytes(), excerpt=excerpt)
    else:
        from soc.incidents.cases import Cases
        from soc.store import build_store

        settings = _settings()

        async def read_chain() -> ChainReport:
            store = build_store(settings.store)
            await store.start()
            try:
                return await Cases(store).audit.verify()
            finally:
                await store.stop()

        report = asyncio.run(read_chain())
    click.echo(report.summary)
    if report.ok:
        return
    click.echo(f"entries read: {report.entries}, last good head {report.head}")
    sys.exit(1)


def _dev_accounts(settings: Settings) -> None:
    """In development, an admin and demo accounts to sign in with (`soc users`)."""
    from soc.cli_users import ensure_dev_accounts

    path = asyncio.run(ensure_dev_accounts(settings))
    if path is not None:
        click.echo(f"soc: development accounts created; their passwords are in {path}", err=True)


def _register_users() -> None:
    from soc.cli_users import users_group

    main.add_command(users_group(_settings))


def _register_rules() -> None:
    from soc.cli_rules import rules_group

    main.add_command(rules_group(_settings))


def _register_drills() -> None:
    from soc.cli_drills import drills_group

    main.add_command(drills_group(_settings))


def _register_sources() -> None:
    from soc.cli_sources import sources_command

    main.add_command(sources_command(_settings))


def _register_intel() -> None:
    from soc.cli_intel import intel_group

    main.add_command(intel_group(_settings))


def _register_backup() -> None:
    from soc.cli_backup import backup_command, restore_command

    main.add_command(backup_command(_settings))
    main.add_command(restore_command(_settings))


_register_users()
_register_rules()
_register_drills()
_register_sources()
_register_intel()
_register_backup()


def _kafka_worker(
    command: str, settings: Settings, port: int | None, host: str, *, one_process: bool
) -> None:
    """Exit 2 unless the bus is Kafka; serve /metrics on ``port`` (None: none)."""
    if settings.bus.kind == "memory":
        hint = "; for one process use `soc run`" if one_process else ""
        click.echo(f"{command}: needs SOC_BUS__KIND=kafka{hint}", err=True)
        sys.exit(2)
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host)


def _until_signal(serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``serve(stop)`` until SIGINT or SIGTERM sets ``stop`` (or it returns)."""

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    asyncio.run(main_loop())


if __name__ == "__main__":
    main()
