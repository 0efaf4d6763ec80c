"""The printable drill report: the scorecard as an A4 page for the city's leadership.

    html = report_html(card, lang="vi", standalone=True)    # `soc drill report --format html`
    html = report_html(card, lang="vi", standalone=False)   # the UI's report page (a fragment)

Vietnamese by default, as a report handed to the city's leadership is: the issuing
unit and the national motto, the title, the place and date, the drill's particulars,
what was detected and how fast, the response against its budgets, and the signatures
block. Times are shown in Asia/Ho_Chi_Minh (UTC+7 all year). The style is
``report.css`` beside this module (a print stylesheet for a clean A4 page); the UI
serves it as ``/ui/drill-report.css`` and a standalone report carries it inline.
Every value is escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from html import escape
from pathlib import Path

from soc.drills.models import Scorecard

HUE = timezone(timedelta(hours=7), "ICT")
"""Asia/Ho_Chi_Minh: UTC+7, no daylight saving time."""
CSS_FILE = Path(__file__).with_name("report.css")

_T: dict[str, dict[str, str]] = {
    "vi": {
        "issuer": "CÔNG AN THÀNH PHỐ HUẾ",
        "issuer_sub": "TRUNG TÂM GIÁM SÁT AN TOÀN THÔNG TIN",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "title": "BÁO CÁO KẾT QUẢ DIỄN TẬP ỨNG PHÓ SỰ CỐ AN TOÀN THÔNG TIN MẠNG",
        "place_date": "Huế, ngày {d} tháng {m} năm {y}",
        "general": "I. THÔNG TIN CHUNG",
        "scenario": "Kịch bản",
        "drill": "Mã diễn tập",
        "tenant": "Đơn vị được giám sát",
        "kind": "Hình thức",
        "announced": "Có thông báo trước",
        "blind": "Không báo trước",
        "speed": "Tốc độ phát lại",
        "faster": "nhanh hơn thời gian thực: thời gian phát hiện ngắn hơn cuộc tấn công thật",
        "real_time": "theo thời gian thực",
        "started": "Bắt đầu",
        "ended": "Kết thúc",
        "state": "Trạng thái",
        "unit": "Đơn vị ứng cứu dự kiến",
        "detection": "II. KẾT QUẢ PHÁT HIỆN",
        "step": "Bước",
        "rule": "Luật phát hiện",
        "host": "Máy",
        "budget": "Thời hạn",
        "time": "Thời gian",
        "outcome": "Kết quả",
        "score": "Điểm",
        "response": "III. KẾT QUẢ ỨNG CỨU",
        "milestone": "Mốc",
        "at": "Thời điểm",
        "handoffs": "Chuyển giao",
        "to_unit": "Đơn vị nhận",
        "expected_unit": "Đúng đơn vị",
        "noise": "IV. CẢNH BÁO NGOÀI KỊCH BẢN",
        "none": "Không có",
        "verdicts": "Đánh giá của phân tích viên",
        "scores": "V. ĐIỂM ĐÁNH GIÁ",
        "detection_score": "Phát hiện",
        "response_score": "Ứng cứu",
        "overall": "Tổng",
        "history": "Các lần diễn tập trước của kịch bản",
        "sign_author": "NGƯỜI LẬP BÁO CÁO",
        "sign_lead": "TRƯỞNG BAN ĐIỀU HÀNH DIỄN TẬP",
        "sign_head": "THỦ TRƯỞNG ĐƠN VỊ",
        "sign_note": "(Ký, ghi rõ họ tên)",
        "met": "Đạt",
        "late": "Chậm",
        "missed": "Không phát hiện",
        "pending": "Đang chờ",
        "unbudgeted": "Không đặt hạn",
        "yes": "Có",
        "no": "Không",
        "triage": "Phân loại",
        "hand_off": "Chuyển giao",
        "acknowledge": "Đơn vị tiếp nhận",
        "resolve": "Xử lý xong",
        "true_positive": "Đúng",
        "false_positive": "Nhầm",
        "undetermined": "Chưa đánh giá",
    },
    "en": {
        "issuer": "HUE CITY POLICE",
        "issuer_sub": "SECURITY OPERATIONS CENTER",
        "nation": "SOCIALIST REPUBLIC OF VIETNAM",
        "motto": "Independence - Freedom - Happiness",
        "title": "CYBER INCIDENT RESPONSE DRILL REPORT",
        "place_date": "Hue, {y}-{m}-{d}",
        "general": "I. GENERAL",
        "scenario": "Scenario",
        "drill": "Drill id",
        "tenant": "Monitored agency",
        "kind": "Kind",
        "announced": "Announced",
        "blind": "Blind",
        "speed": "Replay speed",
        "faster": "faster than real time: detection times are shorter than the real attack's",
        "real_time": "real time",
        "started": "Started",
        "ended": "Ended",
        "state": "State",
        "unit": "Expected response unit",
        "detection": "II. DETECTION",
        "step": "Step",
        "rule": "Rule",
        "host": "Host",
        "budget": "Budget",
        "time": "Time",
        "outcome": "Outcome",
        "score": "Score",
        "response": "III. RESPONSE",
        "milestone": "Milestone",
        "at": "At",
        "handoffs": "Hand-offs",
        "to_unit": "To unit",
        "expected_unit": "Expected unit",
        "noise": "IV. ALERTS THE SCENARIO DID NOT EXPECT",
        "none": "None",
        "verdicts": "Analysts' verdicts",
        "scores": "V. SCORES",
        "detection_score": "Detection",
        "response_score": "Response",
        "overall": "Overall",
        "history": "Earlier runs of the scenario",
        "sign_author": "PREPARED BY",
        "sign_lead": "DRILL DIRECTOR",
        "sign_head": "HEAD OF UNIT",
        "sign_note": "(Signature, full name)",
        "met": "Met",
        "late": "Late",
        "missed": "Missed",
        "pending": "Pending",
        "unbudgeted": "No budget",
        "yes": "Yes",
        "no": "No",
        "triage": "Triage",
        "hand_off": "Hand-off",
        "acknowledge": "Unit accepted",
        "resolve": "Resolved",
        "true_positive": "True positive",
        "false_positive": "False positive",
        "undetermined": "Undetermined",
    },
}


def local(t: datetime | None) -> str:
    return t.astimezone(HUE).strftime("%d/%m/%Y %H:%M:%S") if t is not None else "—"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _row(*cells: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _head(*cells: str) -> str:
    return "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in cells) + "</tr>"


def report_html(card: Scorecard, *, lang: str = "vi", standalone: bool = True) -> str:
    t = _T.get(lang, _T["vi"])
    e = escape
    d = card.drill
    day = (d.ended or card.generated).astimezone(HUE)
    dated = t["place_date"].format(d=f"{day.day:02d}", m=f"{day.month:02d}", y=day.year)
    parts: list[str] = ['<article class="drill-report">']
    parts.append(
        '<header class="dr-head"><div class="dr-issuer">'
        f"<p>{e(t['issuer'])}</p><p><b>{e(t['issuer_sub'])}</b></p></div>"
        f'<div class="dr-nation"><p><b>{e(t["nation"])}</b></p>'
        f"<p><u>{e(t['motto'])}</u></p>"
        f'<p class="dr-date"><i>{e(dated)}</i></p>'
        "</div></header>"
    )
    parts.append(f'<h1 class="dr-title">{e(t["title"])}</h1>')
    speed = (
        f"x{d.speed:g} ({t['faster']})"
        if card.faster_than_real_time
        else f"x{d.speed:g} ({t['real_time']})"
    )
    general = [
        (t["scenario"], card.scenario_title),
        (t["drill"], d.id),
        (t["tenant"], d.tenant),
        (t["kind"], t["blind"] if d.blind else t["announced"]),
        (t["speed"], speed),
        (t["started"], local(d.started)),
        (t["ended"], local(d.ended)),
        (t["state"], d.state.value),
        (t["unit"], card.expected_unit),
    ]
    parts.append(f'<h2>{e(t["general"])}</h2><table class="dr-kv">')
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in general]
    parts.append("</table>")

    parts.append(f"<h2>{e(t['detection'])}</h2><table>")
    parts.append(
        _head(t["step"], t["rule"], t["host"], t["budget"], t["time"], t["outcome"], t["score"])
    )
    for step in card.steps:
        for r in step.detections:
            parts.append(
                _row(
                    e(step.title),
                    e(r.rule_title or r.rule),
                    e(r.host or "—"),
                    e(duration(r.budget_s)),
                    e(duration(r.seconds)),
                    e(t[r.outcome]),
                    e(_score(r.score)),
                    cls=f"dr-{r.outcome}",
                )
            )
    parts.append("</table>")

    parts.append(f"<h2>{e(t['response'])}</h2><table>")
    parts.append(_head(t["milestone"], t["at"], t["time"], t["budget"], t["outcome"], t["score"]))
    for m in card.response:
        parts.append(
            _row(
                e(t[m.name]),
                e(local(m.at)),
                e(duration(m.seconds)),
                e(duration(m.budget_s)),
                e(t[m.outcome]),
                e(_score(m.score)),
                cls=f"dr-{m.outcome}",
            )
        )
    parts.append("</table>")
    parts.append(f"<h3>{e(t['handoffs'])}</h3>")
    if card.handoffs:
        parts.append("<table>" + _head(t["at"], t["to_unit"], t["expected_unit"], t["state"]))
        for h in card.handoffs:
            parts.append(
                _row(
                    e(local(h.at)),
                    e(h.to_unit),
                    e(t["yes"] if h.expected else t["no"]),
                    e(h.state),
                    cls="" if h.expected else "dr-missed",
                )
            )
        parts.append("</table>")
    else:
        parts.append(f"<p>{e(t['none'])}</p>")

    parts.append(f"<h2>{e(t['noise'])}</h2>")
    if card.noise:
        parts.append("<table>" + _head(t["at"], t["rule"], t["host"]))
        parts += [_row(e(local(n.at)), e(n.rule_title), e(n.host or "—")) for n in card.noise]
        parts.append("</table>")
    else:
        parts.append(f"<p>{e(t['none'])}</p>")
    verdicts = ", ".join(f"{t.get(k, k)}: {v}" for k, v in sorted(card.verdicts.items()))
    parts.append(f"<p>{e(t['verdicts'])}: {e(verdicts or t['none'])}</p>")

    parts.append(f'<h2>{e(t["scores"])}</h2><table class="dr-kv">')
    for k, v in (
        (t["detection_score"], card.detection_score),
        (t["response_score"], card.response_score),
        (t["overall"], card.score),
    ):
        parts.append(f"<tr><th>{e(k)}</th><td>{e(_score(v))}</td></tr>")
    parts.append("</table>")
    if len(card.history) > 1:
        parts.append(f"<h3>{e(t['history'])}</h3><table>")
        parts.append(_head(t["started"], t["drill"], t["score"]))
        parts += [
            _row(e(local(p.started)), e(p.drill_id), e(_score(p.score))) for p in card.history
        ]
        parts.append("</table>")
    parts.append('<footer class="dr-sign">')
    for who in ("sign_author", "sign_lead", "sign_head"):
        parts.append(f"<div><p><b>{e(t[who])}</b></p><p><i>{e(t['sign_note'])}</i></p></div>")
    parts.append("</footer></article>")
    body = "\n".join(parts)
    if not standalone:
        return body
    css = CSS_FILE.read_text(encoding="utf-8")
    generated = datetime.now(UTC).astimezone(HUE).isoformat(timespec="seconds")
    return (
        f'<!doctype html>\n<html lang="{e(lang)}"><head><meta charset="utf-8">'
        f"<title>{e(t['title'])} — {e(d.id)}</title>"
        f'<meta name="generated" content="{e(generated)}">'
        f"<style>{css}</style></head><body>{body}</body></html>\n"
    )


def scorecard_text(card: Scorecard) -> str:
    """The scorecard as plain text (English), for a terminal or a note."""
    d = card.drill
    out = [
        f"Drill {d.id}: {card.scenario_title}",
        f"  scenario {d.scenario}, tenant {d.tenant}, "
        f"{'blind' if d.blind else 'announced'}, speed x{d.speed:g}"
        + (" (faster than real time)" if card.faster_than_real_time else ""),
        f"  state {d.state.value}; started {local(d.started)}; ended {local(d.ended)} "
        "(Asia/Ho_Chi_Minh)",
        "Detection",
    ]
    for step in card.steps:
        out.append(
            f"  step {step.name} (first event {local(step.first_event_at)}), "
            f"score {_score(step.score)}"
        )
        for r in step.detections:
            what = r.rule_title or r.rule
            host = f" on {r.host}" if r.host else ""
            out.append(
                f"    {r.outcome:<8} {what}{host}: {duration(r.seconds)} "
                f"(budget {duration(r.budget_s)}), score {_score(r.score)}"
            )
    out.append(f"  detection score {_score(card.detection_score)}")
    out.append(f"Response (from the first alert at {local(card.first_alert_at)})")
    for m in card.response:
        budget = f"budget {duration(m.budget_s)}" if m.budget_s is not None else "no budget"
        out.append(
            f"    {m.name:<12} {m.outcome:<10} {duration(m.seconds)} ({budget}), "
            f"score {_score(m.score)}"
        )
    for h in card.handoffs:
        ok = "expected unit" if h.expected else f"NOT the expected unit {card.expected_unit}"
        out.append(f"    hand-off to {h.to_unit} at {local(h.at)}: {h.state}, {ok}")
    if not card.handoffs:
        out.append(f"    no hand-off (expected unit {card.expected_unit})")
    out.append(f"  response score {_score(card.response_score)}")
    out.append(f"Noise: {len(card.noise)} alert(s) the scenario did not expect")
    for n in card.noise:
        out.append(f"    {local(n.at)} {n.rule_title}" + (f" on {n.host}" if n.host else ""))
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(card.verdicts.items())) or "none"
    out.append(f"Verdicts: {verdicts}")
    out.append(f"Score: {_score(card.score)} / 100")
    if len(card.history) > 1:
        trend = ", ".join(f"{p.drill_id} {_score(p.score)}" for p in card.history)
        out.append(f"Trend: {trend}")
    return "\n".join(out)
