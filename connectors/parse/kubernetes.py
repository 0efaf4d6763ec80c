"""Kubernetes API server audit events (``audit.k8s.io/v1``): one per line, or an EventList.

    k8s_audit_event({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": "delete",
                     "objectRef": {"resource": "events", ...}, ...}, defaults=d)
        -> EventIn(logsource=kubernetes/application/audit, record=<the event>)

The event is kept whole and nested; ingest flattens it to the names SigmaHQ's
Kubernetes rules match (``verb``, ``objectRef.resource``,
``objectRef.namespace``, ``objectRef.subresource``, ``responseStatus.code``,
``user.username``...). Logsource is ``product: kubernetes, category:
application, service: audit``: the rules under rules/application/kubernetes
set product and service, and some also ``category: application``, so all three
are set for every rule to route. Time is ``stageTimestamp``, else
``requestReceivedTimestamp``. An audit event names no node: ``host`` is the
connector's (configure it as the cluster's name).
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from connectors.parse.syslog import iso_time
from soc.models import EventIn, LogSource

LOGSOURCE = LogSource(product="kubernetes", category="application", service="audit")


def is_k8s_audit(obj: dict[str, Any]) -> bool:
    api = obj.get("apiVersion")
    return isinstance(api, str) and api.startswith("audit.k8s.io/")


def k8s_items(obj: dict[str, Any]) -> list[Any]:
    """The events of an EventList, or the object itself when it is one event."""
    items = obj.get("items")
    return items if obj.get("kind") == "EventList" and isinstance(items, list) else [obj]


def k8s_audit_event(obj: dict[str, Any], *, defaults: Defaults) -> EventIn:
    """One audit event; ParseError when it has neither verb nor auditID."""
    if "verb" not in obj and "auditID" not in obj:
        raise ParseError("malformed", "Kubernetes audit event without verb or auditID")
    time = None
    for name in ("stageTimestamp", "requestReceivedTimestamp"):
        value = obj.get(name)
        if isinstance(value, str) and (time := iso_time(value)) is not None:
            break
    return event(obj, defaults=defaults, logsource=LOGSOURCE, time=time)
