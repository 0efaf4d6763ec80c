"""The API in-process with people's accounts: settings, a running app, sign-in helpers.

The service is the real one (SQLite in tmp_path, memory bus, no workers), its
password hashing swapped for cheap argon2 parameters so a sign-in costs
microseconds. Accounts are those of the city SOC: analysts of the IOC centre
(``hue-ioc``), a responder of the criminal police unit ``CAT-PCTP``, leads and
admins of every tenant, and an admin of ``hue-ioc`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from soc.api.app import create_app
from soc.app import Service
from soc.security.passwords import PasswordHashing
from soc.security.roles import UserRole
from soc.security.users import User, new_user
from soc.settings import ApiKey, Settings
from tests.unit.security.helpers import cheap

A, B = "hue-ioc", "hue-dof"
PASSWORD = "song-huong-chay-qua-thanh-pho"
NEW_PASSWORD = "troi-mua-tren-song-huong"
SECRET = "test-secret-not-default"
KEYS = {
    "ingest-ioc": ("ingest", [A], "test-ingest-key-hue-ioc"),
    "ingest-dof": ("ingest", [B], "test-ingest-key-hue-dof"),
    "analyst-key": ("analyst", [A], "test-analyst-key-hue-ioc"),
}
ACCOUNTS: dict[str, tuple[UserRole, list[str], str | None]] = {
    "viewer.an": ("viewer", [A], None),
    "analyst.hoa": ("analyst", [A], None),
    "analyst.dof": ("analyst", [B], None),
    "lead.minh": ("lead", ["*"], None),
    "lead.ioc": ("lead", [A], None),
    "pctp.tuan": ("responder", [A], "CAT-PCTP"),
    "admin.root": ("admin", ["*"], None),
    "admin.ioc": ("admin", [A], None),
}
"""username -> (role, tenants, unit)."""


def key_header(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][2]}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def settings_for(tmp: Path, **auth: Any) -> Settings:
    keys = [
        {"name": name, "sha256": ApiKey.hash(token), "role": role, "tenants": tenants}
        for name, (role, tenants, token) in KEYS.items()
    ]
    return Settings(
        env="production",
        auth={"secret_key": SECRET, "api_keys": keys, **auth},
        store={"kind": "sqlite", "sqlite": {"path": str(tmp / "soc.db")}},
        data_dir=tmp,
        detect={"cache_dir": None},
    )


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    service: Service
    hashing: PasswordHashing

    async def add_user(self, username: str, **overrides: Any) -> User:
        role, tenants, unit = ACCOUNTS.get(username, ("analyst", [A], None))
        fields: dict[str, Any] = {
            "username": username,
            "display_name": username.replace(".", " ").title(),
            "role": role,
            "tenants": tenants,
            "unit": unit,
            "password": PASSWORD,
            "hashing": self.hashing,
        }
        disabled = overrides.pop("disabled", False)
        fields.update(overrides)
        user = new_user(**fields).model_copy(update={"disabled": disabled})
        await self.service.users.create(user)
        return user

    async def sign_in(
        self, username: str, password: str = PASSWORD, *, client: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        return await (client or self.client).post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )

    async def token(self, username: str, password: str = PASSWORD) -> str:
        r = await self.sign_in(username, password)
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    async def as_user(self, username: str) -> dict[str, str]:
        """Signs in (creating the account of ACCOUNTS if missing); the header to send."""
        if await self.service.users.get(username) is None:
            await self.add_user(username)
        return bearer(await self.token(username))

    def other_client(self, ip: str) -> httpx.AsyncClient:
        """A client reaching the same app from another address."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://soc")

    async def audit_actions(self) -> list[tuple[str, str, str]]:
        """(actor, action, target) of every audit entry, in order."""
        return [(e.actor, e.action, e.target) async for e in self.service.audit.each()]


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    service = Service(settings, workers=False)
    hashing = PasswordHashing(cheap())
    service.hashing = hashing
    app = create_app(service)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
            yield Api(app=app, client=client, service=service, hashing=hashing)
