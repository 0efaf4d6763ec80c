"""Syslog messages: RFC 5424, RFC 3164 (BSD), and the BSD header of auth.log lines.

    parse_syslog("<34>1 2003-10-11T22:14:15.003Z host su - ID47 - msg", defaults=d)
        -> SyslogMessage(pri=34, facility="auth", severity="crit", hostname="host", ...)
    parse_bsd("Mar 27 13:06:56 ip-10-77-20-248 sshd[1291]: ...", defaults=d)   # no PRI

Time: RFC 5424 timestamps carry their zone. RFC 3164 ones (``Mar 27 13:06:56``)
carry neither year nor zone: the zone is ``Defaults.tz`` (UTC unless the
connector is configured, e.g. ``Asia/Ho_Chi_Minh``), and the year is the one
that puts the time at most a day after ``Defaults.now`` (so a December line
read in January is last year's). The RFC 3339 form rsyslog writes with
``RSYSLOG_FileFormat`` is accepted in a BSD header too.

Lenient by design, as RFC 3164 asks of a relay: a message with a valid PRI but
no readable timestamp is kept with ``time=None`` and the rest as its body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

_PRI = re.compile(r"<(\d{1,3})>")
_BSD_TIME = re.compile(
    r"(?:(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) +"
    r"(?:(?P<year>\d{4}) +)?(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?P<frac>\.\d{1,9})?"
    r"|(?P<iso>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})))"
    r"(?: +|$)"
)
_TAG = re.compile(r"(?P<tag>[^\s\[\]:]{1,128})(?:\[(?P<pid>[^\]\s]{0,32})\])?:(?: |$)")
_RFC5424 = re.compile(
    r"(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S{1,255}) (?P<app>\S{1,48}) "
    r"(?P<procid>\S{1,128}) (?P<msgid>\S{1,32}) ?"
)
_SD_ELEMENT = re.compile(
    r"\[(?P<id>[^\s=\]\"]{1,32})(?P<params>(?: [^\s=\]\"]{1,32}=\"(?:[^\"\\]|\\.)*\")*) *\]"
)
_SD_PARAM = re.compile(r" ([^\s=\]\"]{1,32})=\"((?:[^\"\\]|\\.)*)\"")
_SD_UNESCAPE = re.compile(r"\\([\"\\\]])")


@dataclass(slots=True)
class SyslogMessage:
    """One syslog message's header and body; ``None`` where the message gives nothing."""

    body: str
    pri: int | None = None
    time: datetime | None = None
    hostname: str | None = None
    app_name: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: dict[str, dict[str, str]] | None = None
    version: int | None = None

    @property
    def facility(self) -> str | None:
        return None if self.pri is None else _name(FACILITIES, self.pri >> 3)

    @property
    def severity(self) -> str | None:
        return None if self.pri is None else SEVERITIES[self.pri & 7]

    def fields(self) -> dict[str, Any]:
        """The header as record fields (only those present)."""
        out: dict[str, Any] = {}
        if self.pri is not None:
            out.update(pri=self.pri, facility=self.facility, severity=self.severity)
        for name, value in (
            ("hostname", self.hostname),
            ("program", self.app_name),
            ("pid", self.procid),
            ("msgid", self.msgid),
            ("structured_data", self.structured_data),
        ):
            if value:
                out[name] = value
        out["body"] = self.body
        return out


def _name(names: tuple[str, ...], code: int) -> str:
    return names[code] if code < len(names) else str(code)


def parse_syslog(text: str, *, defaults: Defaults) -> SyslogMessage:
    """An RFC 5424 or RFC 3164 message (with its PRI); ParseError when there is no PRI."""
    m = _PRI.match(text)
    if m is None or int(m.group(1)) > 191:
        raise ParseError("unrecognized", "no syslog PRI (<0> to <191>) at the start")
    pri = int(m.group(1))
    rest = text[m.end() :]
    m5 = _RFC5424.match(rest)
    if m5 is not None and (m5.group("ts") == "-" or m5.group("ts")[:4].isdigit()):
        msg = _rfc5424(rest, m5)
        msg.pri = pri
        return msg
    msg = parse_bsd(rest, defaults=defaults, require_time=False)
    msg.pri = pri
    return msg


def _rfc5424(rest: str, m: re.Match[str]) -> SyslogMessage:
    ts = m.group("ts")
    time = None if ts == "-" else iso_time(ts)
    if ts != "-" and time is None:
        raise ParseError("malformed", f"RFC 5424 timestamp is not RFC 3339: {ts[:40]!r}")
    body = rest[m.end() :]
    sd: dict[str, dict[str, str]] | None = None
    if body.startswith("-"):
        body = body[1:]
    elif body.startswith("["):
        sd = {}
        pos = 0
        while (el := _SD_ELEMENT.match(body, pos)) is not None:
            sd[el.group("id")] = {
                k: _SD_UNESCAPE.sub(r"\1", v) for k, v in _SD_PARAM.findall(el.group("params"))
            }
            pos = el.end()
        if pos == 0:
            raise ParseError("malformed", "RFC 5424 structured data is not well formed")
        body = body[pos:]
    elif m.group(0).endswith(" "):
        raise ParseError("malformed", "RFC 5424 message has no STRUCTURED-DATA field")
    body = body.removeprefix(" ").removeprefix("\ufeff")

    def nil(v: str) -> str | None:
        return None if v == "-" else v

    return SyslogMessage(
        body=body,
        time=time,
        hostname=nil(m.group("host")),
        app_name=nil(m.group("app")),
        procid=nil(m.group("procid")),
        msgid=nil(m.group("msgid")),
        structured_data=sd,
        version=int(m.group("version")),
    )


def parse_bsd(text: str, *, defaults: Defaults, require_time: bool = True) -> SyslogMessage:
    """A BSD syslog line after its PRI: ``TIMESTAMP HOSTNAME TAG[PID]: MSG``.

    This is also the whole of an auth.log line. With ``require_time`` a line
    without a timestamp raises ParseError; without it the line is all body.
    """
    m = _BSD_TIME.match(text)
    if m is None:
        if require_time:
            raise ParseError("unrecognized", "no syslog timestamp at the start")
        return SyslogMessage(body=text)
    time = _bsd_time(m, defaults)
    rest = text[m.end() :]
    hostname: str | None = None
    tag = _TAG.match(rest)
    if tag is None:
        # The first word is the hostname unless it is already the tag.
        host, _, after = rest.partition(" ")
        if host:
            hostname = host
            rest = after
        tag = _TAG.match(rest)
    if tag is None:
        return SyslogMessage(body=rest, time=time, hostname=hostname)
    return SyslogMessage(
        body=rest[tag.end() :],
        time=time,
        hostname=hostname,
        app_name=tag.group("tag"),
        procid=tag.group("pid") or None,
    )


def _bsd_time(m: re.Match[str], defaults: Defaults) -> datetime | None:
    if m.group("iso"):
        return iso_time(m.group("iso"))
    frac = m.group("frac")
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    mon, day = MONTHS[m.group("mon")], int(m.group("day"))
    h, mi, s = int(m.group("h")), int(m.group("m")), int(m.group("s"))
    if m.group("year"):
        years = [int(m.group("year"))]
    else:
        now = defaults.reference_now()
        years = [now.year + 1, *range(now.year, now.year - 8, -1)]
    for year in years:
        try:
            t = datetime(year, mon, day, h, mi, s, micro, tzinfo=defaults.tz)
        except ValueError:
            continue  # Feb 29 outside a leap year, hour 24, ...
        if m.group("year") or t <= defaults.reference_now() + timedelta(days=1):
            return t
    return None


def iso_time(text: str) -> datetime | None:
    """RFC 3339 with up to nine fraction digits (Python keeps six); None when unreadable."""
    head, dot, tail = text.partition(".")
    if dot:
        digits = len(tail) - len(tail.lstrip("0123456789"))
        tail = tail[:digits][:6] + tail[digits:]
        text = f"{head}.{tail}"
    try:
        t = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None
