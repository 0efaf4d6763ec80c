"""Windows event records in their common shapes, flattened to the field names Sigma rules use.

    sigma_fields(record) -> {"EventID": 4688, "Channel": "Security", "NewProcessName": ...}
                            or None when the record is in no Windows shape known here

Three shapes reach the SOC:

- ``evtx_dump`` JSON, as the ``evtx`` parser prints a record (and SigmaHQ's
  regression data holds it): ``{"Event": {"System": {...}, "EventData": {...}}}``
  or ``"UserData": {"<Element>": {...}}``. The System part gives ``EventID``
  (also when written ``{"#text": 4688, "#attributes": {"Qualifiers": 0}}``),
  ``Channel``, ``Computer``, ``Provider_Name`` (and ``Provider_Guid``,
  ``EventSourceName``), ``TimeCreated`` (SystemTime), ``EventRecordID``,
  ``Level``, ``Task``, ``Opcode``, ``Keywords``, ``Version``, ``ProcessID`` and
  ``ThreadID`` (Execution), ``UserID`` (Security) and ``ActivityID``
  (Correlation). Each named ``<Data>`` of EventData, and each child of
  UserData's one element, becomes a field of its own name; unnamed ``<Data>``
  stays a ``Data`` field (a string, or a list of them) and ``<Binary>`` stays
  ``Binary``. Where EventData names a field as System does, EventData wins,
  except for EventID, Channel, Provider_Name and Computer, which say what the
  record is and how it is routed.
- Winlogbeat/Elastic JSON: ``winlog.event_data.*`` and ``winlog.user_data.*``
  become top-level names; ``winlog.channel``, ``event_id``, ``provider_name``,
  ``computer_name`` and ``record_id`` become Channel, EventID, Provider_Name,
  Computer and EventRecordID; every other key keeps its dotted name.
- Flat JSON with Sigma's names already (OTRF Security-Datasets, NXLog):
  nothing to do here (``None``); the generic flattening applies.

Only structure is handled here. Names that differ between sources and rules
(Security 4688's ``NewProcessName`` for ``Image``, NXLog's ``SourceName`` for
``Provider_Name``, Defender's names with spaces) are mapped on the rule side,
by the processing pipelines in ``soc/detections/pipelines/`` (see docs/adr/0003).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ROUTING = ("EventID", "Channel", "Provider_Name", "Computer")
"""System fields EventData may not override: they say what the record is."""

_WINLOG_NAMES = {
    "channel": "Channel",
    "event_id": "EventID",
    "provider_name": "Provider_Name",
    "provider_guid": "Provider_Guid",
    "computer_name": "Computer",
    "record_id": "EventRecordID",
    "task": "Task",
    "opcode": "Opcode",
    "keywords": "Keywords",
    "version": "Version",
}


def sigma_fields(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record's fields under Sigma's names, or None when it is not a nested Windows shape."""
    event = record.get("Event")
    if isinstance(event, dict) and isinstance(event.get("System"), dict):
        return _from_evtx(event)
    winlog = record.get("winlog")
    if isinstance(winlog, dict) and ("event_id" in winlog or "channel" in winlog):
        return _from_winlog(record, winlog)
    return None


def _text(value: Any) -> Any:
    """An element's text: ``{"#text": x, "#attributes": ...}`` -> x; anything else as is."""
    if isinstance(value, dict) and "#text" in value:
        return value["#text"]
    return value


def _attributes(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        attrs = value.get("#attributes")
        if isinstance(attrs, dict):
            return attrs
    return {}


def _system(system: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("EventID", "Version", "Level", "Task", "Opcode", "Keywords", "EventRecordID"):
        if name in system:
            out[name] = _text(system[name])
    for name in ("Channel", "Computer"):
        if system.get(name) is not None:
            out[name] = _text(system[name])
    provider = _attributes(system.get("Provider"))
    for attr, name in (
        ("Name", "Provider_Name"),
        ("Guid", "Provider_Guid"),
        ("EventSourceName", "EventSourceName"),
    ):
        if provider.get(attr) is not None:
            out[name] = provider[attr]
    for element, attr, name in (
        ("TimeCreated", "SystemTime", "TimeCreated"),
        ("Execution", "ProcessID", "ProcessID"),
        ("Execution", "ThreadID", "ThreadID"),
        ("Security", "UserID", "UserID"),
        ("Correlation", "ActivityID", "ActivityID"),
        ("Correlation", "RelatedActivityID", "RelatedActivityID"),
    ):
        value = _attributes(system.get(element)).get(attr)
        if value is not None:
            out[name] = value
    return out


def _data(part: Any) -> dict[str, Any]:
    """EventData's fields: named children by name; unnamed Data and Binary kept as they are."""
    if not isinstance(part, dict):
        return {} if part is None else {"Data": part}
    out: dict[str, Any] = {}
    for name, value in part.items():
        if name == "#attributes":
            continue
        out[name] = _text(value)
    return out


def _user_data(part: Any) -> dict[str, Any]:
    """UserData holds one element (named per event) whose children are the fields."""
    if not isinstance(part, dict):
        return {}
    out: dict[str, Any] = {}
    for element in part.values():
        if isinstance(element, dict):
            for name, value in element.items():
                if name != "#attributes":
                    out[name] = _text(value)
    return out


def _from_evtx(event: Mapping[str, Any]) -> dict[str, Any]:
    system = _system(event["System"])
    out = dict(system)
    for part in (_data(event.get("EventData")), _user_data(event.get("UserData"))):
        for name, value in part.items():
            if isinstance(value, dict):
                for sub, inner in _dotted(name, value).items():
                    out.setdefault(sub, inner)
            elif name not in _ROUTING or name not in system:
                out[name] = value
    return out


def _dotted(prefix: str, value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        name = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(_dotted(name, v))
        else:
            out[name] = v
    return out


def _from_winlog(record: Mapping[str, Any], winlog: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "winlog":
            continue
        if isinstance(value, dict):
            out.update(_dotted(key, value))
        else:
            out[key] = value
    for key, value in winlog.items():
        if key in ("event_data", "user_data"):
            continue
        if isinstance(value, dict):
            out.update(_dotted(f"winlog.{key}", value))
        else:
            out[f"winlog.{key}"] = value
    for key, name in _WINLOG_NAMES.items():
        if winlog.get(key) is not None:
            out[name] = winlog[key]
    for part in ("event_data", "user_data"):
        data = winlog.get(part)
        if isinstance(data, dict):
            for name, value in data.items():
                if isinstance(value, dict):
                    out.update(_dotted(name, value))
                elif name not in _ROUTING or name not in out:
                    out[name] = value
    return out
