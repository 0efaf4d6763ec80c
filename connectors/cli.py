"""`soc-connector`: the agent on data-center hosts, and its tools.

soc-connector run --config /etc/soc-connector/connector.yml   # the agent
soc-connector check --config connector.yml                     # validate, print, exit
soc-connector replay --config drill.yml --speed 10 case-42/    # a drill
soc-connector send --token-file t events.ndjson                # one-off NDJSON upload
"""

from __future__ import annotations

import gzip
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click

from connectors.config import AgentConfig

RETRY_MAX_S = 30.0


def read_batches(path: Path, batch_lines: int) -> Iterator[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        batch: list[bytes] = []
        for line in f:
            batch.append(line if line.endswith(b"\n") else line + b"\n")
            if len(batch) >= batch_lines:
                yield b"".join(batch)
                batch = []
        if batch:
            yield b"".join(batch)


def post(url: str, token: str, body: bytes, *, attempts: int) -> bytes:
    """POST with back-off on connection errors and 5xx/429; 4xx other than 429 is final."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        req = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as e:
            if e.code != 429 and e.code < 500:
                raise click.ClickException(f"{url}: HTTP {e.code}: {e.read()[:500]!r}") from e
            why = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            why = str(e)
        if attempt == attempts:
            raise click.ClickException(f"{url}: gave up after {attempts} attempts: {why}")
        click.echo(f"soc-connector: {why}; retrying in {delay:.1f}s", err=True)
        time.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)
    raise AssertionError("unreachable")


@click.group()
def main() -> None:
    """Ship logs to the SOC."""


@main.command()
@click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="The SOC API's base URL"
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the tenant's ingest token (else $SOC_INGEST_TOKEN)",
)
@click.option("--source", default="file", show_default=True, help="Source name for the events")
@click.option("--batch-lines", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--attempts", default=20, show_default=True, type=click.IntRange(1))
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def send(
    url: str,
    token_file: Path | None,
    source: str,
    batch_lines: int,
    attempts: int,
    files: tuple[Path, ...],
) -> None:
    """Post NDJSON FILES (.ndjson, .jsonl, or .gz of those) to the ingest API."""
    token = token_file.read_text().strip() if token_file else os.environ.get("SOC_INGEST_TOKEN")
    if not token:
        raise click.UsageError("no token: pass --token-file or set SOC_INGEST_TOKEN")
    import json

    endpoint = f"{url.rstrip('/')}/api/v1/ingest?source={urllib.parse.quote(source)}"
    accepted = rejected = 0
    for path in files:
        for body in read_batches(path, batch_lines):
            result = json.loads(post(endpoint, token, body, attempts=attempts))
            accepted += result["accepted"]
            rejected += result["rejected"]
            for err in result["errors"]:
                click.echo(
                    f"{path}: batch line {err['line']}: {err['reason']}: {err['detail']}", err=True
                )
    click.echo(json.dumps({"accepted": accepted, "rejected": rejected}))
    sys.exit(1 if rejected else 0)


_CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SOC_CONNECTOR_CONFIG",
    help="The agent's YAML configuration (or $SOC_CONNECTOR_CONFIG)",
)


def _load(config_path: Path) -> AgentConfig:
    from connectors.config import load_config
    from connectors.errors import ConfigError

    try:
        return load_config(config_path)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e


@main.command()
@_CONFIG
def check(config_path: Path) -> None:
    """Validate the configuration; print it, resolved, as JSON."""
    cfg = _load(config_path)
    click.echo(cfg.model_dump_json(indent=2))


@main.command()
@_CONFIG
def run(config_path: Path) -> None:
    """Run the agent until SIGTERM or SIGINT."""
    import asyncio
    import signal

    from connectors.agent import Agent
    from soc.log import setup_logging

    cfg = _load(config_path)
    setup_logging()

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Agent(cfg).run(stop)

    asyncio.run(main_loop())


@main.command()
@_CONFIG
@click.option(
    "--speed", type=click.FloatRange(min=0, min_open=True), help="N times the original pace"
)
@click.option("--fast", is_flag=True, help="As fast as the destination takes it (the default)")
@click.option(
    "--drill", "drill_id", help="Drill id stamped on every event (default: drill-<UTC time>)"
)
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    help="Parser for line files; .evtx/.json/.ndjson/.zip are read as records",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def replay(
    config_path: Path,
    speed: float | None,
    fast: bool,
    drill_id: str | None,
    fmt: str,
    paths: tuple[Path, ...],
) -> None:
    """Replay recorded logs (PATHS: files or folders) through the agent's path, as a drill."""
    import asyncio
    import json
    from datetime import UTC, datetime

    from connectors.parse.dispatch import FORMATS
    from connectors.replay import replay as run_replay
    from soc.log import setup_logging

    if fast and speed:
        raise click.UsageError("--fast and --speed exclude each other")
    if fmt not in FORMATS:
        raise click.UsageError(f"unknown format {fmt!r}; one of {', '.join(sorted(FORMATS))}")
    cfg = _load(config_path)
    setup_logging()
    drill = drill_id or "drill-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    summary = asyncio.run(
        run_replay(
            cfg,
            list(paths),
            drill=drill,
            speed=None if fast else speed,
            fmt=fmt,
            progress=True,
        )
    )
    click.echo(json.dumps(summary), err=True)


if __name__ == "__main__":
    main()
