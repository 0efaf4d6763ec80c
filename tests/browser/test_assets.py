"""The UI's files, read without a browser: two complete dictionaries, nothing from outside.

The pages must work on the SOC's air-gapped network, so no file may refer to
another host, and every label the scripts use must exist in Vietnamese and English.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

from soc.api.routes.ui import ASSETS, UI_DIR
from soc.detect.coverage import TACTICS, UNKNOWN_TACTIC
from soc.drills.models import DrillState, Outcome
from soc.drills.report import CSS_FILE as REPORT_CSS
from soc.sources.health import Health, IntervalFrom

NAMESPACES = (
    "action|alert|alerts|app|common|deadline|duration|error|explorer|field|filter|inbox|incident|"
    "incidents|lang|live|login|nav|observable|overview|role|time|severity|verdict|"
    "alert_status|incident_status|handoff_state"
    "|hunts|hunt_state|hunt_mode"
    "|rules|rule_status|rule_origin|coverage|tactic"
    "|drill|drills|drill_state|drill_outcome|drill_milestone"
    "|sources|source_state|source_from"
)
KEY = re.compile(rf"""['"`]((?:{NAMESPACES})\.[a-z_]+)['"`]""")
DYNAMIC = {
    "severity": ["critical", "high", "medium", "low", "informational"],
    "alert_status": ["open", "acknowledged", "closed"],
    "incident_status": [
        "new",
        "triaged",
        "handed_off",
        "acknowledged",
        "responding",
        "resolved",
        "closed",
        "closed_false_positive",
    ],
    "handoff_state": ["pending", "accepted", "rejected", "recalled"],
    "verdict": ["undetermined", "true_positive", "false_positive"],
    "role": ["viewer", "analyst", "lead", "responder", "admin"],
    "live": ["live", "connecting", "off"],
    "observable": ["ip", "host", "account", "hash", "domain", "url"],
    "action": [
        "triage",
        "hand_off",
        "recall",
        "accept",
        "reject",
        "start_response",
        "resolve",
        "close",
        "close_false_positive",
        "reopen",
    ],
    "deadline": ["breached_acknowledge", "breached_resolve"],
    "explorer": [
        "range_15m",
        "range_1h",
        "range_4h",
        "range_24h",
        "range_7d",
        "range_30d",
        "range_90d",
    ],
    "hunt_state": ["queued", "running", "done", "failed", "cancelled"],
    "hunt_mode": ["preview", "raise"],
    "rules": ["on", "off", "accepted", "refused"],
    "rule_status": ["stable", "test", "experimental", "deprecated", "unsupported"],
    "rule_origin": ["file", "uploaded"],
    "tactic": [t.replace("-", "_") for t in (*TACTICS, UNKNOWN_TACTIC)],
    "drills": [
        "announced",
        "blind",
        *(f"{p}{o}" for p in ("", "done_") for o in ("pause", "resume", "end", "abort")),
        "confirm_end",
        "confirm_abort",
    ],
    "drill_state": [s.value for s in DrillState],
    "drill_outcome": [*get_args(Outcome), "unbudgeted"],
    "drill_milestone": ["triage", "hand_off", "acknowledge", "resolve"],
    "source_state": [s.value for s in Health],
    "source_from": list(get_args(IntervalFrom)),
}
"""Keys built from API values (`${group}.${value}`): every value the API may send."""
NOT_KEYS = {"alerts.per_hour"}


def dictionaries() -> dict[str, dict[str, str]]:
    return {
        lang: json.loads((UI_DIR / f"i18n/{lang}.json").read_text("utf-8")) for lang in ("vi", "en")
    }


def test_both_languages_have_every_key() -> None:
    d = dictionaries()
    assert set(d["vi"]) == set(d["en"])
    used = set()
    for path in [*UI_DIR.rglob("*.js"), UI_DIR / "index.html"]:
        used |= set(KEY.findall(path.read_text("utf-8")))
    used |= {f"{group}.{v}" for group, values in DYNAMIC.items() for v in values}
    missing = sorted(used - NOT_KEYS - set(d["vi"]))
    assert missing == []
    for lang, entries in d.items():
        assert all(v.strip() for v in entries.values()), lang


def test_vietnamese_labels_carry_their_diacritics() -> None:
    vi = dictionaries()["vi"]
    expected = {
        "nav.alerts": "Cảnh báo",
        "nav.incidents": "Sự cố",
        "action.hand_off": "Chuyển giao",
        "action.accept": "Tiếp nhận",
        "action.reject": "Từ chối",
        "login.submit": "Đăng nhập",
        "field.severity": "Mức độ",
        "field.status": "Trạng thái",
        "incident_status.resolved": "Đã xử lý",
        "action.close": "Đóng",
        "incident.comments": "Bình luận",
        "nav.inbox": "Hộp nhận chuyển giao",
        "nav.overview": "Tổng quan",
        "nav.rules": "Quy tắc",
        "coverage.title": "Độ bao phủ ATT&CK",
        "rules.enabled": "Bật/Tắt",
        "rules.alerts_7d": "Cảnh báo 7 ngày",
        "tactic.credential_access": "Truy cập thông tin xác thực",
        "nav.sources": "Nguồn log",
        "source_state.silent": "Im lặng",
    }
    assert {k: vi[k] for k in expected} == expected


def test_no_file_refers_to_another_host() -> None:
    outside = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.I)
    svg_ns = "http://www.w3.org/2000/svg"  # an XML namespace name, never fetched
    for rel, path in ASSETS.items():
        if path.suffix == ".png":
            continue
        found = outside.findall(path.read_text("utf-8").replace(svg_ns, ""))
        assert not found, f"{rel} refers to {found}"
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.I)
    for rel, path in ASSETS.items():
        if path.suffix == ".html":
            assert not inline.search(path.read_text("utf-8")), f"{rel} has inline script"


def test_scripts_stay_small() -> None:
    for rel, path in ASSETS.items():
        if path.suffix == ".js":
            assert len(path.read_text("utf-8").splitlines()) <= 400, rel


def test_assets_ship_in_the_package() -> None:
    assert {"index.html", "app.css", "js/main.js", "i18n/vi.json", "i18n/en.json"} <= set(ASSETS)
    assert ASSETS["drill-report.css"] == REPORT_CSS  # the drill report's, from soc/drills
    index = (UI_DIR / "index.html").read_text("utf-8")
    assert '<link rel="stylesheet" href="/ui/drill-report.css">' in index
    assert all(Path(p).is_relative_to(UI_DIR) for k, p in ASSETS.items() if k != "drill-report.css")
