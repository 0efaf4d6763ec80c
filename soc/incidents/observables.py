"""Observables: IPs, hosts, accounts, hashes, domains and URLs pulled from an event.

    extract(event)                      # [Observable(type="ip", value="10.0.5.13", ...), ...]
    union(incident.observables, new)    # by (type, value), earliest first_seen kept

Fields are looked up by the names rules see (``Event.fields``): Sysmon and
Security (``DestinationIp``, ``SubjectUserName``/``SubjectDomainName``,
``Hashes``, ``QueryName``), the connectors' Linux and network parsers
(``src_ip``, ``user``, ``USER``), the W3C web names (``c-ip``,
``cs-username``) and CloudTrail (``sourceIPAddress``, ``userIdentity.arn``).
URLs are taken from URL fields and found in command lines and Sysmon's
Zone.Identifier ``Contents``; a URL's host adds an IP or a domain.

Left out on purpose, as noise an analyst would not pivot on: loopback,
unspecified, link-local and multicast addresses; ``-`` and empty values;
Windows machine accounts (``MKT01$``) and built-in principals (``NT
AUTHORITY\\SYSTEM``, ``Window Manager\\DWM-1``); import hashes (IMPHASH) and
all-zero hashes. Free text such as ``Message`` is not scanned: version
numbers and timestamps there look like addresses too often.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlsplit

from soc.incidents.models import Observable, ObservableType
from soc.models import Event

T = ObservableType

IP_FIELDS = (
    "SourceIp",
    "DestinationIp",
    "IpAddress",
    "SourceAddress",
    "DestAddress",
    "ClientAddress",
    "ClientIPAddress",
    "src_ip",
    "dst_ip",
    "c-ip",
    "sourceIPAddress",
    "source.ip",
    "destination.ip",
    "client.ip",
    "srcip",
    "dstip",
    "remip",
)
IP_LIST_FIELDS = ("QueryResults",)
"""Sysmon 22's answers: ``type:  5 cname;::ffff:192.0.2.1;``."""
HOST_FIELDS = (
    "Computer",
    "Hostname",
    "hostname",
    "host.name",
    "WorkstationName",
    "Workstation",
    "SourceHostname",
    "DestinationHostname",
    "src_host",
    "dst_host",
)
DOMAIN_FIELDS = ("QueryName", "dns.question.name", "qname", "cs-host")
URL_FIELDS = ("url", "c-uri", "URL")
URL_TEXT_FIELDS = ("CommandLine", "ParentCommandLine", "Contents", "COMMAND", "ScriptBlockText")
ACCOUNT_PAIRS = (
    ("SubjectUserName", "SubjectDomainName"),
    ("TargetUserName", "TargetDomainName"),
    ("TargetOutboundUserName", "TargetOutboundDomainName"),
)
"""Windows Security: user and domain in two fields, joined as ``DOMAIN\\user``."""
ACCOUNT_FIELDS = (
    "User",
    "ParentUser",
    "SourceUser",
    "TargetUser",
    "user",
    "USER",
    "by_user",
    "dst_user",
    "cs-username",
    "userIdentity.arn",
    "acct",
    "AUID",
    "user.name",
)
HASH_FIELDS = ("Hashes", "Hash")
"""Sysmon's ``SHA1=...,MD5=...,SHA256=...,IMPHASH=...``."""
PLAIN_HASH_FIELDS = ("md5", "sha1", "sha256", "hash.md5", "hash.sha1", "hash.sha256")
HASH_LENGTHS = {"MD5": 32, "SHA1": 40, "SHA256": 64}

MAX_PER_EVENT = 200
MAX_PER_INCIDENT = 1000
"""Observables an incident keeps; later ones are dropped (they are still in the events)."""

_NONE = frozenset({"", "-", "--", "n/a", "na", "null", "none", "unknown", "(unknown)"})
_BUILTIN_DOMAINS = frozenset({"nt authority", "window manager", "font driver host", "nt service"})
_BUILTIN_USERS = frozenset(
    {"system", "local service", "network service", "anonymous logon", "localsystem"}
)
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*\.?")
URL_IN_TEXT = re.compile(r"""\b(?:https?|ftp)://[^\s"'<>|^`{}\\]+""", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-f]+")


def ip(value: str) -> str | None:
    """The canonical text of an address worth keeping, or None."""
    text = value.strip().strip("[]")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback or addr.is_unspecified or addr.is_link_local or addr.is_multicast:
        return None
    return str(addr)


def hostname(value: str) -> str | None:
    text = value.strip().lower().rstrip(".")
    if text in _NONE or text in ("localhost", "localhost.localdomain"):
        return None
    return text if _HOSTNAME.fullmatch(text) else None


def account(user: str, domain: str | None = None) -> str | None:
    """``DOMAIN\\user`` (or ``user``), or None for a machine account or built-in principal."""
    user = user.strip()
    if domain is None and "\\" in user:
        domain, user = user.split("\\", 1)
    domain = (domain or "").strip()
    if user.lower() in _NONE or user.endswith("$") or user.lower() in _BUILTIN_USERS:
        return None
    if domain.lower() in _BUILTIN_DOMAINS:
        return None
    return f"{domain}\\{user}" if domain and domain.lower() not in _NONE else user


def hashes(value: str) -> Iterator[str]:
    """The MD5, SHA1 and SHA256 values in ``ALG=hex,ALG=hex``, lower-case."""
    for part in value.split(","):
        alg, sep, value = part.partition("=")
        value = value.strip()
        if sep and HASH_LENGTHS.get(alg.strip().upper()) == len(value):
            h = plain_hash(value)
            if h is not None:
                yield h


def plain_hash(value: str) -> str | None:
    h = value.strip().lower()
    if len(h) in HASH_LENGTHS.values() and _HEX.fullmatch(h) and h.strip("0"):
        return h
    return None


def url_parts(url: str) -> Iterator[tuple[ObservableType, str]]:
    url = url.rstrip(".,;:)]}'\"")
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return
    if host is None or len(url) > 2048:
        return
    yield T.url, url
    if (addr := ip(host)) is not None:
        yield T.ip, addr
    elif (name := hostname(host)) is not None and "." in name:
        yield T.domain, name


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, str))


def _found(event: Event) -> Iterator[tuple[ObservableType, str, str]]:
    """(type, canonical value, field) in field order, duplicates included."""
    f = event.fields
    if event.host and (name := hostname(event.host)) is not None:
        yield T.host, name, "host"
    for field in HOST_FIELDS:
        for v in _strings(f.get(field)):
            if (addr := ip(v)) is not None:
                yield T.ip, addr, field
            elif (name := hostname(v)) is not None:
                yield T.host, name, field
    for field in IP_FIELDS:
        for v in _strings(f.get(field)):
            if (addr := ip(v)) is not None:
                yield T.ip, addr, field
    for field in IP_LIST_FIELDS:
        for v in _strings(f.get(field)):
            for part in v.split(";"):
                if (addr := ip(part)) is not None:
                    yield T.ip, addr, field
    for field in DOMAIN_FIELDS:
        for v in _strings(f.get(field)):
            if (name := hostname(v)) is not None and "." in name:
                yield T.domain, name, field
    for field in URL_FIELDS:
        for v in _strings(f.get(field)):
            for kind, value in url_parts(v.strip()):
                yield kind, value, field
    for field in URL_TEXT_FIELDS:
        for v in _strings(f.get(field)):
            for m in URL_IN_TEXT.finditer(v):
                for kind, value in url_parts(m.group()):
                    yield kind, value, field
    for user_field, domain_field in ACCOUNT_PAIRS:
        for v in _strings(f.get(user_field)):
            domain = f.get(domain_field)
            if (name := account(v, domain if isinstance(domain, str) else "")) is not None:
                yield T.account, name, user_field
    for field in ACCOUNT_FIELDS:
        for v in _strings(f.get(field)):
            if (name := account(v)) is not None:
                yield T.account, name, field
    for field in HASH_FIELDS:
        for v in _strings(f.get(field)):
            for h in hashes(v):
                yield T.hash, h, field
    for field in PLAIN_HASH_FIELDS:
        for v in _strings(f.get(field)):
            if (plain := plain_hash(v)) is not None:
                yield T.hash, plain, field


def extract(event: Event) -> list[Observable]:
    """The event's observables, each once, in the order found."""
    out: dict[tuple[ObservableType, str], Observable] = {}
    for kind, value, field in _found(event):
        if (kind, value) not in out:
            out[kind, value] = Observable(
                type=kind, value=value, first_seen=event.time, field=field
            )
            if len(out) >= MAX_PER_EVENT:
                break
    return list(out.values())


def union(
    existing: Sequence[Observable], new: Iterable[Observable], *, limit: int = MAX_PER_INCIDENT
) -> list[Observable]:
    """Both lists as one, each (type, value) once with its earliest sighting; at most ``limit``."""
    out = {o.key: o for o in existing}
    for o in new:
        seen = out.get(o.key)
        if seen is None:
            if len(out) < limit:
                out[o.key] = o
        elif o.first_seen < seen.first_seen:
            out[o.key] = o
    return list(out.values())


def collect(events: Iterable[Event]) -> list[Observable]:
    """The observables of several events (an incident's, recomputed after a move)."""
    found: list[Observable] = []
    for event in events:
        found = union(found, extract(event))
    return found
