"""Web server access logs in the common and combined formats (Apache, nginx).

    parse_access_line('83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /a.png?x=1 HTTP/1.1" '
                      '200 203023 "http://ref/" "Mozilla/5.0"', defaults=d)
        -> EventIn(logsource=category webserver, record={"message": <the line>,
                   "c-ip": "83.149.9.216", "cs-method": "GET", "cs-uri-stem": "/a.png",
                   "cs-uri-query": "/a.png?x=1", "query": "x=1", "sc-status": 200, ...})

Fields carry the W3C names of Sigma's webserver taxonomy: ``c-ip``,
``cs-username``, ``cs-method``, ``cs-uri`` and ``cs-uri-stem``,
``cs-version``, ``sc-status`` and ``sc-bytes`` (integers), ``cs-referer``,
``cs-user-agent``, and ``cs-host`` when a vhost precedes the line
(``vhost_combined``). ``cs-uri-query`` holds the whole request target (path
and query), because SigmaHQ's webserver rules are written that way (they look
for ``/etc/passwd``, ``../`` or ``.../mgmt/tm/util/bash`` in it); the query
string alone is in ``query``. A request line that is not ``METHOD TARGET
VERSION`` (a TLS handshake sent to port 80, ``-``) is kept in ``request`` and
the line still parses. Anything after the user agent (nginx's
``$http_x_forwarded_for`` and similar) is kept in ``extra``.

Logsource: ``category: webserver`` with ``product`` apache or nginx when the
connector says which (format ``apache``/``nginx``), none when sniffed. Time
offsets are in the line; none is assumed.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from connectors.parse.syslog import MONTHS
from soc.models import EventIn, LogSource

_Q = r'"((?:[^"\\]|\\.)*)"'
_LINE = re.compile(
    r"(?:(?P<vhost>\S+) (?=\S+ \S+ \S+ \[))?"
    r"(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) "
    r"\[(?P<d>\d{2})/(?P<mon>[A-Z][a-z]{2})/(?P<y>\d{4}):(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r" (?P<tz>[+-]\d{4})\] "
    rf"{_Q.replace('(', '(?P<request>', 1)} (?P<status>\d{{3}}|-) (?P<bytes>\d+|-)"
    rf"(?: {_Q.replace('(', '(?P<referer>', 1)} {_Q.replace('(', '(?P<agent>', 1)})?"
    r"(?: (?P<extra>.*))?"
)
_UNESCAPE = re.compile(r'\\(["\\])')
"""Apache writes ``"`` and ``\\`` escaped; ``\\xhh`` for other bytes stays as written."""


def logsource(product: str | None) -> LogSource:
    return LogSource(category="webserver", product=product)


def is_access_line(text: str) -> bool:
    """Whether a line is in the common or combined format (for format sniffing)."""
    return _LINE.fullmatch(text) is not None


def parse_access_line(text: str, *, defaults: Defaults, product: str | None = None) -> EventIn:
    """One access-log line; ParseError when it is not in the common or combined format."""
    m = _LINE.fullmatch(text)
    if m is None:
        raise ParseError("unrecognized", "not a common/combined access log line")
    try:
        offset = int(m["tz"][1:3]) * 60 + int(m["tz"][3:5])
        tz = timezone(timedelta(minutes=-offset if m["tz"][0] == "-" else offset))
        time = datetime(
            int(m["y"]), MONTHS[m["mon"]], int(m["d"]), int(m["h"]), int(m["mi"]), int(m["s"]),
            tzinfo=tz,
        )  # fmt: skip
    except (KeyError, ValueError) as e:
        raise ParseError("malformed", f"bad access log time: {e}") from e
    record: dict[str, Any] = {"message": text, "c-ip": m["ip"]}
    if m["vhost"]:
        record["cs-host"] = m["vhost"].rsplit(":", 1)[0]
    if m["user"] != "-":
        record["cs-username"] = m["user"]
    request = _unescape(m["request"])
    parts = request.split(" ")
    if len(parts) == 3 and parts[0].isalpha() and parts[2].startswith("HTTP/"):
        method, target, version = parts
        stem, _, query = target.partition("?")
        record.update(
            {"cs-method": method, "cs-uri": target, "cs-uri-stem": stem, "cs-uri-query": target}
        )
        if query:
            record["query"] = query
        record["cs-version"] = version
    else:
        record["request"] = request
    if m["status"] != "-":
        record["sc-status"] = int(m["status"])
    if m["bytes"] != "-":
        record["sc-bytes"] = int(m["bytes"])
    for name, group in (("cs-referer", "referer"), ("cs-user-agent", "agent")):
        value = m[group]
        if value is not None and value != "-":
            record[name] = _unescape(value)
    if m["extra"]:
        record["extra"] = m["extra"]
    return event(record, defaults=defaults, logsource=logsource(product), time=time)


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(r"\1", value) if "\\" in value else value
