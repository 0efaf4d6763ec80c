"""The real service for the browser tests: `soc run` in a thread, with recorded data and users.

The browser is driven from the test thread (Playwright's sync API), so the
service gets its own thread and event loop: the embedded default (memory bus,
SQLite in a temporary folder), started with :func:`soc.api.server.serving`.

Data is real recorded logs, ingested over HTTP with each tenant's ingest key:

- tenant A (``hue-ioc``): the bundled OTRF slice (soc/sample, a Metasploit LSASS
  credential dump on MKT01.pandalab.com);
- tenant B (``hue-dof``): the first lines of ../shared/datasets/linux/auth.log
  (SSH brute force, sudo), shaped by the connector's own auth-log parser.

Accounts are made with `soc users add` on the service's store before it starts: an
analyst and a lead of A, a responder of unit CAT-PCTP (tenant A), a responder of
unit PA05 (tenant A, the unit the shipped drill scenarios expect), a viewer of B and an
analyst of B.

:func:`bare_stack` is the same service and accounts with no data: the drill tests
replay their scenarios into it, so their alerts change no other test's counts.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from click.testing import CliRunner

from connectors.parse._base import Defaults
from connectors.parse.linux_auth import parse_auth_line
from soc.api.server import serving
from soc.cli import main as soc_cli
from soc.detect.correlation.model import silent_ids
from soc.detect.load import load_engine
from soc.ingest.ndjson import parse_ndjson
from soc.models import Alert, utcnow
from soc.security.roles import UserRole
from soc.settings import ApiKey, IntelSettings, Settings, SharingSettings, SourcesSettings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "soc/detections/rules"
TENANT_A = "hue-ioc"
TENANT_B = "hue-dof"
UNIT = "CAT-PCTP"
DRILL_UNIT = "PA05"
"""The response unit the shipped drill scenarios expect (soc/detections/drills)."""
AUTH_LOG_LINES = 300
"""Lines of the recorded auth.log for tenant B: 78 alerts of 2 rules."""
START_TIMEOUT_S = 60.0
DETECT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    role: UserRole
    tenants: tuple[str, ...]
    password: str
    unit: str | None = None


PEOPLE = {
    "analyst": Person(
        "nguyen.van.an", "Nguyễn Văn An", "analyst", (TENANT_A,), "Song Huong chay qua cau 2026"
    ),
    "lead": Person(
        "tran.thi.binh", "Trần Thị Bình", "lead", (TENANT_A,), "Nui Ngu Binh trong may 2026"
    ),
    "responder": Person(
        "le.van.cuong",
        "Lê Văn Cường",
        "responder",
        (TENANT_A,),
        "Cau Truong Tien sau nhip 2026",
        unit=UNIT,
    ),
    "responder_pa05": Person(
        "hoang.thi.em",
        "Hoàng Thị Em",
        "responder",
        (TENANT_A,),
        "Chua Thien Mu chuong chieu 2026",
        unit=DRILL_UNIT,
    ),
    "viewer": Person(
        "pham.thi.dung", "Phạm Thị Dung", "viewer", (TENANT_B,), "Dai Noi Hue mua thu 2026"
    ),
    "analyst_b": Person(
        "vo.van.giang", "Võ Văn Giang", "analyst", (TENANT_B,), "Lang Khai Dinh tren doi 2026"
    ),
}

KEYS = {
    "ingest-a": ("ingest", [TENANT_A], "browser-test-ingest-hue-ioc"),
    "ingest-b": ("ingest", [TENANT_B], "browser-test-ingest-hue-dof"),
    "seed": ("lead", ["*"], "browser-test-seed-lead-all"),
}
"""API keys: the connectors' ingest keys, and a lead key the fixtures check the API with."""


def settings_for(tmp: Path) -> Settings:
    return Settings(
        env="production",
        data_dir=str(tmp),
        auth={
            "secret_key": "browser-test-secret-not-a-default",
            "api_keys": [
                {"name": name, "sha256": ApiKey.hash(token), "role": role, "tenants": tenants}
                for name, (role, tenants, token) in KEYS.items()
            ],
        },
        bus={"kind": "memory"},
        # The recorded events are of 2023 and 2026-11: kept, or the retention job would
        # delete them as soon as it starts, and the event explorer would find nothing.
        store={
            "kind": "sqlite",
            "sqlite": {"path": str(tmp / "soc.db")},
            "retention": {"events_days": None},
        },
        detect={"rules": [str(RULES)], "cache_dir": None},
        incidents={"stream_poll_s": 0.5},
    )


def otrf_lines() -> list[bytes]:
    data = resources.files("soc.sample").joinpath("otrf_lsass_slice.ndjson.gz").read_bytes()
    return gzip.decompress(data).splitlines()


def auth_log_envelopes(shared: Path, n: int = AUTH_LOG_LINES) -> list[bytes]:
    """The first ``n`` lines of the recorded auth.log as the connector ships them."""
    lines = (shared / "datasets/linux/auth.log").read_text("utf-8").splitlines()[:n]
    defaults = Defaults(
        source="auth", tz=ZoneInfo("Asia/Ho_Chi_Minh"), now=datetime(2026, 11, 24, tzinfo=UTC)
    )
    return [
        parse_auth_line(line, defaults=defaults).model_dump_json(exclude_none=True).encode()
        for line in lines
    ]


def fresh_replay(lines: list[bytes], *, start: int = 0) -> list[bytes]:
    """Recorded lines as a connector resends them live: each record untouched, on a stream of
    its own and re-timed to now, so they count as new alerts (and no drill's: the overview
    and the queue take them as live work)."""
    stream = f"otrf_lsass_slice#{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    return [
        orjson.dumps(
            {
                "record": orjson.loads(line),
                "time": now,
                "origin": {
                    "connector": "browser-test",
                    "source": "otrf",
                    "stream": stream,
                    "seq": start + i,
                },
            }
        )
        for i, line in enumerate(lines)
    ]


def expected_alert_ids(settings: Settings, lines: list[bytes], tenant: str) -> set[str]:
    """What the service's own engine raises on these lines, offline."""
    engine = load_engine(settings.detect)
    events = parse_ndjson(
        b"\n".join(lines), tenant=tenant, source="http", received=utcnow(), max_line_bytes=1 << 20
    ).events
    silent = silent_ids(engine.correlations)  # rules that feed correlations only (generate)
    return {
        Alert.make_id(rule_id=r.id, event_id=e.id)
        for e in events
        for r in engine.match(e)
        if r.id not in silent
    }


def create_people(tmp: Path, settings: Settings) -> None:
    """The accounts, made with `soc users add` on the service's store before it starts."""
    env = {
        "SOC_ENV": settings.env,
        "SOC_DATA_DIR": str(tmp),
        "SOC_AUTH__SECRET_KEY": settings.auth.secret_key.get_secret_value(),
        "SOC_AUTH__API_KEYS": orjson.dumps(
            [k.model_dump(mode="json") for k in settings.auth.api_keys]
        ).decode(),
        "SOC_BUS__KIND": "memory",
        "SOC_STORE__KIND": "sqlite",
        "SOC_STORE__SQLITE__PATH": str(settings.store.sqlite.path),
    }
    for p in PEOPLE.values():
        args = ["users", "add", p.username, "--role", p.role, "--display-name", p.display_name]
        args += [a for t in p.tenants for a in ("--tenant", t)]
        args += ["--unit", p.unit] if p.unit else []
        result = CliRunner().invoke(
            soc_cli, [*args, "--password-stdin"], input=f"{p.password}\n", env=env
        )
        assert result.exit_code == 0, result.output


@dataclass
class Stack:
    """The running service: its URL, and what was put into it."""

    settings: Settings
    url: str = ""
    alerts: dict[str, set[str]] = field(default_factory=dict)
    """Alert ids expected per tenant."""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None
    _error: BaseException | None = None

    def start(self) -> None:
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main() -> None:
            try:
                async with serving(self.settings) as url:
                    self.url = url
                    self._stop = asyncio.Event()
                    ready.set()
                    await self._stop.wait()
            except BaseException as e:
                self._error = e
                ready.set()
                raise

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(main())
            except BaseException:
                pass  # kept in self._error for the test thread
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="soc-under-test", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S) or self._error is not None:
            raise RuntimeError(f"the service did not start: {self._error!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=60)

    def client(self, key: str = "seed") -> httpx.Client:
        """An API client with one of the API keys (``seed``: a lead of every tenant)."""
        token = KEYS[key][2]
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )

    def signed_in(self, who: str) -> httpx.Client:
        """An API client with a session token of one of the people, as the UI has."""
        person = PEOPLE[who]
        r = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": person.username, "password": person.password},
        )
        r.raise_for_status()
        token = r.json()["access_token"]
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )

    def api(self, path: str, **params: Any) -> Any:
        with self.client() as c:
            r = c.get(f"/api/v1{path}", params=params)
            r.raise_for_status()
            return r.json()

    def all_alerts(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        with self.client() as c:
            while True:
                query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
                r = c.get("/api/v1/alerts", params=query)
                r.raise_for_status()
                page = r.json()
                items += page["items"]
                cursor = page["next_cursor"]
                if not cursor:
                    return items

    def ingest(self, key: str, lines: list[bytes], *, chunk: int = 500) -> int:
        accepted = 0
        with self.client(key) as c:
            for i in range(0, len(lines), chunk):
                r = c.post("/api/v1/ingest", content=b"\n".join(lines[i : i + chunk]))
                r.raise_for_status()
                accepted += r.json()["accepted"]
        return accepted

    def add_alerts(self, key: str, tenant: str, lines: list[bytes]) -> set[str]:
        """Ingest recorded lines and wait for their alerts; returns the new alerts' ids."""
        ids = expected_alert_ids(self.settings, lines, tenant)
        new = ids - self.alerts.setdefault(tenant, set())
        assert self.ingest(key, lines) == len(lines)
        self.alerts[tenant] |= ids
        self.wait_for_alerts(tenant, self.alerts[tenant])
        return new

    def wait_for_alerts(self, tenant: str, ids: set[str], *, grouped: bool = True) -> None:
        """Until every expected alert of ``tenant`` is stored (and grouped into an incident)."""
        deadline = time.monotonic() + DETECT_TIMEOUT_S
        while True:
            items = self.all_alerts(tenant=tenant)
            have = {a["id"] for a in items}
            done = ids <= have and (
                not grouped or all(a.get("incident_id") or a.get("suppressed_by") for a in items)
            )
            if done:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{tenant}: {len(ids & have)} of {len(ids)} alerts after {DETECT_TIMEOUT_S} s"
                )
            time.sleep(0.25)


def running_stack(tmp: Path, shared: Path) -> Iterator[Stack]:
    """The seeded service, for a session fixture."""
    settings = settings_for(tmp)
    create_people(tmp, settings)
    stack = Stack(settings)
    stack.start()
    try:
        a_lines, b_lines = otrf_lines(), auth_log_envelopes(shared)
        stack.alerts = {
            TENANT_A: expected_alert_ids(settings, a_lines, TENANT_A),
            TENANT_B: expected_alert_ids(settings, b_lines, TENANT_B),
        }
        assert stack.ingest("ingest-a", a_lines) == len(a_lines)
        assert stack.ingest("ingest-b", b_lines) == len(b_lines)
        for tenant, ids in stack.alerts.items():
            assert ids, f"the recorded data of {tenant} must raise alerts"
            stack.wait_for_alerts(tenant, ids)
        yield stack
    finally:
        stack.stop()


def bare_stack(
    tmp: Path,
    *,
    sources: SourcesSettings | None = None,
    intel: IntelSettings | None = None,
    sharing: SharingSettings | None = None,
) -> Iterator[Stack]:
    """The service with its accounts and no data, for a module's fixture (``sources``:
    its settings of the sources' account, ``intel``: its TAXII feeds, ``sharing``: its
    sharing targets and policies, else the defaults).

    The accounts are made in a worker thread: Playwright's sync API may already hold an
    event loop in this one (the package's browser), and `soc users add` runs its own."""
    settings = settings_for(tmp)
    if sources is not None:
        settings = settings.model_copy(update={"sources": sources})
    if intel is not None:
        settings = settings.model_copy(update={"intel": intel})
    if sharing is not None:
        settings = settings.model_copy(update={"sharing": sharing})
    with ThreadPoolExecutor(1) as pool:
        pool.submit(create_people, tmp, settings).result()
    stack = Stack(settings)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
