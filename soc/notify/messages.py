"""The messages: a notice written in Vietnamese (the default) or English.

A message says what happened and points to the incident in the web UI; it names the
incident's severity, host and rule, and never quotes an event (events may hold personal
data). Times are shown in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from soc.notify.models import Message, Notice
from soc.settings import Lang, Trigger

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")

SUBJECTS: dict[Lang, dict[Trigger, str]] = {
    "vi": {
        "incident_new": "Sự cố mới [{severity}]: {title}",
        "handoff": "Sự cố được chuyển cho {unit} [{severity}]: {title}",
        "rejected": "{unit} từ chối nhận sự cố [{severity}]: {title}",
        "deadline_80": "Sắp quá hạn ({reason}) [{severity}]: {title}",
        "deadline_breached": "Đã quá hạn ({reason}) [{severity}]: {title}",
        "source_silent": "Nguồn log im lặng: {source}",
        "connector_silent": "Mất kết nối với connector: {source}",
        "loss_detected": "Mất sự kiện: {source}",
        "drill_started": "Bắt đầu diễn tập {drill}",
        "drill_ended": "Kết thúc diễn tập {drill}",
        "test": "Tin nhắn thử của SOC",
    },
    "en": {
        "incident_new": "New incident [{severity}]: {title}",
        "handoff": "Incident handed off to {unit} [{severity}]: {title}",
        "rejected": "{unit} rejected the incident [{severity}]: {title}",
        "deadline_80": "Deadline near ({reason}) [{severity}]: {title}",
        "deadline_breached": "Deadline missed ({reason}) [{severity}]: {title}",
        "source_silent": "Log source silent: {source}",
        "connector_silent": "Connector silent: {source}",
        "loss_detected": "Events lost: {source}",
        "drill_started": "Drill {drill} started",
        "drill_ended": "Drill {drill} ended",
        "test": "SOC test message",
    },
}

LABELS: dict[Lang, dict[str, str]] = {
    "vi": {
        "severity": "Mức độ",
        "host": "Máy",
        "rule": "Luật",
        "unit": "Đơn vị",
        "by": "Người thực hiện",
        "reason": "Chi tiết",
        "source": "Nguồn",
        "count": "Số lượng",
        "drill": "Diễn tập",
        "tenant": "Đơn vị quản lý",
        "time": "Thời gian",
        "link": "Xem",
        "drill_note": "(DIỄN TẬP - không phải sự cố thật)",
    },
    "en": {
        "severity": "Severity",
        "host": "Host",
        "rule": "Rule",
        "unit": "Unit",
        "by": "By",
        "reason": "Detail",
        "source": "Source",
        "count": "Count",
        "drill": "Drill",
        "tenant": "Tenant",
        "time": "Time",
        "link": "Open",
        "drill_note": "(DRILL - not a real incident)",
    },
}

SEVERITIES: dict[Lang, dict[str, str]] = {
    "vi": {
        "informational": "thông tin",
        "low": "thấp",
        "medium": "trung bình",
        "high": "cao",
        "critical": "nghiêm trọng",
    },
    "en": {},
}


def link(base_url: str, notice: Notice) -> str | None:
    if notice.incident is None:
        return None
    return f"{base_url.rstrip('/')}/ui#/incidents/{notice.incident}"


def render(notice: Notice, lang: Lang, *, base_url: str) -> Message:
    labels = LABELS[lang]
    severity = ""
    if notice.severity is not None:
        severity = SEVERITIES[lang].get(notice.severity.value, notice.severity.value)
    values = {
        "severity": severity,
        "title": notice.title or notice.incident or "",
        "unit": notice.unit or "SOC",
        "reason": notice.reason or "",
        "source": notice.source or "",
        "drill": notice.drill or "",
    }
    subject = SUBJECTS[lang][notice.trigger].format(**values)
    if notice.drill and notice.trigger not in ("drill_started", "drill_ended"):
        subject = f"{labels['drill_note']} {subject}"
    url = link(base_url, notice)
    lines = [subject, ""]
    shown: list[tuple[str, object]] = [
        ("severity", severity or None),
        ("host", notice.host),
        ("rule", notice.rule),
        ("unit", notice.unit),
        ("by", notice.by),
        ("reason", notice.reason),
        ("source", notice.source),
        ("count", notice.count),
        ("drill", notice.drill),
        ("tenant", notice.tenant),
        ("time", notice.time.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S (GMT+7)")),
    ]
    lines += [f"{labels[name]}: {value}" for name, value in shown if value not in (None, "")]
    if url is not None:
        lines += ["", f"{labels['link']}: {url}"]
    text = "\n".join(lines)
    fields = {
        "text": text,
        "subject": subject,
        "link": url or "",
        "severity": severity,
        "host": notice.host or "",
        "rule": notice.rule or "",
        "tenant": notice.tenant,
        "trigger": notice.trigger,
        "incident": notice.incident or "",
    }
    return Message(subject=subject, text=text, link=url, fields=fields)
