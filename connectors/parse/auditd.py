"""Linux audit records (``/var/log/audit/audit.log``, audisp/syslog forwarding).

    parse_auditd_line('type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=59 '
                      'success=yes comm="curl" exe="/usr/bin/curl" key="net"', defaults=d)
        -> EventIn(logsource=linux/auditd, time=2023-11-14T22:13:20.123Z,
                   record={"message": <the line>, "type": "SYSCALL", "serial": "456",
                           "arch": "c000003e", "syscall": "59", "comm": "curl", ...})

Every ``key=value`` becomes a field of that name with quotes removed, as
SigmaHQ's ``service: auditd`` rules expect (``type``, ``exe``, ``comm``,
``key``, ``a0``...). Values the kernel hex-encodes because they hold spaces or
control characters (``proctitle``, ``exe``, ``comm``, ``cwd``, ``name``,
EXECVE's ``a0``..``aN``, ...) are decoded; ``proctitle``'s NUL separators
become spaces, and the several keys of a multi-key rule are joined with ``,``.
A user-space record's inner ``msg='op=... acct="root" res=failed'`` adds its
pairs too, without overriding the outer ones. The enriched part after the
``\\x1d`` separator (``log_format=ENRICHED``: ``SYSCALL=execve``, ``AUID="alice"``)
adds its upper-case fields. A ``node=`` prefix gives the host.

One line is one record: the records of one event (SYSCALL, EXECVE, CWD,
PATH, PROCTITLE) share ``msg=audit(time:serial)`` and are not merged here;
``serial`` lets a later stage join them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from soc.models import EventIn, LogSource

LOGSOURCE = LogSource(product="linux", service="auditd")

_HEADER = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Za-z0-9_]+) "
    r"msg=audit\((?P<sec>\d{1,12})(?:\.(?P<frac>\d{1,9}))?:(?P<serial>\d+)\) ?:\s*"
)
_PAIR = re.compile(r"([^\s=]+)=(\"[^\"]*\"|'[^']*'|\S*)")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_ENCODED = frozenset(
    {"proctitle", "exe", "comm", "cwd", "name", "path", "key", "acct", "cmd", "data",
     "old-path", "new-path", "ocomm", "root_dir", "watch", "dev", "grp", "new_group"}
)  # fmt: skip
_EXECVE_ARG = re.compile(r"a\d+(?:\[\d+\])?")


def is_auditd(text: str) -> bool:
    """Whether a line starts like an audit record (for format sniffing)."""
    return _HEADER.match(text) is not None


def parse_auditd_line(text: str, *, defaults: Defaults) -> EventIn:
    """One audit record; ParseError when it has no audit header or is cut off."""
    m = _HEADER.match(text)
    if m is None:
        if "msg=audit(" in text[:200]:
            raise ParseError("malformed", "audit header is incomplete")
        raise ParseError("unrecognized", "not an audit record (no 'type=... msg=audit(...)')")
    rtype = m.group("type")
    body, _, enriched = text[m.end() :].partition("\x1d")
    record: dict[str, Any] = {"message": text, "type": rtype, "serial": m.group("serial")}
    inner = _pairs(body, rtype, record)
    if inner is not None:
        for key, value in _pairs_dict(inner, rtype).items():
            record.setdefault(key, value)
    if enriched:
        _pairs(enriched, rtype, record)
    frac = (m.group("frac") or "0")[:6]
    try:
        time = datetime.fromtimestamp(int(m.group("sec")), UTC).replace(
            microsecond=int(frac.ljust(6, "0"))
        )
    except (OverflowError, OSError, ValueError) as e:
        raise ParseError("malformed", f"audit time out of range: {m.group('sec')}") from e
    return event(record, defaults=defaults, logsource=LOGSOURCE, time=time, host=m.group("node"))


def _pairs(text: str, rtype: str, into: dict[str, Any]) -> str | None:
    """Add the pairs of ``text`` to ``into``; return a quoted inner ``msg`` if there is one."""
    inner: str | None = None
    for key, raw in _PAIR.findall(text):
        if raw[:1] in ("'", '"') and (len(raw) < 2 or raw[-1] != raw[0]):
            raise ParseError("malformed", f"unterminated quote in {key}=")
        if key == "msg" and raw.startswith("'"):
            inner = raw[1:-1]
            continue
        into[key] = _value(key, raw, rtype)
    return inner


def _pairs_dict(text: str, rtype: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _pairs(text, rtype, out)
    return out


def _value(key: str, raw: str, rtype: str) -> str:
    if raw[:1] in ('"', "'"):
        return raw[1:-1]
    encoded = key in _ENCODED or (rtype == "EXECVE" and _EXECVE_ARG.fullmatch(key))
    if encoded and _HEX.fullmatch(raw):
        text = bytes.fromhex(raw).decode("utf-8", errors="replace")
        if key == "proctitle":
            return text.replace("\x00", " ").rstrip()
        if key == "key":
            return text.replace("\x01", ",")
        return text
    return raw
