"""Parsing logs to the event model: every format to :class:`soc.models.EventIn`.

    from connectors.parse import Defaults, parse
    parse(data, format="auth", defaults=Defaults(host="web01", tz=ZoneInfo("Asia/Ho_Chi_Minh")))

One module per format (syslog, linux_auth, auditd, access_log, cef,
fortigate, zeek, cloudtrail, kubernetes, json_records), framing of byte streams for
the TCP/TLS sources (framing.py), and the dispatcher (dispatch.py). Each
event's ``record`` keeps the original (``message`` for text) with the parsed
fields under the names Sigma rules use; ``logsource`` routes it to the rules.
A line no parser understands is shipped raw with ``parse_error``; nothing is
dropped and nothing raises. See docs/connectors/parsers.md.
"""

from connectors.errors import ParseError
from connectors.parse._base import HEAD_BYTES, MAX_LINE_BYTES, Defaults
from connectors.parse.dispatch import FORMATS, frame_events, iter_parse, parse, parse_frame
from connectors.parse.framing import Frame, Framer

__all__ = [
    "FORMATS",
    "HEAD_BYTES",
    "MAX_LINE_BYTES",
    "Defaults",
    "Frame",
    "Framer",
    "ParseError",
    "frame_events",
    "iter_parse",
    "parse",
    "parse_frame",
]
