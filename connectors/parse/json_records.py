"""JSON records: which kind each object is, the objects of a document, Windows and generic JSON.

    json_items(obj, kind)   -> the records of a document (CloudTrail Records, EventList items,
                               an array's elements, or the object itself)
    classify(obj)           -> "cloudtrail" | "k8s-audit" | "windows-json" | "json"
    json_event(obj, kind, defaults=d) -> EventIn

Windows records (evtx_dump JSON, Winlogbeat JSON, flat JSON with Sigma's
names) are recognised and routed by soc.ingest: ``sigma_fields`` (evtx_dump
and Winlogbeat shapes) and ``infer_logsource`` (channel and event id); no
Windows logic is repeated here. The record is passed through untouched and
time and host are left for ingest's normalization to find. Any other JSON
object is passed through with the connector's configured logsource.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from connectors.parse.cloudtrail import cloudtrail_event, cloudtrail_items, is_cloudtrail
from connectors.parse.kubernetes import is_k8s_audit, k8s_audit_event, k8s_items
from soc.ingest.normalize import HOST_FIELDS, first_field, flatten, infer_logsource
from soc.ingest.windows import sigma_fields
from soc.models import EventIn, LogSource


def classify(obj: dict[str, Any]) -> str:
    """The JSON format an object is in, by its shape."""
    if is_cloudtrail(obj):
        return "cloudtrail"
    if is_k8s_audit(obj):
        return "k8s-audit"
    if windows_logsource(obj) is not None:
        return "windows-json"
    return "json"


def json_items(obj: Any, kind: str) -> list[Any]:
    """The records a parsed JSON value holds, for a format (``auto`` looks at each object)."""
    if isinstance(obj, list):
        return [item for element in obj for item in json_items(element, kind)]
    if not isinstance(obj, dict):
        return [obj]
    if kind in ("cloudtrail", "auto") and isinstance(obj.get("Records"), list):
        return cloudtrail_items(obj)
    if kind in ("k8s-audit", "auto") and obj.get("kind") == "EventList":
        return k8s_items(obj)
    return [obj]


def json_event(obj: Any, kind: str, *, defaults: Defaults) -> EventIn:
    """One record of a JSON format; ParseError when it is not an object of that format."""
    if not isinstance(obj, dict) or not obj:
        raise ParseError("malformed", f"a record must be a non-empty JSON object, not {obj!r:.60}")
    if kind == "auto":
        kind = classify(obj)
    if kind == "cloudtrail":
        return cloudtrail_event(obj, defaults=defaults)
    if kind == "k8s-audit":
        return k8s_audit_event(obj, defaults=defaults)
    host = record_host(obj)
    if kind == "windows-json":
        return event(obj, defaults=defaults, logsource=windows_logsource(obj), host=host)
    return event(obj, defaults=defaults, logsource=None, host=host)


def record_host(obj: dict[str, Any]) -> str | None:
    """The host a record names of itself (Windows ``Hostname``/``Computer``, ``host.name``,
    ...: soc.ingest's HOST_FIELDS), or None: the configured host stands only for records
    that name none, so a collector forwarding many machines' logs does not become their
    one host."""
    fields = sigma_fields(obj)
    found = first_field(fields if fields is not None else flatten(obj), HOST_FIELDS)
    return found if isinstance(found, str) and found else None


def windows_logsource(obj: dict[str, Any]) -> LogSource | None:
    """The Sigma logsource soc.ingest gives a Windows record, None when it is not one."""
    fields = sigma_fields(obj)
    ls = infer_logsource(fields if fields is not None else flatten(obj))
    return ls if ls.product else None
