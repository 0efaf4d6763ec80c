"""One observable value, recognised and put in the form the SOC matches it in.

    classify("10.0.0.0/8")               -> (IndicatorType.cidr, "10.0.0.0/8")
    classify("hxxp://evil[.]example/x")  -> (IndicatorType.url, "http://evil.example/x")
    typed(IndicatorType.domain, "Evil.Example.")  -> "evil.example"

Raises :class:`ValueError` with the reason when the text is no such value.
"""

from __future__ import annotations

import ipaddress
import re

from soc.intel.event_values import normalize_url
from soc.intel.models import IndicatorType

_HEX = re.compile(r"^[0-9a-fA-F]+$")
HASH_LENGTHS = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s/?#]+", re.IGNORECASE)


def refang(text: str) -> str:
    """Undo the usual defanging of shared indicators (``hxxp``, ``[.]``, ``(.)``)."""
    out = text.strip()
    for a, b in (("[.]", "."), ("(.)", "."), ("{.}", "."), ("[:]", ":"), ("[://]", "://")):
        out = out.replace(a, b)
    return re.sub(r"^hxxp", "http", out, flags=re.IGNORECASE)


def address(text: str) -> tuple[IndicatorType, str]:
    """An address (``ip``) or a network (``cidr``; a /32 or /128 is an address)."""
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError as e:
            raise ValueError(f"not an IP network: {text!r}") from e
        if net.prefixlen == net.max_prefixlen:
            return IndicatorType.ip, net.network_address.compressed
        return IndicatorType.cidr, net.compressed
    try:
        return IndicatorType.ip, ipaddress.ip_address(text).compressed
    except ValueError as e:
        raise ValueError(f"not an IP address: {text!r}") from e


def domain(text: str) -> str:
    value = text.strip().lower().rstrip(".")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise ValueError(f"not a domain name: {text!r}")
    if labels[-1].isdigit():
        raise ValueError(f"not a domain name: {text!r}")
    return value


def url(text: str) -> str:
    value = text.strip()
    if not _URL.match(value) or any(c.isspace() for c in value):
        raise ValueError(f"not a URL: {text!r}")
    return normalize_url(value) or value  # as the matcher compares them


def file_hash(text: str, algorithm: str | None = None) -> str:
    """Lower-case hex of an MD5, SHA-1 or SHA-256 (of ``algorithm`` when named)."""
    value = text.strip()
    kind = HASH_LENGTHS.get(len(value))
    if not _HEX.match(value) or kind is None:
        raise ValueError(f"not an MD5, SHA-1 or SHA-256 hash: {text!r}")
    if algorithm is not None and algorithm.upper().replace("-", "") != kind.replace("-", ""):
        raise ValueError(f"not a {algorithm} hash: {text!r}")
    return value.lower()


def typed(type: IndicatorType, text: str) -> str:
    """``text`` as a value of ``type``; raises ValueError."""
    if type in (IndicatorType.ip, IndicatorType.cidr):
        got, value = address(text)
        if got is not type:
            raise ValueError(f"not an {'IP address' if type is IndicatorType.ip else 'network'}")
        return value
    if type is IndicatorType.domain:
        return domain(text)
    if type is IndicatorType.url:
        return url(text)
    return file_hash(text)


def classify(text: str) -> tuple[IndicatorType, str]:
    """Which kind of value ``text`` is (after :func:`refang`), and its matched form."""
    value = refang(text)
    if not value:
        raise ValueError("empty")
    if _URL.match(value):
        return IndicatorType.url, url(value)
    if _HEX.match(value) and len(value) in HASH_LENGTHS:
        return IndicatorType.hash, value.lower()
    if ":" in value or re.match(r"^[0-9./]+$", value):
        return address(value)
    try:
        return IndicatorType.domain, domain(value)
    except ValueError:
        raise ValueError(
            f"not an IP, network, domain, URL or MD5/SHA-1/SHA-256 hash: {text!r}"
        ) from None
