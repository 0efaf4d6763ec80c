"""Linux authentication logs (auth.log, /var/log/secure): sshd, sudo, PAM, logind, cron, su.

    parse_auth_line("Mar 27 13:06:56 host sshd[1291]: Failed password for root from 1.2.3.4 "
                    "port 22 ssh2", defaults=d)
        -> EventIn(logsource=linux/sshd, record={"message": <the line>, "program": "sshd",
                   "action": "login", "outcome": "failure", "auth_method": "password",
                   "user": "root", "src_ip": "1.2.3.4", "src_port": 22, ...})

Logsource follows SigmaHQ: ``product: linux`` with ``service: sshd`` for sshd's
lines, ``service: sudo`` for sudo's, and ``service: auth`` for every other line
of the auth log. An event has one logsource, so a rule written for
``service: auth`` does not see sshd or sudo lines (Sigma's taxonomy splits
them the same way). Keyword rules match the whole line, kept in ``message``.

Fields: the syslog header (``hostname``, ``program``, ``pid``, ``body``), and
where a line is understood ``action`` (a short fixed name, e.g. ``login``,
``invalid_user``, ``session_opened``), ``outcome`` (success/failure),
``user``, ``src_ip``, ``src_port``, ``auth_method``; sudo's own keys as it
writes them (``TTY``, ``PWD``, ``USER``, ``COMMAND``, which SigmaHQ's sudo
rules match) with the invoking user in ``user``; PAM's ``pam_module``,
``pam_service``, ``pam_type`` and key=value pairs. A line of a known program
that is not understood is still an event, with the header fields only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from connectors.parse._base import Defaults, event
from connectors.parse.syslog import SyslogMessage, parse_bsd
from soc.models import EventIn, LogSource

LOGSOURCE_SSHD = LogSource(product="linux", service="sshd")
LOGSOURCE_SUDO = LogSource(product="linux", service="sudo")
LOGSOURCE_AUTH = LogSource(product="linux", service="auth")

Fields = dict[str, Any]

_IP = r"(?P<src_ip>[0-9A-Fa-f.:]+|\S+)"
_PORT = r"(?: port (?P<src_port>\d+))"


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("{IP}", _IP).replace("{PORT}", _PORT))


_SSHD: tuple[tuple[re.Pattern[str], str, str | None], ...] = (
    (
        _re(
            r"(?P<result>Accepted|Failed) (?P<auth_method>\S+) for (?P<invalid>invalid user )?"
            r"(?P<user>.*) from {IP}{PORT}(?: (?P<protocol>ssh\d?))?(?:: (?P<ssh_key>.+))?"
        ),
        "login",
        None,
    ),
    (_re(r"Invalid user (?P<user>.*) from {IP}{PORT}?"), "invalid_user", "failure"),
    (_re(r"input_userauth_request: invalid user (?P<user>.*?)"), "invalid_user", "failure"),
    (
        _re(
            r"error: maximum authentication attempts exceeded for (?P<invalid>invalid user )?"
            r"(?P<user>.*) from {IP}{PORT}(?: ssh\d?)?"
        ),
        "max_auth_attempts",
        "failure",
    ),
    (
        _re(
            r"Disconnecting(?: (?:invalid |authenticating )?user (?P<user>\S*) {IP}{PORT})?: "
            r"Too many authentication failures.*"
        ),
        "too_many_failures",
        "failure",
    ),
    (
        _re(
            r"Connection (?P<kind>closed|reset) by (?:(?:invalid |authenticating )?user "
            r"(?P<user>.*) )?{IP}{PORT}?"
        ),
        "connection_closed",
        None,
    ),
    (
        _re(r"Disconnected from (?:(?:invalid |authenticating )?user (?P<user>.*) )?{IP}{PORT}?"),
        "disconnected",
        None,
    ),
    (
        _re(r"Received disconnect from {IP}{PORT}?:\s*(?P<code>\d+): ?(?P<reason>.*)"),
        "disconnect_received",
        None,
    ),
    (
        _re(r"Connection from {IP}{PORT} on (?P<dst_ip>\S+) port (?P<dst_port>\d+).*"),
        "connection",
        None,
    ),
    (_re(r"Did not receive identification string from {IP}{PORT}?"), "no_identification", None),
    (
        _re(r"Bad protocol version identification '(?P<version>.*)' from {IP}{PORT}?"),
        "bad_protocol",
        "failure",
    ),
    (_re(r"Server listening on (?P<listen_ip>\S+) port (?P<listen_port>\d+)\."), "listening", None),
    (
        _re(r"Starting session: (?P<session>.+?) for (?P<user>.*) from {IP}{PORT} id \d+"),
        "session_started",
        "success",
    ),
    (
        _re(r"fatal: Unable to negotiate with {IP}{PORT}: (?P<reason>.*)"),
        "negotiation_failed",
        "failure",
    ),
    (_re(r"Received signal (?P<signal>\d+); terminating\."), "terminating", None),
)
_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*)\]")
_PREAUTH = " [preauth]"
_PAM = re.compile(
    r"(?P<pam_module>pam_\w+)\((?P<pam_service>[^:()]+):(?P<pam_type>\w+)\): (?P<r>.*)"
)
_PAM_MORE = re.compile(r"PAM (?P<count>\d+) more authentication failures?; (?P<r>.*)")
_KV = re.compile(r"(\w+)=(\S*)")
_SESSION_OPENED = re.compile(
    r"session opened for user (?P<user>[^\s(]+)(?:\(uid=\d+\))? by (?P<by_user>[^\s(]*)"
    r"(?:\(uid=(?P<by_uid>\d+)\))?"
)
_SESSION_CLOSED = re.compile(r"session closed for user (?P<user>[^\s(]+)")
_SUDO = re.compile(r"\s*(?P<user>\S+) : (?P<r>.*)")
_SUDO_KEY = re.compile(r"([A-Z]+)=(.*)")
_LOGIND = (
    (re.compile(r"New session (?P<session_id>\S+) of user (?P<user>.+?)\.?"), "session_new"),
    (re.compile(r"Removed session (?P<session_id>\S+?)\.?"), "session_removed"),
    (re.compile(r"Session (?P<session_id>\S+) logged out\..*"), "session_logged_out"),
)
_CRON = re.compile(r"\((?P<user>[^)]*)\) CMD \((?P<command>.*)\)")
_SU = re.compile(r"(?P<r>Successful|FAILED) su for (?P<user>\S+) by (?P<by_user>\S+)")
_SU_SESSION = re.compile(r"(?P<r>[+-]) (?P<tty>\S+) (?P<by_user>[^:\s]+):(?P<user>\S+)")
_NEW_ACCOUNT = re.compile(r"new (?P<kind>user|group): (?P<r>.*)")
_ACCOUNT_KV = re.compile(r"(\w+)=([^,]*)")


def parse_auth_line(text: str, *, defaults: Defaults) -> EventIn:
    """One auth.log line (BSD syslog without PRI); ParseError when it has no syslog header."""
    return auth_event(text, parse_bsd(text, defaults=defaults), defaults=defaults)


def auth_event(text: str, header: SyslogMessage, *, defaults: Defaults) -> EventIn:
    """The event of an auth-log message whose syslog header is already parsed."""
    record: Fields = {"message": text, **header.fields()}
    program = header.app_name or ""
    parsed = _parse_body(program, header.body.strip())
    record.update(parsed)
    if program == "sshd":
        logsource = LOGSOURCE_SSHD
    elif program == "sudo":
        logsource = LOGSOURCE_SUDO
    else:
        logsource = LOGSOURCE_AUTH
    return event(
        record, defaults=defaults, logsource=logsource, time=header.time, host=header.hostname
    )


AUTH_PROGRAMS = frozenset(
    {"sshd", "sudo", "su", "systemd-logind", "CRON", "cron", "crond", "useradd", "groupadd",
     "usermod", "userdel", "passwd", "chpasswd", "chage", "login", "pkexec", "polkitd",
     "gdm-password", "unix_chkpwd", "systemd"}
)  # fmt: skip
"""Programs whose syslog messages are parsed as the auth log's (service auth, sshd or sudo)."""


def _parse_body(program: str, body: str) -> Fields:
    pam = _pam(body)
    if pam is not None:
        return pam
    handler = _HANDLERS.get(program)
    return handler(body) if handler else {}


def _sshd(body: str) -> Fields:
    out: Fields = {}
    if body.endswith(_PREAUTH):
        body = body[: -len(_PREAUTH)]
        out["preauth"] = True
    rep = _REPEATED.fullmatch(body)
    if rep is not None:
        out["repeat_count"] = int(rep.group(1))
        body = rep.group(2).strip()
    for pattern, action, outcome in _SSHD:
        m = pattern.fullmatch(body)
        if m is None:
            continue
        out["action"] = action
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        if "result" in groups:
            outcome = "success" if groups.pop("result") == "Accepted" else "failure"
        if groups.pop("invalid", None):
            out["invalid_user"] = True
        if outcome:
            out["outcome"] = outcome
        for key, value in groups.items():
            out[key] = int(value) if key.endswith("_port") else value
        return out
    pam = _pam(body)
    return {**out, **pam} if pam else out


def _pam(body: str) -> Fields | None:
    m = _PAM.fullmatch(body)
    if m is None:
        more = _PAM_MORE.fullmatch(body)
        if more is None:
            return None
        out: Fields = {"action": "auth_failure", "outcome": "failure"}
        out["repeat_count"] = int(more.group("count"))
        out.update(_pam_kv(more.group("r")))
        return out
    out = {k: m.group(k) for k in ("pam_module", "pam_service", "pam_type")}
    rest = m.group("r")
    if (s := _SESSION_OPENED.match(rest)) is not None:
        out.update(action="session_opened", outcome="success", user=s.group("user"))
        if s.group("by_user"):
            out["by_user"] = s.group("by_user")
        if s.group("by_uid"):
            out["by_uid"] = s.group("by_uid")
    elif (s := _SESSION_CLOSED.match(rest)) is not None:
        out.update(action="session_closed", user=s.group("user"))
    elif rest.startswith("authentication failure;"):
        out.update(action="auth_failure", outcome="failure", **_pam_kv(rest))
    elif rest.startswith("check pass; user unknown"):
        out.update(action="unknown_user", outcome="failure")
    return out


def _pam_kv(text: str) -> Fields:
    out: Fields = {k: v for k, v in _KV.findall(text) if v}
    if "rhost" in out:
        out["src_ip"] = out["rhost"]
    return out


def _sudo(body: str) -> Fields:
    m = _SUDO.fullmatch(body)
    if m is None:
        return {}
    out: Fields = {"user": m.group("user"), "action": "command"}
    rest = m.group("r")
    command_at = rest.find("COMMAND=")
    head = rest[:command_at] if command_at >= 0 else rest
    problems = []
    for item in head.split(" ; "):
        item = item.strip()
        kv = _SUDO_KEY.fullmatch(item)
        if kv is not None:
            out[kv.group(1)] = kv.group(2)
        elif item:
            problems.append(item)
    if command_at >= 0:
        out["COMMAND"] = rest[command_at + len("COMMAND=") :]
    out["outcome"] = "failure" if problems else "success"
    if problems:
        out["reason"] = " ; ".join(problems)
    return out


def _logind(body: str) -> Fields:
    for pattern, action in _LOGIND:
        m = pattern.fullmatch(body)
        if m is not None:
            return {"action": action, **m.groupdict()}
    return {}


def _cron(body: str) -> Fields:
    m = _CRON.fullmatch(body)
    return {"action": "cron_command", **m.groupdict()} if m else {}


def _su(body: str) -> Fields:
    if (m := _SU.fullmatch(body)) is not None:
        outcome = "success" if m.group("r") == "Successful" else "failure"
        return {"action": "su", "outcome": outcome, "user": m["user"], "by_user": m["by_user"]}
    if (m := _SU_SESSION.fullmatch(body)) is not None:
        outcome = "success" if m.group("r") == "+" else "failure"
        return {"action": "su", "outcome": outcome, "tty": m["tty"], "user": m["user"],
                "by_user": m["by_user"]}  # fmt: skip
    return {}


def _account(body: str) -> Fields:
    m = _NEW_ACCOUNT.fullmatch(body)
    if m is None:
        return {}
    out: Fields = {"action": f"{m.group('kind')}_created"}
    out.update((k, v.strip()) for k, v in _ACCOUNT_KV.findall(m.group("r")))
    return out


_HANDLERS: dict[str, Callable[[str], Fields]] = {
    "sshd": _sshd,
    "sudo": _sudo,
    "systemd-logind": _logind,
    "CRON": _cron,
    "cron": _cron,
    "crond": _cron,
    "su": _su,
    "useradd": _account,
    "groupadd": _account,
}
