"""Outside intelligence in, :class:`~soc.intel.models.Indicator` s out.

    taken = parse(data, Intake(source="file:hue-isac.json", tenant="*"))
    taken.indicators   # one per value, ids by Indicator.make_id(source, type, value)
    taken.rejects      # every item not taken, with where it was and why

Three formats, told apart by :func:`parse` (or named: :func:`parse_stix`,
:func:`parse_misp`, :func:`parse_plain`):

- STIX 2.1: a bundle, a list of objects or one object. ``indicator`` objects with
  ``pattern_type: stix`` whose pattern (parsed with stix2-patterns) is one comparison or
  an OR of ``=`` comparisons on ``ipv4-addr:value``, ``ipv6-addr:value`` (an address or a
  network), ``domain-name:value``, ``url:value`` or ``file:hashes.'SHA-256'`` /
  ``'SHA-1'`` / ``MD5``. The newest version (``modified``) of each STIX id wins. TLP from
  ``object_marking_refs`` (TLP 1.0 and the OASIS TLP 2.0 marking definitions, or a TLP
  marking definition in the bundle); unmarked: the intake's default.
- MISP JSON export: ``{"Event": {...}}``, a list of those, or ``{"response": [...]}``;
  attributes of the event and its objects, ``to_ids`` respected, TLP from ``tlp:`` tags
  (the attribute's over the event's), the event's ``info`` as the name.
- Plain lists: one value per line (``# comments``; ``value  # note``), each value's type
  recognised (soc.intel.values).

A whole input that cannot be read raises :class:`~soc.errors.IntelFormatError`; a single
item that cannot be used is a :class:`Reject` (``rejected``: malformed; ``skipped``:
well-formed but nothing the SOC matches), never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from stix2patterns.exceptions import ParseException
from stix2patterns.v21.inspector import InspectionListener
from stix2patterns.v21.pattern import Pattern

from soc.errors import IntelFormatError
from soc.intel import values
from soc.intel.models import Indicator, IndicatorType, Tlp
from soc.models import utcnow
from soc.settings import ALL_TENANTS

Format = Literal["stix", "misp", "plain"]

TLP_MARKINGS: dict[str, Tlp] = {
    # TLP 1.0, as the STIX 2.1 specification (and stix2's TLP_WHITE...) defines them
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
    # TLP 2.0, OASIS's extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
}
TLP_NAMES: dict[str, Tlp] = {
    "white": "clear",
    "clear": "clear",
    "green": "green",
    "amber": "amber",
    "amber+strict": "amber+strict",
    "red": "red",
}
TLP_RANK: dict[Tlp, int] = {"clear": 0, "green": 1, "amber": 2, "amber+strict": 3, "red": 4}

STIX_PATHS: dict[tuple[str, str], IndicatorType | None] = {
    ("ipv4-addr", "value"): None,  # an address or a network
    ("ipv6-addr", "value"): None,
    ("domain-name", "value"): IndicatorType.domain,
    ("url", "value"): IndicatorType.url,
    ("file", "hashes.SHA-256"): IndicatorType.hash,
    ("file", "hashes.SHA-1"): IndicatorType.hash,
    ("file", "hashes.MD5"): IndicatorType.hash,
}

ADDRESS = None
"""An address or a network, as the value says."""
MISP_TYPES: dict[str, tuple[tuple[int, IndicatorType | None], ...]] = {
    # the parts of a value (``a|b``) that are indicators, and their type
    "ip-src": ((0, ADDRESS),),
    "ip-dst": ((0, ADDRESS),),
    "ip-src|port": ((0, ADDRESS),),
    "ip-dst|port": ((0, ADDRESS),),
    "domain": ((0, IndicatorType.domain),),
    "hostname": ((0, IndicatorType.domain),),
    "url": ((0, IndicatorType.url),),
    "md5": ((0, IndicatorType.hash),),
    "sha1": ((0, IndicatorType.hash),),
    "sha256": ((0, IndicatorType.hash),),
    "filename|md5": ((1, IndicatorType.hash),),
    "filename|sha1": ((1, IndicatorType.hash),),
    "filename|sha256": ((1, IndicatorType.hash),),
    "domain|ip": ((0, IndicatorType.domain), (1, ADDRESS)),
}


class Intake(BaseModel):
    """What an input does not say itself: where it came from and the defaults."""

    source: str = Field(min_length=1, max_length=200)
    tenant: str = ALL_TENANTS
    tlp: Tlp = "amber"
    """For items without a TLP marking."""
    confidence: int | None = Field(None, ge=0, le=100)
    """For items without their own confidence."""
    valid_until: datetime | None = None
    """For items without their own end of validity."""


class Reject(BaseModel):
    """One item not taken in."""

    where: str
    """``line 7``, a STIX id, ``attribute <uuid>``..."""
    value: str = ""
    kind: Literal["rejected", "skipped"]
    """``rejected``: malformed; ``skipped``: well-formed, but nothing the SOC matches."""
    reason: str


class Taken(BaseModel):
    format: Format
    indicators: list[Indicator] = Field(default_factory=list)
    rejects: list[Reject] = Field(default_factory=list)
    revised: list[str] = Field(default_factory=list)
    """STIX ids read in a later version than their first (``modified`` after ``created``):
    values an earlier version named and this one does not are to be revoked
    (:func:`soc.intel.intake.store_taken`)."""

    def counts(self) -> dict[str, int]:
        out = {"indicators": len(self.indicators)}
        for kind in ("rejected", "skipped"):
            out[kind] = sum(1 for r in self.rejects if r.kind == kind)
        return out


def parse(data: bytes | str | Any, intake: Intake, *, format: Format | None = None) -> Taken:
    """Read ``data`` (bytes, text or already-decoded JSON) as ``format``, or as whatever it
    is: JSON with ``Event``/``response`` is MISP, other JSON STIX, anything else a list."""
    if format == "plain":
        return parse_plain(_text(data), intake)
    doc = data
    if isinstance(data, bytes | str):
        text = _text(data)
        try:
            doc = json.loads(text)
        except ValueError as e:
            if format is not None:
                raise IntelFormatError(format, f"not JSON: {e}") from e
            return parse_plain(text, intake)
        except RecursionError as e:  # Python's json recurses: [[[[... past its limit
            raise IntelFormatError(format or "stix", "not JSON: nested too deeply") from e
    if format == "misp" or (format is None and _looks_misp(doc)):
        return parse_misp(doc, intake)
    return parse_stix(doc, intake)


def _text(data: bytes | str | Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise IntelFormatError("plain", f"not UTF-8 text: {e}") from e
    raise IntelFormatError("plain", "a list must be text")


def _looks_misp(doc: Any) -> bool:
    if isinstance(doc, dict):
        return "Event" in doc or "response" in doc
    return isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict) and "Event" in doc[0]


def _indicator(intake: Intake, type: IndicatorType, value: str, **fields: Any) -> Indicator:
    fields.setdefault("tlp", intake.tlp)
    if fields.get("confidence") is None:
        fields["confidence"] = intake.confidence
    if fields.get("valid_until") is None:
        fields["valid_until"] = intake.valid_until
    fields.setdefault("valid_from", utcnow())
    return Indicator(
        id=Indicator.make_id(intake.source, type, value),
        tenant=intake.tenant,
        type=type,
        value=value,
        source=intake.source,
        **fields,
    )


# Plain lists


def parse_plain(text: str, intake: Intake) -> Taken:
    taken = Taken(format="plain")
    seen: set[str] = set()
    now = utcnow()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        token, _, rest = line.partition(" ")
        rest = rest.strip()
        if "\t" in token:
            token, _, more = token.partition("\t")
            rest = f"{more} {rest}".strip()
        if rest and not rest.startswith("#"):
            taken.rejects.append(
                Reject(
                    where=f"line {number}",
                    value=line[:200],
                    kind="rejected",
                    reason="one value per line (a note goes after '#')",
                )
            )
            continue
        try:
            type, value = values.classify(token)
        except ValueError as e:
            taken.rejects.append(
                Reject(where=f"line {number}", value=token[:200], kind="rejected", reason=str(e))
            )
            continue
        indicator = _indicator(
            intake, type, value, description=rest.lstrip("#").strip(), valid_from=now
        )
        if indicator.id not in seen:
            seen.add(indicator.id)
            taken.indicators.append(indicator)
    return taken


# STIX 2.1


class _Shape(InspectionListener):  # type: ignore[misc]
    """stix2-patterns' inspection, plus whether comparisons are ANDed inside one
    observation (``[a:x = 1 AND b:y = 2]``)."""

    def __init__(self) -> None:
        super().__init__()
        self.anded = False

    def exitComparisonExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self.anded = True


def _literal(text: str) -> str:
    """A pattern's string literal without its quotes and escapes."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return text


_WS = r"[ \t\r\n]*"
_SIMPLE = re.compile(
    rf"^{_WS}\[{_WS}"
    r"(?:(?P<type>ipv4-addr|ipv6-addr|domain-name|url):value"
    r"|file:hashes\.(?:'(?P<quoted>SHA-256|SHA-1|MD5)'|(?P<bare>MD5)))"
    rf"{_WS}={_WS}'(?P<literal>(?:[^'\\]|\\['\\])*)'{_WS}\]{_WS}$"
)
"""``[type:value = 'literal']`` or ``[file:hashes.'SHA-256' = 'literal']``: one comparison
of a path the SOC matches, which the STIX grammar reads exactly so."""


def _simple(pattern: str) -> dict[str, list[tuple[list[Any], str, str]]] | None:
    """As :func:`_parsed`, for a pattern of the commonest shape (:data:`_SIMPLE`), read
    without the grammar's parser (a hundred times faster); None for any other shape."""
    simple = _SIMPLE.match(pattern)
    if simple is None:
        return None
    literal = f"'{simple['literal']}'"
    if simple["type"]:
        return {simple["type"]: [(["value"], "=", literal)]}
    return {"file": [(["hashes", simple["quoted"] or simple["bare"]], "=", literal)]}


def _parsed(pattern: str) -> dict[str, list[tuple[list[Any], str, str]]]:
    """The comparisons of ``pattern`` by object type, read by the STIX 2.1 grammar; raises
    ValueError when it is not a pattern or not one value."""
    try:
        compiled = Pattern(pattern)
    except ParseException as e:
        raise ValueError(f"not a STIX pattern: {e}") from e
    shape = _Shape()
    compiled.walk(shape)
    data = shape.pattern_data()
    ops = set(data.observation_ops) - {"OR"}
    if ops:
        raise ValueError(f"observations joined by {'/'.join(sorted(ops))}: not one value")
    if data.qualifiers:
        raise ValueError(f"qualified observations ({', '.join(sorted(data.qualifiers))})")
    if shape.anded:
        raise ValueError("comparisons joined by AND: not one value")
    comparisons: dict[str, list[tuple[list[Any], str, str]]] = data.comparisons
    return comparisons


def pattern_values(pattern: str) -> tuple[list[tuple[IndicatorType, str]], list[str]]:
    """The values a STIX pattern names, and why any comparison of it is not used.

    Raises ValueError when the whole pattern is of no use (and why)."""
    comparisons = _simple(pattern) or _parsed(pattern)
    found: list[tuple[IndicatorType, str]] = []
    unused: list[str] = []
    for object_type, compared in comparisons.items():
        for path, op, raw in compared:
            name = ".".join(str(p) for p in path)
            where = f"{object_type}:{name}"
            if (object_type, name) not in STIX_PATHS:
                unused.append(f"{where}: not an observable the SOC matches")
                continue
            if op != "=":
                unused.append(f"{where} {op}: only '=' is matched")
                continue
            text = _literal(raw)
            try:
                if STIX_PATHS[(object_type, name)] is None:
                    found.append(values.address(text))
                elif object_type == "file":
                    found.append((IndicatorType.hash, values.file_hash(text, path[-1])))
                else:
                    type = STIX_PATHS[(object_type, name)]
                    assert type is not None
                    found.append((type, values.typed(type, text)))
            except ValueError as e:
                unused.append(f"{where}: {e}")
    if not found:
        raise ValueError("; ".join(unused) or "no comparison")
    return found, unused


def _stix_objects(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        objects = doc.get("objects", [])
    elif isinstance(doc, dict) and "objects" in doc:  # a TAXII envelope
        objects = doc.get("objects") or []
    elif isinstance(doc, dict) and "type" in doc:
        objects = [doc]
    elif isinstance(doc, list):
        objects = doc
    else:
        raise IntelFormatError("stix", "neither a bundle, a list of objects nor one object")
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise IntelFormatError("stix", "objects must be a list of JSON objects")
    return objects


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError) as e:  # past year 9999, or inf/nan
            raise ValueError(f"not a time: {value!r}") from e
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:  # a MISP date: 2026-12-01
                parsed = datetime.strptime(value, "%Y-%m-%d")
            except ValueError as e:
                raise ValueError(f"not a time: {value!r}") from e
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a time: {value!r}")


def marking_tlp(obj: dict[str, Any]) -> Tlp | None:
    """The TLP a marking-definition object of the bundle stands for, if any."""
    extensions = obj.get("extensions")
    for ext in extensions.values() if isinstance(extensions, dict) else ():
        if isinstance(ext, dict) and isinstance(ext.get("tlp_2_0"), str):
            return TLP_NAMES.get(ext["tlp_2_0"].lower())
    definition = obj.get("definition")
    if obj.get("definition_type") == "tlp" and isinstance(definition, dict):
        return TLP_NAMES.get(str(definition.get("tlp", "")).lower())
    name = str(obj.get("name", "")).lower()
    return TLP_NAMES.get(name.removeprefix("tlp:")) if name.startswith("tlp:") else None


def _strictest(tlps: Iterable[Tlp]) -> Tlp | None:
    found: list[Tlp] = sorted(tlps, key=lambda t: TLP_RANK[t])
    return found[-1] if found else None


def _modified(obj: dict[str, Any]) -> datetime:
    try:
        return _time(obj.get("modified") or obj.get("created")) or datetime.min.replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def latest(objects: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each STIX id once: its version of the latest ``modified`` (in first-seen order)."""
    newest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        key = str(obj.get("id", ""))
        held = newest.get(key)
        if held is None or _modified(obj) >= _modified(held):
            newest[key] = obj
    yield from newest.values()


def parse_stix(doc: Any, intake: Intake, *, markings: dict[str, Tlp] | None = None) -> Taken:
    """The indicators of STIX 2.1 objects (``markings``: TLPs of marking definitions
    known from elsewhere, e.g. earlier pages of a feed)."""
    objects = _stix_objects(doc)
    known = {**TLP_MARKINGS, **(markings or {})}
    for obj in objects:
        if obj.get("type") == "marking-definition" and (tlp := marking_tlp(obj)):
            known[str(obj.get("id"))] = tlp
    taken = Taken(format="stix")
    chosen: dict[str, Indicator] = {}
    for obj in latest(o for o in objects if o.get("type") == "indicator"):
        if obj.get("modified") and obj.get("modified") != obj.get("created"):
            taken.revised.append(str(obj.get("id")))
        for item in _stix_indicator(obj, intake, known, taken):
            chosen[item.id] = item  # a later indicator naming the same value wins
    taken.indicators = list(chosen.values())
    return taken


def _stix_indicator(
    obj: dict[str, Any], intake: Intake, markings: dict[str, Tlp], taken: Taken
) -> list[Indicator]:
    stix_id = str(obj.get("id", "?"))
    pattern = str(obj.get("pattern", ""))

    def reject(kind: Literal["rejected", "skipped"], reason: str) -> list[Indicator]:
        taken.rejects.append(Reject(where=stix_id, value=pattern[:200], kind=kind, reason=reason))
        return []

    if obj.get("pattern_type", "stix") != "stix":
        return reject("skipped", f"pattern_type {obj.get('pattern_type')!r} is not matched")
    try:
        found, unused = pattern_values(pattern)
    except ValueError as e:
        kind: Literal["rejected", "skipped"] = (
            "rejected" if str(e).startswith("not a STIX pattern") else "skipped"
        )
        return reject(kind, str(e))
    for reason in unused:
        reject("skipped", reason)
    tlp = _strictest(markings[m] for m in obj.get("object_marking_refs") or [] if m in markings)
    try:
        valid_from = _time(obj.get("valid_from")) or utcnow()
        valid_until = _time(obj.get("valid_until"))
        fields: dict[str, Any] = {
            "stix_id": stix_id,
            "name": str(obj.get("name") or ""),
            "description": str(obj.get("description") or ""),
            "confidence": obj.get("confidence"),
            "labels": [str(x) for x in obj.get("labels") or []],
            "valid_from": valid_from,
            "valid_until": valid_until,
            "revoked": bool(obj.get("revoked", False)),
            "tlp": tlp or intake.tlp,
        }
        return [_indicator(intake, type, value, **fields) for type, value in found]
    except (ValueError, ValidationError) as e:
        return reject("rejected", _short(e))


def _short(e: Exception) -> str:
    if isinstance(e, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
    return str(e)


# MISP


def _events(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and "response" in doc:
        doc = doc["response"]
    items = doc if isinstance(doc, list) else [doc]
    events = [i.get("Event") for i in items if isinstance(i, dict)]
    if not items or not all(isinstance(e, dict) for e in events) or len(events) != len(items):
        raise IntelFormatError("misp", 'expected {"Event": {...}} or a list of them')
    return events  # type: ignore[return-value]


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list a MISP export holds; nothing when it holds no list there."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _tags(holder: dict[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in _dicts(holder.get("Tag"))]


def _tag_tlp(tags: list[str]) -> Tlp | None:
    return _strictest(
        TLP_NAMES[t.lower().removeprefix("tlp:")]
        for t in tags
        if t.lower().startswith("tlp:") and t.lower().removeprefix("tlp:") in TLP_NAMES
    )


def _yes(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def parse_misp(doc: Any, intake: Intake) -> Taken:
    taken = Taken(format="misp")
    chosen: dict[str, Indicator] = {}
    for event in _events(doc):
        event_tags = _tags(event)
        attributes = _dicts(event.get("Attribute"))
        for obj in _dicts(event.get("Object")):
            attributes += _dicts(obj.get("Attribute"))
        for attribute in attributes:
            for item in _misp_attribute(attribute, event, event_tags, intake, taken):
                chosen[item.id] = item
    taken.indicators = list(chosen.values())
    return taken


def _misp_attribute(
    attribute: dict[str, Any],
    event: dict[str, Any],
    event_tags: list[str],
    intake: Intake,
    taken: Taken,
) -> list[Indicator]:
    kind = str(attribute.get("type", ""))
    raw = str(attribute.get("value", ""))
    where = f"attribute {attribute.get('uuid') or attribute.get('id') or '?'}"

    def reject(how: Literal["rejected", "skipped"], reason: str) -> list[Indicator]:
        taken.rejects.append(
            Reject(where=where, value=f"{kind} {raw}"[:200], kind=how, reason=reason)
        )
        return []

    if kind not in MISP_TYPES:
        return reject("skipped", f"attribute type {kind!r} is not matched")
    if not _yes(attribute.get("to_ids", False)):
        return reject("skipped", "to_ids is off (not for detection)")
    parts = raw.split("|") if "|" in kind else [raw]
    if len(parts) != kind.count("|") + 1:
        return reject("rejected", f"a {kind} value has {kind.count('|') + 1} parts")
    tags = _tags(attribute)
    out: list[Indicator] = []
    try:
        valid_from = (
            _time(attribute.get("first_seen"))
            or _time(attribute.get("timestamp"))
            or _time(event.get("date"))
            or utcnow()
        )
        fields: dict[str, Any] = {
            "name": str(event.get("info") or ""),
            "description": str(attribute.get("comment") or ""),
            "labels": [t for t in [*event_tags, *tags] if not t.lower().startswith("tlp:")],
            "valid_from": valid_from,
            "valid_until": _time(attribute.get("last_seen")),
            "tlp": _tag_tlp(tags) or _tag_tlp(event_tags) or intake.tlp,
        }
        for index, type in MISP_TYPES[kind]:
            part = parts[index].strip()
            if type is None:
                type, value = values.address(part)
            else:
                value = values.typed(type, part)
            out.append(_indicator(intake, type, value, **fields))
    except (ValueError, ValidationError) as e:
        return reject("rejected", _short(e))
    return out
