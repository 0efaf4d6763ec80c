"""The production path as real processes: `soc api`, N `soc detect`, `soc correlate`, and
`soc-connector` agents tailing files, two over HTTP and two over Kafka.

Everything has names of its own (topic prefix, index prefix, consumer groups
``<prefix>.<group>``), so runs never share state and the topics and indices are
deleted at the end. The grouping stage (alerts to incidents) and the event sink
run inside each `soc detect`, as in production; the ingest bridge
(``<prefix>.ingest.<tenant>`` to the bus) inside `soc api`.

Connectors (one file each, written by :mod:`.feed`):

    win-http    OTRF LSASS campaign 01, windows-json, HTTP to `soc api`
    win-kafka   OTRF LSASS campaign 06, windows-json, Kafka (the ingest topic)
    auth-http   Linux auth.log, auth, HTTP
    web-kafka   Apache access log, apache, Kafka
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.pipeline import delete_indices, delete_topics
from soc.api.server import free_port
from soc.detections import RULES
from soc.settings import ApiKey

from .pools import Pool, access_pool, add_probes, auth_pool, windows_pool

ROOT = Path(__file__).resolve().parents[2]
TENANT = "soak"
INGEST_TOKEN = "soak-ingest-token-not-default"
READ_TOKEN = "soak-analyst-token-not-default"
PARTITIONS = 4


@dataclass(frozen=True)
class StackConfig:
    kafka: str = "127.0.0.1:19092"
    opensearch: str = "http://127.0.0.1:19200"
    detectors: int = 2
    windows_lines: int = 20_000
    """Lines taken from each Windows campaign (the pool replayed round robin)."""
    hosts: int = 8
    """Windows host names the recording's one host is spread over."""
    scan_interval_s: float = 0.2
    """How often the connectors look at their files for new lines."""
    workdir: Path | None = None
    """Where configs, files, spools and logs go (default: a new temporary folder)."""
    keep: bool = False
    """Keep the topics and indices after the run (default: deleted)."""


@dataclass
class Connector:
    name: str
    path: Path
    """The file it tails (the driver appends lines to it)."""
    pool: Pool
    share: float
    """Its part of the rate."""
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Stack:
    config: StackConfig
    prefix: str
    workdir: Path
    api_url: str
    procs: dict[str, subprocess.Popen[bytes]]
    """`soc` processes by name: api, detect1.., correlate."""
    metrics_ports: dict[str, int]
    """Each `soc` worker's /metrics port (api: its own /metrics on api_url)."""
    connectors: list[Connector]
    log: Path
    jvms: dict[str, int] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        out = {n: p.pid for n, p in self.procs.items() if p.poll() is None}
        out |= {c.name: c.proc.pid for c in self.connectors if c.proc and c.proc.poll() is None}
        return out | self.jvms

    def exited(self) -> list[str]:
        """Names of the processes that stopped (with their exit status)."""
        gone = [f"{n} ({p.returncode})" for n, p in self.procs.items() if p.poll() is not None]
        return gone + [
            f"{c.name} ({c.proc.returncode})"
            for c in self.connectors
            if c.proc is not None and c.proc.poll() is not None
        ]

    def read_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {READ_TOKEN}"}

    def groups(self) -> list[str]:
        """The run's consumer groups (``<prefix>.<group>``)."""
        return [
            f"{self.prefix}.{g}"
            for g in ("bridge", "detect", "events", "incidents", "correlate", "deadletters")
        ]


def soc_settings(
    cfg: StackConfig, prefix: str, workdir: Path, port: int | None, name: str
) -> dict[str, Any]:
    """One `soc` process's settings (a SOC_CONFIG file); ``name`` owns its event sink's
    share of the loss ledger (each sink on one host needs its own)."""
    return {
        "env": "production",
        "log_level": "WARNING",
        "data_dir": str(workdir / "data"),
        "auth": {
            "secret_key": "soak-secret-not-default",
            "ingest_rate": {"enabled": False},  # the load is the point; the limit has its tests
            "api_keys": [
                {
                    "name": "soak-ingest",
                    "sha256": ApiKey.hash(INGEST_TOKEN),
                    "role": "ingest",
                    "tenants": [TENANT],
                },
                {
                    "name": "soak-reader",
                    "sha256": ApiKey.hash(READ_TOKEN),
                    "role": "analyst",
                    "tenants": [TENANT],
                },
            ],
        },
        "bus": {
            "kind": "kafka",
            "kafka": {
                "bootstrap_servers": cfg.kafka,
                "topic_prefix": prefix,
                "partitions": PARTITIONS,
            },
        },
        "ingest": {"kafka_bridge": {"group": "bridge", "metrics_port": None}},
        "store": {
            "kind": "opensearch",
            "opensearch": {"hosts": [cfg.opensearch], "index_prefix": prefix},
            "keep_events": "all",
            "retention": {"events_days": None},
            "events_group": "events",
        },
        "detect": {
            "rules": [str(RULES)],
            "group": "detect",
            "metrics_port": port,
            "cache_dir": str(workdir / "rule-cache"),
        },
        "correlate": {"group": "correlate", "metrics_port": port},
        "incidents": {"group": "incidents"},
        "sources": {"owner": f"{prefix}-{name}"},
    }


def connector_config(
    c: Connector, *, cfg: StackConfig, api_url: str, prefix: str, workdir: Path
) -> Path:
    token = workdir / "ingest.token"
    token.write_text(INGEST_TOKEN + "\n")
    token.chmod(0o600)
    fmt = {"windows": "windows-json", "auth": "auth", "access": "apache"}[c.pool.kind]
    if c.name.endswith("-http"):
        output: dict[str, Any] = {"type": "http", "url": api_url, "token_file": str(token)}
    else:
        output = {
            "type": "kafka",
            "bootstrap_servers": [cfg.kafka],
            "topic": f"{prefix}.ingest.{TENANT}",
        }
    config = {
        "connector": {
            "id": c.name,
            "tenant": TENANT,
            "data_dir": str(workdir / "spool" / c.name),
            "host": f"{c.name}.soak",
            "timezone": "UTC",
            "heartbeat_s": 10,
        },
        "output": output,
        "delivery": {"retry_max_s": 2},
        "metrics": {"listen": f"127.0.0.1:{c.metrics_port}"},
        "sources": [
            {
                "name": c.pool.kind,
                "type": "file",
                "paths": [str(c.path)],
                "format": fmt,
                "scan_interval_s": cfg.scan_interval_s,
                "max_line_bytes": 1 << 20,
            }
        ],
    }
    path = workdir / f"{c.name}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def metric(port: int, series: str) -> float:
    """The sum of ``series`` (a name, or a name and labels up to ``{``) in a /metrics page;
    -1 when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return -1
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(series) and not line.startswith("#")
    )


async def _create_ingest_topic(kafka: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(f"{prefix}.ingest.{TENANT}", num_partitions=2, replication_factor=1)]
        )
    finally:
        await admin.close()


async def clean_up(cfg: StackConfig, prefix: str) -> None:
    """Delete the run's topics and indices."""
    await delete_topics(cfg.kafka, prefix)
    await delete_indices(cfg.opensearch, prefix, request_s=60)


def _popen(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def build_pools(cfg: StackConfig) -> dict[str, Pool]:
    win1 = windows_pool("LSASS_campaign_01", limit=cfg.windows_lines, hosts=cfg.hosts)
    win6 = windows_pool("LSASS_campaign_06", limit=cfg.windows_lines, hosts=cfg.hosts)
    add_probes(win1)
    add_probes(win6)
    return {
        "win-http": win1,
        "win-kafka": win6,
        "auth-http": auth_pool(),
        "web-kafka": access_pool(),
    }


SHARES = {"win-http": 0.35, "win-kafka": 0.35, "auth-http": 0.15, "web-kafka": 0.15}


def jvm_pids(cfg: StackConfig) -> dict[str, int]:
    """The Kafka and OpenSearch JVMs (found as bench/pipeline.py finds them), to sample."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("soak_bench_pipeline", ROOT / "bench/pipeline.py")
    assert spec is not None and spec.loader is not None
    pipeline = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = pipeline
        spec.loader.exec_module(pipeline)
    out = {}
    for name, address in (("kafka", cfg.kafka.split(",")[0]), ("opensearch", cfg.opensearch)):
        port = int(address.split("://")[-1].rsplit(":", 1)[1].strip("/"))
        pid, _ = pipeline.service_pid(name, port)
        if pid is not None:
            out[name] = pid
    return out


@contextlib.asynccontextmanager
async def start_stack(
    cfg: StackConfig, pools: dict[str, Pool] | None = None
) -> AsyncIterator[Stack]:
    """Start everything and wait until it is ready; stop it all after (and delete the
    run's topics and indices unless ``cfg.keep``). ``pools``: the lines to replay, by
    connector (default :func:`build_pools`)."""
    import tempfile

    pools = pools or build_pools(cfg)
    prefix = f"soak{time.time_ns() // 1_000_000}"
    tmp = None
    if cfg.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="soak-")
        workdir = Path(tmp.name)
    else:
        workdir = cfg.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "processes.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    ports = {f"detect{i + 1}": free_port() for i in range(cfg.detectors)}
    ports["correlate"] = free_port()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    connectors = [
        Connector(name, workdir / "logs" / f"{name}.log", pools[name], SHARES[name], free_port())
        for name in SHARES
    ]
    stack = Stack(cfg, prefix, workdir, api_url, procs, ports, connectors, log)
    try:
        await _create_ingest_topic(cfg.kafka, prefix)
        commands = {"api": ["api", "--port", str(api_port)]}
        commands |= {f"detect{i + 1}": ["detect"] for i in range(cfg.detectors)}
        commands["correlate"] = ["correlate"]
        for name, command in commands.items():
            if name == "detect1":
                # `soc api` first: it makes the run's indices and imports the rule files;
                # workers started with it race it to a new index's first shard (a 503 at
                # start while the shard recovers)
                await _until(lambda: _answers(f"{api_url}/readyz"), stack, 240)
            config = workdir / f"{name}.yml"
            config.write_text(
                yaml.safe_dump(soc_settings(cfg, prefix, workdir, ports.get(name), name))
            )
            procs[name] = _popen(
                ["-m", "soc.cli", *command], {**env, "SOC_CONFIG": str(config)}, log, workdir
            )
        await _until_ready(stack)
        (workdir / "logs").mkdir(exist_ok=True)
        for c in connectors:
            c.path.touch()
            config = connector_config(c, cfg=cfg, api_url=api_url, prefix=prefix, workdir=workdir)
            c.proc = _popen(
                ["-m", "connectors.cli", "run", "--config", str(config)], env, log, workdir
            )
        await _until(
            lambda: all(metric(c.metrics_port, "soc_connector_") >= 0 for c in connectors),
            stack,
            60,
        )
        stack.jvms = jvm_pids(cfg)
        yield stack
    finally:
        _stop([c.proc for c in connectors if c.proc is not None])
        _stop(list(procs.values()))
        if not cfg.keep:
            await clean_up(cfg, prefix)
        if tmp is not None:
            tmp.cleanup()


async def _until(ok: Any, stack: Stack, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not ok():
        if stack.exited():
            raise RuntimeError(
                f"stopped at start: {stack.exited()}\n{stack.log.read_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {limit_s} s\n{stack.log.read_text()[-4000:]}")
        await asyncio.sleep(0.5)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def _until_ready(stack: Stack) -> None:
    """`soc api` answers /readyz; every detector has its rules; the correlator serves
    /metrics; then a few seconds for the consumer groups' first rebalances."""

    def ready() -> bool:
        if not _answers(f"{stack.api_url}/readyz"):
            return False
        detectors = [p for n, p in stack.metrics_ports.items() if n.startswith("detect")]
        return all(metric(p, "soc_rules_loaded") > 0 for p in detectors) and (
            metric(stack.metrics_ports["correlate"], "soc_") >= 0
        )

    await _until(ready, stack, 240)
    await asyncio.sleep(8)
