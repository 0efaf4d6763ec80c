"""auth.log parsing on the real recorded log in ../shared/datasets/linux/auth.log (7,121 lines)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.parse import Defaults, parse
from soc.models import EventIn, LogSource
from tests.connectors._util import fields, only, routes, rule_logsources

NOW = datetime(2017, 12, 31, tzinfo=UTC)
"""The recording is from 2017 (elastic/examples); its lines carry no year."""


@pytest.fixture(scope="module")
def auth_lines(shared_dir: Path) -> list[bytes]:
    return (shared_dir / "datasets/linux/auth.log").read_bytes().splitlines()


@pytest.fixture(scope="module")
def auth_events(auth_lines: list[bytes]) -> list[EventIn]:
    return parse(b"\n".join(auth_lines) + b"\n", format="auth", defaults=Defaults(now=NOW))


def test_every_line_gives_one_event_and_none_fails(
    auth_lines: list[bytes], auth_events: list[EventIn]
) -> None:
    assert len(auth_lines) == len(auth_events) == 7121
    assert [e.record["message"].encode() for e in auth_events] == auth_lines
    assert not [e.record for e in auth_events if "parse_error" in e.record]
    assert {e.host for e in auth_events} == {"ip-10-77-20-248"}
    assert all(e.time is not None and e.time.year == 2017 for e in auth_events)


def test_programs_and_logsources(auth_events: list[EventIn]) -> None:
    programs = Counter(e.record["program"] for e in auth_events)
    assert programs == {
        "sshd": 4095, "CRON": 1264, "sudo": 557, "systemd-logind": 452, "chpasswd": 417,
        "systemd": 238, "useradd": 50, "su": 45, "groupadd": 3,
    }  # fmt: skip
    services = Counter(e.logsource.service for e in auth_events if e.logsource)
    assert services == {"sshd": 4095, "sudo": 557, "auth": 7121 - 4095 - 557}
    assert {e.logsource.product for e in auth_events if e.logsource} == {"linux"}


def test_sshd_and_sudo_lines_are_understood(auth_events: list[EventIn]) -> None:
    """Every sudo line, and all but a handful of rare sshd lines, get an action."""
    sudo = [e for e in auth_events if e.record["program"] == "sudo"]
    assert all("action" in e.record for e in sudo)
    sshd = [e for e in auth_events if e.record["program"] == "sshd"]
    unknown = [e.record["body"] for e in sshd if "action" not in e.record]
    assert len(unknown) <= 150, Counter(unknown).most_common(5)  # "User child is on pid N", ...
    actions = Counter(e.record.get("action") for e in sshd)
    assert actions["login"] == 943
    assert actions["invalid_user"] >= 300


def test_failed_password_line() -> None:
    line = (
        b"Mar 27 13:08:09 ip-10-77-20-248 sshd[1361]: "
        b"Failed password for root from 183.62.140.253 port 38388 ssh2"
    )
    ev = only(parse(line, format="auth", defaults=Defaults(now=NOW)))
    assert fields(ev) == {
        "hostname": "ip-10-77-20-248",
        "program": "sshd",
        "pid": "1361",
        "body": "Failed password for root from 183.62.140.253 port 38388 ssh2",
        "action": "login",
        "outcome": "failure",
        "auth_method": "password",
        "user": "root",
        "src_ip": "183.62.140.253",
        "src_port": 38388,
        "protocol": "ssh2",
    }
    assert ev.time == datetime(2017, 3, 27, 13, 8, 9, tzinfo=UTC)
    assert ev.logsource == LogSource(product="linux", service="sshd")


def test_failed_password_lines_of_the_log(auth_events: list[EventIn]) -> None:
    failed = [e for e in auth_events if e.record.get("action") == "login"]
    failed = [e for e in failed if e.record["outcome"] == "failure"]
    assert failed
    for e in failed:
        assert e.record["auth_method"] in ("password", "publickey", "none")
        assert e.record["src_ip"].count(".") == 3
        assert isinstance(e.record["src_port"], int)
    invalid = [e for e in failed if e.record.get("invalid_user")]
    assert invalid and any(e.record["user"] == "" for e in invalid)  # "invalid user  from"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "Accepted publickey for ubuntu from 85.245.107.41 port 54259 ssh2: RSA SHA256:abc",
            {"action": "login", "outcome": "success", "auth_method": "publickey",
             "user": "ubuntu", "src_ip": "85.245.107.41", "src_port": 54259,
             "protocol": "ssh2", "ssh_key": "RSA SHA256:abc"},
        ),
        (
            "Invalid user admin from 5.101.0.209",
            {"action": "invalid_user", "outcome": "failure", "user": "admin",
             "src_ip": "5.101.0.209"},
        ),
        (
            "message repeated 2 times: [ Failed password for root from 1.2.3.4 port 5 ssh2]",
            {"action": "login", "outcome": "failure", "auth_method": "password", "user": "root",
             "src_ip": "1.2.3.4", "src_port": 5, "protocol": "ssh2", "repeat_count": 2},
        ),
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
            "ruser= rhost=9.8.7.6  user=root",
            {"pam_module": "pam_unix", "pam_service": "sshd", "pam_type": "auth",
             "action": "auth_failure", "outcome": "failure", "uid": "0", "euid": "0",
             "tty": "ssh", "rhost": "9.8.7.6", "user": "root", "src_ip": "9.8.7.6"},
        ),
        (
            "Disconnected from 1.2.3.4 port 22 [preauth]",
            {"action": "disconnected", "src_ip": "1.2.3.4", "src_port": 22, "preauth": True},
        ),
    ],
)  # fmt: skip
def test_sshd_messages(body: str, expected: dict[str, object]) -> None:
    ev = only(parse(f"Mar 27 13:08:09 h sshd[1]: {body}".encode(), format="auth"))
    got = {k: v for k, v in fields(ev).items() if k not in ("hostname", "program", "pid", "body")}
    assert got == expected


def test_sudo_line_keeps_sudo_keys_for_sigma() -> None:
    line = (
        b"Mar 27 13:11:43 ip-10-77-20-248 sudo:   ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; "
        b"USER=root ; COMMAND=/bin/sh -c 'echo a ; echo b'"
    )
    ev = only(parse(line, format="auth"))
    assert ev.logsource == LogSource(product="linux", service="sudo")
    assert {k: ev.record[k] for k in ("user", "TTY", "PWD", "USER", "COMMAND", "outcome")} == {
        "user": "ubuntu",
        "TTY": "pts/0",
        "PWD": "/home/ubuntu",
        "USER": "root",
        "COMMAND": "/bin/sh -c 'echo a ; echo b'",
        "outcome": "success",
    }
    refused = only(parse(b"Mar 1 00:00:00 h sudo: bob : user NOT in sudoers ; TTY=pts/1 ; "
                         b"PWD=/ ; USER=root ; COMMAND=/bin/id", format="auth"))  # fmt: skip
    assert refused.record["outcome"] == "failure"
    assert refused.record["reason"] == "user NOT in sudoers"


def test_other_programs() -> None:
    lines = [
        b"Mar 27 13:06:56 h systemd-logind[1118]: New session 3 of user ubuntu.",
        b"Mar 27 13:17:01 h CRON[1442]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",  # noqa: E501
        b"Apr 20 14:11:10 h useradd[30007]: new user: name=eve, UID=0, GID=0, home=/root, "
        b"shell=/bin/bash",
    ]
    logind, cron, useradd = parse(b"\n".join(lines), format="auth")
    assert (logind.record["action"], logind.record["user"]) == ("session_new", "ubuntu")
    assert cron.record["command"] == "   cd / && run-parts --report /etc/cron.hourly"
    assert (useradd.record["action"], useradd.record["UID"]) == ("user_created", "0")
    assert {e.logsource for e in (logind, cron, useradd)} == {
        LogSource(product="linux", service="auth")
    }


def test_zone_and_year_come_from_the_configuration() -> None:
    hue = ZoneInfo("Asia/Ho_Chi_Minh")
    d = Defaults(tz=hue, now=datetime(2026, 1, 2, tzinfo=UTC))
    dec, jan = parse(b"Dec 31 23:00:00 h sshd[1]: x\nJan  1 08:00:00 h sshd[1]: y", format="auth",
                     defaults=d)  # fmt: skip
    assert dec.time == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # last year's December
    assert jan.time == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)


def test_sshd_events_route_to_sigmahq_sshd_rules(shared_dir: Path) -> None:
    ev = only(parse(b"Mar 27 13:08:09 h sshd[1]: Failed password for root from 1.2.3.4 port "
                    b"22 ssh2", format="auth"))  # fmt: skip
    assert ev.logsource is not None
    for rule in rule_logsources(shared_dir / "sigma/rules/linux/builtin/sshd"):
        assert rule == LogSource(product="linux", service="sshd")
        assert routes(ev.logsource, rule)


def test_sudo_and_auth_events_route_to_sigmahq_rules(shared_dir: Path) -> None:
    exploits = shared_dir / "sigma/rules-emerging-threats"
    sudo_rule = rule_logsources(exploits / "2019/Exploits/CVE-2019-14287")[0]
    auth_rule = rule_logsources(exploits / "2021/Exploits/CVE-2021-4034")[0]
    sudo = only(parse(b"Mar 1 00:00:00 h sudo: bob : TTY=pts/1 ; PWD=/ ; USER=#-1 ; "
                      b"COMMAND=/bin/id", format="auth"))  # fmt: skip
    pkexec = only(parse(b"Mar 1 00:00:00 h pkexec[9]: bob: Error executing command", format="auth"))
    assert sudo.logsource and routes(sudo.logsource, sudo_rule)
    assert sudo.record["USER"] == "#-1"  # the field that rule matches
    assert pkexec.logsource and routes(pkexec.logsource, auth_rule)
