"""Text logs in files (syslog, auth.log, web access logs), read with the connector's parsers.

    fmt = text_format(first_line)           # "syslog", "access" or None
    for event in text_events(lines, fmt, source="auth.log", reference=mtime): ...

``soc hunt`` and the samples read a ``.log`` file that is not Zeek's by what its first
line is, as Zeek's are: a syslog line (a BSD header, ``Mar 27 13:06:56 host sshd[1]:``,
or ``<PRI>``) makes the file syslog, parsed line by line with the connector's
``syslog`` format (connectors.parse: auth programs to linux_auth, with sshd's and sudo's
fields and logsources, the rest as linux/syslog); an Apache or nginx common/combined
line makes it an access log (category webserver, the W3C fields). The events are the
ones the connector would ship for the same lines, so a hunt over a copied log and the
live stream raise the same alerts.

BSD syslog times carry no year: it is taken as the connector does, the latest year that
does not put the line in the future, counted from ``reference`` (the file's modification
time: its last line was written before it), so a log read long after it was written
keeps its own year.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Literal

from connectors.errors import ParseError
from connectors.parse import Defaults, parse_frame
from connectors.parse.access_log import is_access_line
from connectors.parse.syslog import parse_bsd
from soc.models import EventIn

TextFormat = Literal["syslog", "access"]

_PARSER_FORMAT: dict[TextFormat, str] = {"syslog": "syslog", "access": "auto"}
"""The connector's format for each: ``auto`` reads an access line with no product implied."""


def text_format(first_line: bytes) -> TextFormat | None:
    """What a text log is, from its first line; None when it is neither syslog nor access."""
    text = first_line.decode("utf-8", "replace").rstrip("\r\n")
    if not text.strip():
        return None
    if text.startswith("<") and text[1:2].isdigit():
        return "syslog"
    if is_access_line(text):
        return "access"
    try:
        parse_bsd(text, defaults=Defaults())
    except ParseError:
        return None
    return "syslog"


def text_events(
    lines: Iterable[bytes], fmt: TextFormat, *, reference: datetime | None
) -> Iterator[tuple[int, EventIn]]:
    """(line number, event) for every non-blank line; a line not understood is an event
    with ``record.parse_error``, as the connector ships it (the caller decides)."""
    defaults = Defaults(now=reference)
    parser = _PARSER_FORMAT[fmt]
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        for event in parse_frame(line, format=parser, defaults=defaults):
            yield number, event
