"""`soc users ...`: people's accounts in the configured store, and development accounts.

The commands work on whatever store the settings name (SQLite or OpenSearch),
so an operator creates the first admin before anyone can sign in. Passwords
are read with a prompt that does not echo, or from standard input with
``--password-stdin``; never from an option, which would land in the shell's
history and the process list. Each change is written to the audit trail with
the actor ``cli:<login name>``, and a change of access ends the account's
sessions, which every API process learns within ``auth.revocation_refresh_s``.
"""

from __future__ import annotations

import asyncio
import getpass
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, get_args

import click
from pydantic import ValidationError

from soc.audit.trail import AuditTrail
from soc.log import get_logger
from soc.models import utcnow
from soc.security.accounts import RecordRevocations, RecordUserStore
from soc.security.passwords import PasswordHashing, WeakPassword, require_strong
from soc.security.roles import UserRole
from soc.security.users import User, UserExists, UserNotFound, new_user, normalize_username
from soc.settings import ALL_TENANTS, Settings
from soc.store import Store, build_store

log = get_logger(__name__)

DEV_ACCOUNTS_FILE = "dev-accounts.txt"
DEV_UNIT = "CAT-PCTP"


@dataclass
class _Accounts:
    store: Store
    users: RecordUserStore
    revocations: RecordRevocations
    audit: AuditTrail

    async def end_sessions(self, username: str) -> None:
        self.revocations.revoke_subject(username, before=utcnow())
        await self.revocations.flush()


@asynccontextmanager
async def _accounts(settings: Settings) -> AsyncIterator[_Accounts]:
    store = build_store(settings.store)
    await store.start()
    try:
        yield _Accounts(
            store=store,
            users=RecordUserStore(store),
            revocations=RecordRevocations(store),
            audit=AuditTrail(store),
        )
    finally:
        await store.stop()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_password(from_stdin: bool, *, confirm: bool = True) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return password


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"soc users: {message}", err=True)
    sys.exit(code)


def users_group(load: Callable[[], Settings]) -> click.Group:
    """The `soc users` group; ``load`` builds the settings (as the other commands do)."""

    @click.group(name="users")
    def users() -> None:
        """People's accounts, in the configured store (SQLite or OpenSearch)."""

    @users.command("add")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(get_args(UserRole)))
    @click.option(
        "--tenant",
        "tenants",
        multiple=True,
        required=True,
        help="A tenant whose data the user sees (repeat; '*' for all: lead and admin only)",
    )
    @click.option("--unit", help="The responding unit, e.g. CAT-PCTP (required for responders)")
    @click.option("--display-name", help="The name shown in the UI (default: the username)")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
    def add(
        username: str,
        role: UserRole,
        tenants: tuple[str, ...],
        unit: str | None,
        display_name: str | None,
        password_stdin: bool,
    ) -> None:
        """Create an account; the password is asked for (not echoed)."""
        settings = load()
        name = normalize_username(username)
        if name in {k.name.strip().lower() for k in settings.auth.api_keys}:
            _fail(f"an API key is named {name!r}; choose another username")
        password = _read_password(password_stdin)
        try:
            user = new_user(
                username=name,
                display_name=display_name or name,
                role=role,
                tenants=list(tenants),
                unit=unit,
                password=password,
                hashing=PasswordHashing(),
            )
        except WeakPassword as e:
            _fail("password refused: " + " ".join(p.message for p in e.problems))
        except ValidationError as e:
            _fail("; ".join(str(err["msg"]).removeprefix("Value error, ") for err in e.errors()), 2)

        async def create() -> None:
            async with _accounts(settings) as a:
                await a.users.create(user)
                await a.audit.append(
                    actor=_actor(),
                    tenant=None,
                    action="user.create",
                    target=f"user:{name}",
                    after=user.public().model_dump(mode="json"),
                )

        try:
            asyncio.run(create())
        except UserExists:
            _fail(f"a user {name!r} exists")
        click.echo(f"created {name} ({role}, tenants {', '.join(tenants)})", err=True)

    @users.command("passwd")
    @click.argument("username")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
    def passwd(username: str, password_stdin: bool) -> None:
        """Set an account's password; ends its sessions."""
        settings = load()
        name = normalize_username(username)
        password = _read_password(password_stdin)
        try:
            require_strong(password, username=name)
        except WeakPassword as e:
            _fail("password refused: " + " ".join(p.message for p in e.problems))
        password_hash = PasswordHashing().hash(password)

        async def change() -> None:
            async with _accounts(settings) as a:
                await a.users.set_password(name, password_hash)
                await a.end_sessions(name)
                await a.audit.append(
                    actor=_actor(), tenant=None, action="user.password", target=f"user:{name}"
                )

        try:
            asyncio.run(change())
        except UserNotFound:
            _fail(f"no user {name!r}")
        click.echo(f"password of {name} set; their sessions are ended", err=True)

    def _set_disabled(username: str, disabled: bool) -> None:
        settings = load()
        name = normalize_username(username)

        async def change() -> None:
            async with _accounts(settings) as a:
                before = await a.users.get(name)
                if before is None:
                    raise UserNotFound(name)
                after = await a.users.update(
                    name, lambda u: u.model_copy(update={"disabled": disabled})
                )
                if disabled:
                    await a.end_sessions(name)
                await a.audit.append(
                    actor=_actor(),
                    tenant=None,
                    action="user.update",
                    target=f"user:{name}",
                    before=before.public().model_dump(mode="json"),
                    after=after.public().model_dump(mode="json"),
                )

        try:
            asyncio.run(change())
        except UserNotFound:
            _fail(f"no user {name!r}")
        state = "disabled; their sessions are ended" if disabled else "enabled"
        click.echo(f"{name} {state}", err=True)

    @users.command("disable")
    @click.argument("username")
    def disable(username: str) -> None:
        """Refuse an account's sign-ins from now on; ends its sessions."""
        _set_disabled(username, True)

    @users.command("enable")
    @click.argument("username")
    def enable(username: str) -> None:
        """Allow a disabled account to sign in again."""
        _set_disabled(username, False)

    @users.command("list")
    def list_() -> None:
        """Every account, as a table."""
        settings = load()

        async def read() -> list[User]:
            async with _accounts(settings) as a:
                return await a.users.list()

        rows = [("USERNAME", "ROLE", "TENANTS", "UNIT", "STATE", "LAST SIGN-IN", "NAME")]
        for u in asyncio.run(read()):
            rows.append(
                (
                    u.username,
                    u.role,
                    ",".join(u.tenants),
                    u.unit or "-",
                    "disabled" if u.disabled else "active",
                    u.last_login.strftime("%Y-%m-%d %H:%M") if u.last_login else "-",
                    u.display_name,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
            click.echo("  ".join([*cells, r[-1]]))

    return users


DEV_ACCOUNTS: tuple[tuple[str, UserRole, bool, str | None], ...] = (
    ("admin", "admin", True, None),
    ("lead", "lead", True, None),
    ("analyst", "analyst", False, None),
    ("responder", "responder", False, DEV_UNIT),
)
"""username, role, all tenants (else the sample's tenant), unit."""


async def ensure_dev_accounts(
    settings: Settings, *, hashing: PasswordHashing | None = None
) -> Path | None:
    """In development with no account yet, make an admin and demo accounts.

    Their generated passwords go to ``<data_dir>/dev-accounts.txt`` (mode 0600),
    as the development keys do; the file is returned (``None`` outside development
    or when accounts exist already).
    """
    if settings.env != "development":
        return None
    hashing = hashing or PasswordHashing()
    async with _accounts(settings) as a:
        if await a.users.list():
            return None
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / DEV_ACCOUNTS_FILE
        path.unlink(missing_ok=True)
        path.touch(mode=0o600)
        lines = ["# username role password (development only)"]
        for username, role, everything, unit in DEV_ACCOUNTS:
            password = secrets.token_urlsafe(18)
            tenants = [ALL_TENANTS] if everything else [settings.sample.tenant]
            user = new_user(
                username=username,
                display_name=f"Demo {role}",
                role=role,
                tenants=tenants,
                unit=unit,
                password=password,
                hashing=hashing,
            )
            await a.users.put(user)
            lines.append(f"{username} {role} {password}")
        path.write_text("\n".join(lines) + "\n")
    log.info("development accounts ready", extra={"accounts_file": str(path)})
    return path
