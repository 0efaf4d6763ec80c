"""Personal data out of a STIX bundle, as a tenant's sharing policy asks (``redact``).

Left out: ``user-account`` objects (account names); addresses (``ipv4-addr``,
``ipv6-addr``) that are private (RFC 1918, loopback, link-local, unique local...) or in
the tenant's ``internal_networks``, and URLs on such an address; hosts (``identity`` of
class ``system``: the SOC's own machines). The indicators ``based-on`` them and every
relationship that names a left-out object go too. Their values, and any other internal
IPv4 address, read ``[redacted]`` in the names and descriptions of what remains (an
incident's title that quotes an account or an address). The result is a function of the
bundle and the policy: the same incident redacts to the same objects, so versions stay
stable.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from soc.settings import SharingPolicy

MASK = "[redacted]"
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_TEXT_FIELDS = ("name", "description")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(policy: SharingPolicy) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in policy.internal_networks]


def internal(value: str, nets: Iterable[Network]) -> bool:
    """Whether ``value`` is an address of the SOC's side: private, or in ``nets``."""
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return False
    if addr.is_private or addr.is_loopback or addr.is_link_local:
        return True
    return any(addr.version == n.version and addr in n for n in nets)


def _personal(obj: dict[str, Any], nets: list[Network]) -> list[str] | None:
    """The values ``obj`` carries when it is personal data, else None."""
    kind = obj["type"]
    if kind == "user-account":
        return [str(v) for v in (obj.get("user_id"), obj.get("account_login")) if v]
    if kind in ("ipv4-addr", "ipv6-addr") and internal(str(obj["value"]), nets):
        return [str(obj["value"])]
    if kind == "identity" and obj.get("identity_class") == "system":
        return [str(obj["name"])]
    if kind == "url":
        try:
            host = urlsplit(str(obj["value"])).hostname or ""
        except ValueError:
            host = ""
        if internal(host, nets):
            return [str(obj["value"]), host]
    return None


def _mask(text: str, values: list[str], nets: list[Network]) -> str:
    for value in values:
        text = re.sub(re.escape(value), MASK, text, flags=re.IGNORECASE)
    return _IPV4.sub(lambda m: MASK if internal(m.group(0), nets) else m.group(0), text)


def redact(bundle: dict[str, Any], policy: SharingPolicy) -> dict[str, Any]:
    """``bundle`` without its personal data (a new dict; the input is left alone)."""
    nets = networks(policy)
    objects: list[dict[str, Any]] = bundle["objects"]
    dropped: set[str] = set()
    values: set[str] = set()
    for obj in objects:
        found = _personal(obj, nets)
        if found is not None:
            dropped.add(obj["id"])
            values.update(found)
    for obj in objects:  # indicators based on a dropped object go with it
        based_on = obj["type"] == "relationship" and obj["relationship_type"] == "based-on"
        if based_on and obj["target_ref"] in dropped:
            dropped.add(obj["source_ref"])
    # longest first, so "CORP\\an" is masked whole before "an"
    ordered = sorted(values, key=len, reverse=True)
    kept: list[dict[str, Any]] = []
    for obj in objects:
        if obj["id"] in dropped:
            continue
        if obj["type"] == "relationship" and (
            obj["source_ref"] in dropped or obj["target_ref"] in dropped
        ):
            continue
        out = dict(obj)
        for name in _TEXT_FIELDS:
            if isinstance(out.get(name), str):
                out[name] = _mask(out[name], ordered, nets)
        if "object_refs" in out:
            out["object_refs"] = [r for r in out["object_refs"] if r not in dropped]
        kept.append(out)
    kept_ids = {o["id"] for o in kept}
    for out in kept:  # a report must not name what was dropped (relationships included)
        if "object_refs" in out:
            out["object_refs"] = [r for r in out["object_refs"] if r in kept_ids]
    return {**bundle, "objects": kept}
