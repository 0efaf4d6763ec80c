"""AWS CloudTrail records: a log file ``{"Records": [...]}`` or one record per line.

    cloudtrail_events({"Records": [{"eventTime": "2014-03-06T21:22:54Z",
                                    "eventSource": "ec2.amazonaws.com", ...}]}, defaults=d)
        -> [EventIn(logsource=aws/cloudtrail, time=2014-03-06T21:22:54Z, record=<the record>)]

The record is kept whole and nested as CloudTrail writes it; ingest flattens
it to the dotted names SigmaHQ's ``product: aws, service: cloudtrail`` rules
match (``eventSource``, ``eventName``, ``userIdentity.type``,
``requestParameters...``). Time is ``eventTime``, else ``@timestamp`` (a record
that went through Logstash, as OTRF's recorded ones did, may have lost
``eventTime`` and kept only ``@timestamp``). A record names no host:
``host`` stays the connector's own (None by default) and the account is in
``recipientAccountId``. The tenant is never taken from the account id.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ParseError
from connectors.parse._base import Defaults, event
from connectors.parse.syslog import iso_time
from soc.models import EventIn, LogSource

LOGSOURCE = LogSource(product="aws", service="cloudtrail")


def is_cloudtrail(obj: dict[str, Any]) -> bool:
    """A CloudTrail file (``Records``) or one record (``eventSource`` and ``eventName``)."""
    return isinstance(obj.get("Records"), list) or ("eventSource" in obj and "eventName" in obj)


def cloudtrail_items(obj: dict[str, Any]) -> list[Any]:
    """The records of a CloudTrail file, or the object itself when it is one record."""
    records = obj.get("Records")
    return records if isinstance(records, list) else [obj]


def cloudtrail_event(record: dict[str, Any], *, defaults: Defaults) -> EventIn:
    """One CloudTrail record; ParseError when it does not look like one."""
    if not ("eventSource" in record or "eventName" in record):
        raise ParseError("malformed", "CloudTrail record without eventSource or eventName")
    when = record.get("eventTime") or record.get("@timestamp")
    time = iso_time(when) if isinstance(when, str) else None
    return event(record, defaults=defaults, logsource=LOGSOURCE, time=time)
