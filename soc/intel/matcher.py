"""Indicators matched against events at the engine's speed: sets and per-prefix dicts.

    matcher = IndicatorMatcher(indicators, now=utcnow())   # immutable; CPU work
    hits = matcher.match(event, now)                      # [Hit(indicator, field, observed)]
    matcher.next_change                                   # rebuild (matcher.rebuilt(now)) then

What is looked at is what soc.incidents.observables pulls from an event, by the same field
lists and helpers (:mod:`soc.intel.event_values`): addresses, domains (and the host names of
host fields), URLs (and their hosts) and file hashes.

- **ip** and **cidr**: one dict per (IP version, prefix length) present, of the network's
  integer (the address shifted right by the host bits) to its indicators; an ``ip`` is a
  /32 or /128. An event address is looked up once per prefix length present, so any
  number of indicators costs as many lookups as there are distinct prefix lengths.
- **domain**: a dict of the domain (lower case, no trailing dot) to its indicators. With
  ``subdomains`` (``intel.match_subdomains``, on by default) an event name also matches
  the indicators of each of its parent domains (``a.b.evil.example`` matches
  ``evil.example``): one lookup per label, no more.
- **url**: a dict of the normalised URL (:func:`normalize_url`) to its indicators.
- **hash**: a dict of the lower-case hex (MD5, SHA-1, SHA-256) to its indicators.

Each indicator applies to its tenant's events, or to every tenant's when its tenant is
``*``. Validity: the matcher keeps the indicators neither revoked nor expired when built,
and checks ``Indicator.live(now)`` on each hit (a hit is rare; the check is exact at any
instant, whenever the matcher was built). :attr:`IndicatorMatcher.next_change` is the
earliest future ``valid_from`` or ``valid_until`` among them: rebuilding then
(:meth:`IndicatorMatcher.rebuilt`, from the kept indicators, no store read) drops the
expired ones and keeps the live count right.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from soc.intel.event_values import (
    ADDRESS,
    DOMAIN,
    FIELD_NAMES,
    FIELD_ORDER,
    URL,
    Found,
    normalize_url,
    pull,
)
from soc.intel.models import Indicator, IndicatorType
from soc.log import get_logger
from soc.models import Event
from soc.settings import ALL_TENANTS

log = get_logger(__name__)

_BITS = {4: 32, 6: 128}
MEMO_MAX = 50_000
"""Field values whose lookups a matcher remembers (then it forgets them all and starts
again): host names, hashes and addresses recur from event to event."""
MEMO_TEXT_MAX = 512
"""Longer values (command lines) are looked up each time, never remembered."""

Candidate = tuple[Sequence[Indicator], str, str]
"""Indicators found for one value, whatever their tenant and validity; field; value."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One indicator matching one value of an event."""

    indicator: Indicator
    field: str
    """The event field the value was found in."""
    observed: str
    """The value found, canonical."""


def network(indicator: Indicator) -> tuple[int, int, int] | None:
    """(IP version, prefix length, network integer) of an ip or cidr indicator, or None."""
    try:
        if indicator.type is IndicatorType.ip:
            addr = ipaddress.ip_address(indicator.value.strip().strip("[]"))
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            return addr.version, _BITS[addr.version], int(addr)
        net = ipaddress.ip_network(indicator.value.strip(), strict=False)
    except ValueError:
        return None
    bits = _BITS[net.version]
    return net.version, net.prefixlen, int(net.network_address) >> (bits - net.prefixlen)


def domain_key(value: str) -> str:
    return value.strip().lower().rstrip(".")


class IndicatorMatcher:
    """An immutable index of indicators; see the module docstring."""

    __slots__ = (
        "_domains",
        "_hashes",
        "_memo",
        "_nets",
        "_urls",
        "generation",
        "invalid",
        "kept",
        "live_count",
        "next_change",
        "subdomains",
    )

    def __init__(
        self,
        indicators: Iterable[Indicator] = (),
        *,
        now: datetime,
        generation: int = 0,
        subdomains: bool = True,
    ) -> None:
        self.generation = generation
        """The store's indicator generation it was built from."""
        self.subdomains = subdomains
        kept: list[Indicator] = []
        nets: dict[tuple[int, int], dict[int, list[Indicator]]] = {}
        domains: dict[str, list[Indicator]] = {}
        urls: dict[str, list[Indicator]] = {}
        hashes: dict[str, list[Indicator]] = {}
        invalid = 0
        live = 0
        changes: list[datetime] = []
        for ind in indicators:
            if ind.revoked or (ind.valid_until is not None and ind.valid_until <= now):
                continue
            key: str | None
            if ind.type in (IndicatorType.ip, IndicatorType.cidr):
                net = network(ind)
                if net is None:
                    invalid += 1
                    continue
                version, prefix, value = net
                nets.setdefault((version, prefix), {}).setdefault(value, []).append(ind)
            else:
                if ind.type is IndicatorType.domain:
                    key, table = domain_key(ind.value), domains
                elif ind.type is IndicatorType.url:
                    key, table = normalize_url(ind.value), urls
                else:
                    key, table = ind.value.strip().lower(), hashes
                if not key:
                    invalid += 1
                    continue
                table.setdefault(key, []).append(ind)
            kept.append(ind)
            if ind.valid_from > now:
                changes.append(ind.valid_from)
            else:
                live += 1
            if ind.valid_until is not None:
                changes.append(ind.valid_until)
        self.kept: tuple[Indicator, ...] = tuple(kept)
        """The indicators not revoked nor expired when built (some may start later)."""
        self.live_count = live
        """The indicators live when built."""
        self.invalid = invalid
        """Indicators left out: a value that is not an address, network, URL..."""
        self.next_change: datetime | None = min(changes) if changes else None
        """The earliest time some kept indicator's validity starts or ends."""
        self._nets: dict[int, tuple[tuple[int, dict[int, tuple[Indicator, ...]]], ...]] = {
            version: tuple(
                (_BITS[version] - prefix, {k: tuple(v) for k, v in table.items()})
                for (ver, prefix), table in sorted(nets.items(), reverse=True)
                if ver == version
            )
            for version in (4, 6)
        }
        self._domains = {k: tuple(v) for k, v in domains.items()}
        self._urls = {k: tuple(v) for k, v in urls.items()}
        self._hashes = {k: tuple(v) for k, v in hashes.items()}
        self._memo: dict[tuple[str, str], tuple[Candidate, ...]] = {}
        """(field, text) -> what :meth:`_candidates` found for it: a cache only, the index
        itself never changes."""

    @property
    def empty(self) -> bool:
        return not self.kept

    def __len__(self) -> int:
        return len(self.kept)

    def rebuilt(self, now: datetime) -> IndicatorMatcher:
        """The same indicators indexed anew at ``now`` (past a validity boundary)."""
        return IndicatorMatcher(
            self.kept, now=now, generation=self.generation, subdomains=self.subdomains
        )

    def due(self, now: datetime) -> bool:
        """Whether a validity boundary has passed since it was built."""
        return self.next_change is not None and now >= self.next_change

    def match(self, event: Event, now: datetime) -> list[Hit]:
        """The indicators live at ``now`` that match a value of ``event`` (of its tenant or
        ``*``), each once, with the first field it matched in."""
        if not self.kept:
            return []
        fields = event.fields
        names = FIELD_NAMES.intersection(fields)
        if not names:
            return []
        if len(names) > 1:
            names = sorted(names, key=FIELD_ORDER.__getitem__)  # type: ignore[assignment]
        memo = self._memo
        candidates: list[Candidate] = []
        for name in names:
            value = fields[name]
            if type(value) is str:  # nearly always: one text per field
                got = memo.get((name, value))
                if got is None:
                    got = self._remember(name, value)
                if got:
                    candidates += got
            elif isinstance(value, list):
                for text in value:
                    if isinstance(text, str):
                        got = memo.get((name, text))
                        if got is None:
                            got = self._remember(name, text)
                        if got:
                            candidates += got
        return self._hits(candidates, event.tenant, now) if candidates else []

    def _remember(self, name: str, text: str) -> tuple[Candidate, ...]:
        """What one text of the field ``name`` finds, kept in the memo unless it is long."""
        got = self._candidates(pull(name, text))
        if len(text) <= MEMO_TEXT_MAX:
            memo = self._memo
            if len(memo) >= MEMO_MAX:
                memo.clear()
            memo[(name, text)] = got
        return got

    def match_values(self, tenant: str, found: Found, now: datetime) -> list[Hit]:
        """As :meth:`match`, over values already pulled from an event (no memo)."""
        candidates = self._candidates(found)
        return self._hits(candidates, tenant, now) if candidates else []

    def _candidates(self, found: Found) -> tuple[Candidate, ...]:
        """The indicators each value's key finds, whatever their tenant and validity."""
        if not found:
            return ()
        candidates: list[Candidate] = []
        nets, domains, urls, hashes = self._nets, self._domains, self._urls, self._hashes
        for kind, key, field, text in found:
            if kind == ADDRESS:
                version, addr = key
                for shift, net_table in nets[version]:
                    got = net_table.get(addr >> shift)
                    if got is not None:
                        candidates.append((got, field, text))
            elif kind == DOMAIN:
                if not domains:
                    continue
                got = domains.get(key)
                if got is not None:
                    candidates.append((got, field, text))
                if self.subdomains:
                    dot = key.find(".")
                    while dot != -1:
                        got = domains.get(key[dot + 1 :])
                        if got is not None:
                            candidates.append((got, field, text))
                        dot = key.find(".", dot + 1)
            else:
                got = (urls if kind == URL else hashes).get(key)
                if got is not None:
                    candidates.append((got, field, text))
        return tuple(candidates)

    @staticmethod
    def _hits(candidates: Sequence[Candidate], tenant: str, now: datetime) -> list[Hit]:
        hits: dict[str, Hit] = {}
        for indicators, field, observed in candidates:
            for ind in indicators:
                if ind.id in hits or (ind.tenant != ALL_TENANTS and ind.tenant != tenant):
                    continue
                if ind.live(now):
                    hits[ind.id] = Hit(ind, field, observed)
        return list(hits.values())
