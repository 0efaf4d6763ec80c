"""The values of an event that indicators are matched against, pulled fast.

The fields are soc.incidents.observables' (``IP_FIELDS``, ``HOST_FIELDS``,
``DOMAIN_FIELDS``, ``URL_FIELDS``, ``URL_TEXT_FIELDS``, ``HASH_FIELDS``,
``PLAIN_HASH_FIELDS``...), so what an incident lists as an observable is what is
matched; only the per-value work is cheaper than ``extract()``'s, since a value is only
looked up, never kept:

- addresses go through observables' ``ip()`` once per distinct text (an LRU cache: the
  same addresses recur), so loopback, link-local... are left out as there;
- a host field's value is an address or a name (matched as a domain when it has a dot);
- domains and hashes are only lower-cased: a value that is no domain or hash finds
  nothing in the matcher's dicts, so no pattern check is needed;
- a command line is searched for URLs only when it holds ``://``; a URL's host adds an
  address or a domain, as in ``extract()``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from soc.incidents.observables import (
    DOMAIN_FIELDS,
    HASH_FIELDS,
    HASH_LENGTHS,
    HOST_FIELDS,
    IP_FIELDS,
    IP_LIST_FIELDS,
    PLAIN_HASH_FIELDS,
    URL_FIELDS,
    URL_IN_TEXT,
    URL_TEXT_FIELDS,
    ip,
)
from soc.models import Event

_DEFAULT_PORTS = {"http": ":80", "https": ":443", "ftp": ":21"}
_TRAILING = ".,;:)]}'\""
MAX_URL = 2048


ADDRESS, DOMAIN, URL, HASH = 0, 1, 2, 3
"""The kinds of value found (the first item of each of :func:`event_values`' tuples)."""

Found = list[tuple[int, Any, str, str]]
"""(kind, key, field, canonical text) of each value found: the key of an ``ADDRESS`` is
(IP version, integer), of the others the canonical text itself."""


@lru_cache(maxsize=1 << 16)
def address(text: str) -> tuple[int, int, str] | None:
    """(version, integer, canonical text) of an address worth matching, or None."""
    canonical = ip(text)
    if canonical is None:
        return None
    addr = ipaddress.ip_address(canonical)
    return addr.version, int(addr), canonical


def normalize_url(text: str) -> str | None:
    """``scheme://host[:port]/path[?query]``: scheme and host lower case, a default port
    and the fragment dropped, an empty path as ``/``; None when it is no URL with a host."""
    text = text.strip().rstrip(_TRAILING)
    if len(text) > MAX_URL or "://" not in text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    scheme = parts.scheme.lower()
    netloc = parts.netloc.lower()
    port = _DEFAULT_PORTS.get(scheme)
    if port and netloc.endswith(port):
        netloc = netloc[: -len(port)]
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def _url_host(url: str, field: str, found: Found) -> None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return
    if host:
        _host(host, field, found)


@lru_cache(maxsize=1 << 14)
def host(value: str) -> tuple[int, Any, str] | None:
    """An address, or a name with a dot (matched as a domain): (kind, key, text)."""
    got = address(value)
    if got is not None:
        return ADDRESS, got[:2], got[2]
    name = value.strip().lower().rstrip(".")
    return (DOMAIN, name, name) if "." in name else None


def _host(value: str, field: str, found: Found) -> None:
    got = host(value)
    if got is not None:
        found.append((got[0], got[1], field, got[2]))


def _url(text: str, field: str, found: Found) -> None:
    url = normalize_url(text)
    if url is not None:
        found.append((URL, url, field, url))
        _url_host(url, field, found)


def _ip(text: str, field: str, found: Found) -> None:
    if (got := address(text)) is not None:
        found.append((ADDRESS, got[:2], field, got[2]))


def _ip_list(text: str, field: str, found: Found) -> None:
    for part in text.split(";"):
        _ip(part, field, found)


def _domain(text: str, field: str, found: Found) -> None:
    name = text.strip().lower().rstrip(".")
    found.append((DOMAIN, name, field, name))


def _url_text(text: str, field: str, found: Found) -> None:
    if "://" in text:
        for m in URL_IN_TEXT.finditer(text):
            _url(m.group(), field, found)


def _hashes(text: str, field: str, found: Found) -> None:
    for part in text.split(","):
        alg, sep, value = part.partition("=")
        if sep and alg.strip().upper() in HASH_LENGTHS:
            value = value.strip().lower()
            found.append((HASH, value, field, value))


def _plain_hash(text: str, field: str, found: Found) -> None:
    value = text.strip().lower()
    found.append((HASH, value, field, value))


Pull = Callable[[str, str, Found], None]
_PULLS: dict[str, Pull] = {}
for _names, _pull in (
    (IP_FIELDS, _ip),
    (HOST_FIELDS, _host),
    (IP_LIST_FIELDS, _ip_list),
    (DOMAIN_FIELDS, _domain),
    (URL_FIELDS, _url),
    (URL_TEXT_FIELDS, _url_text),
    (HASH_FIELDS, _hashes),
    (PLAIN_HASH_FIELDS, _plain_hash),
):
    for _name in _names:
        _PULLS.setdefault(_name, _pull)
FIELD_ORDER = {name: i for i, name in enumerate(_PULLS)}
"""Each field's place in observables' field order."""
FIELD_NAMES = frozenset(_PULLS)
"""The fields values are pulled from."""


def texts(value: object) -> list[Any]:
    """A field's value as a list (a string, or a list of values; anything else: none)."""
    if isinstance(value, str):
        return [value]
    return value if isinstance(value, list) else []


def present(fields: dict[str, Any]) -> list[str]:
    """The names of ``fields`` that values are pulled from, in observables' field order."""
    names = FIELD_NAMES.intersection(fields)
    if len(names) < 2:
        return list(names)
    return sorted(names, key=FIELD_ORDER.__getitem__)


def pull(name: str, text: str) -> Found:
    """The values of one text of the field ``name`` (one of :func:`present`'s)."""
    found: Found = []
    _PULLS[name](text, name, found)
    return found


def event_values(event: Event) -> Found:
    """The addresses, domains, URLs and hashes of ``event`` (see the module docstring), in
    observables' field order."""
    fields = event.fields
    found: Found = []
    for name in present(fields):
        value = fields[name]
        pull_one = _PULLS[name]
        for text in texts(value):
            if isinstance(text, str):
                pull_one(text, name, found)
    return found
