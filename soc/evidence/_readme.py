"""README.txt of an incident's evidence bundle, in English and Vietnamese."""

from __future__ import annotations

from datetime import UTC, datetime

from soc.incidents.models import Incident

_FILES_EN = """\
  manifest.json      every other file with its size and SHA-256, and a SHA-256 over that list
  incident.json      the incident as the SOC holds it: status, owner, hand-offs, observables
  alerts.ndjson      its alerts, one JSON object per line, oldest first
  events/<id>.json   each alert's event exactly as stored; the original record is in "raw"
  rules/<id>.yml     the Sigma rule of each alert, the file as it is in the rule folders
  rules/index.json   per rule: title, version (modified/date), path, SHA-256, and the
                     versions the alerts recorded when they fired
  timeline.json      alerts, hand-offs, status changes and comments in time order (UTC)
  comments.json      the analysts' comments
  audit.ndjson       the audit-trail entries of this incident, in sequence order
  stix.json          a STIX 2.1 bundle: the incident, its observables, indicators and
                     ATT&CK techniques (for MISP or OpenCTI)
  README.txt         this file
"""

_FILES_VI = """\
  manifest.json      danh sách mọi tệp khác kèm kích thước và mã băm SHA-256, và một mã
                     SHA-256 của chính danh sách đó
  incident.json      sự cố như SOC đang lưu: trạng thái, đơn vị phụ trách, các lần chuyển
                     giao, các dấu hiệu quan sát (observable)
  alerts.ndjson      các cảnh báo của sự cố, mỗi dòng một đối tượng JSON, cũ nhất trước
  events/<id>.json   sự kiện của từng cảnh báo đúng như đã lưu; bản ghi gốc nằm trong "raw"
  rules/<id>.yml     luật Sigma đã sinh ra từng cảnh báo, đúng như tệp trong thư mục luật
  rules/index.json   với mỗi luật: tiêu đề, phiên bản (modified/date), đường dẫn, SHA-256,
                     và phiên bản mà các cảnh báo ghi nhận khi phát sinh
  timeline.json      dòng thời gian: cảnh báo, chuyển giao, thay đổi trạng thái, bình luận
                     (giờ UTC)
  comments.json      bình luận của cán bộ phân tích
  audit.ndjson       các bản ghi nhật ký kiểm toán (audit) của sự cố này, theo số thứ tự
  stix.json          gói STIX 2.1: sự cố, dấu hiệu quan sát, chỉ báo (indicator) và kỹ
                     thuật ATT&CK (dùng cho MISP hoặc OpenCTI)
  README.txt         tệp này
"""

_VERIFY_EN = """\
How to verify
  soc evidence verify bundle.zip
  recomputes the SHA-256 of every file, compares it with manifest.json and exits 0
  when all match. Without the soc tool: compute `sha256sum` of each file and compare
  with manifest.json. The manifest shows the files were not changed after the export;
  it does not show who exported them. The SOC's audit trail records each export with
  the manifest's files_sha256: ask the SOC to confirm that value.

The audit entries
  audit.ndjson holds only this incident's entries. Entries of other records lie between
  them in the SOC's audit chain, so they cannot be verified as a chain on their own.
  Each entry keeps its seq, its own hash, and prev (the hash of the entry before it in
  the full chain).
  - soc audit verify --file audit.ndjson --excerpt
    checks each entry's content against its hash, the order of the entries, and the
    link between entries that are consecutive in the chain.
  - The SOC, which holds the full chain, runs `soc audit verify` and finds each entry's
    seq and hash in it: that shows none was altered, and none removed.

Rule versions
  Rule files are exported as they are at export time. rules/index.json gives, for each
  rule, the version the alerts recorded when they fired; where it differs from the
  file's version, the rule was changed after the alert.
"""

_VERIFY_VI = """\
Cách kiểm tra
  soc evidence verify bundle.zip
  tính lại SHA-256 của từng tệp, so với manifest.json và trả về mã 0 khi tất cả đều
  khớp. Nếu không có công cụ soc: tính `sha256sum` của từng tệp và so với manifest.json.
  manifest chứng minh các tệp không bị thay đổi sau khi xuất; nó không chứng minh ai đã
  xuất. Nhật ký kiểm toán của SOC ghi lại mỗi lần xuất kèm giá trị files_sha256 của
  manifest: đề nghị SOC xác nhận giá trị đó.

Nhật ký kiểm toán
  audit.ndjson chỉ chứa các bản ghi của sự cố này. Trong chuỗi kiểm toán của SOC, xen
  giữa chúng là bản ghi của các đối tượng khác, nên tự chúng không thể được kiểm tra như
  một chuỗi. Mỗi bản ghi giữ số thứ tự (seq), mã băm của chính nó (hash) và prev (mã băm
  của bản ghi đứng trước nó trong chuỗi đầy đủ).
  - soc audit verify --file audit.ndjson --excerpt
    kiểm tra nội dung từng bản ghi khớp với mã băm, thứ tự các bản ghi, và liên kết
    giữa các bản ghi liền nhau trong chuỗi.
  - SOC, nơi giữ chuỗi đầy đủ, chạy `soc audit verify` và tìm seq và hash của từng bản
    ghi trong chuỗi: điều đó cho thấy không bản ghi nào bị sửa hay bị xóa.

Phiên bản luật
  Tệp luật được xuất như tại thời điểm xuất. rules/index.json ghi, với mỗi luật, phiên
  bản mà các cảnh báo ghi nhận khi phát sinh; nếu khác với phiên bản của tệp, luật đã
  được sửa sau khi cảnh báo phát sinh.
"""


_TLP = {
    "clear": ("may be shared freely.", "có thể chia sẻ tự do."),
    "white": ("may be shared freely.", "có thể chia sẻ tự do."),
    "green": (
        "may be shared within the community, not published.",
        "có thể chia sẻ trong cộng đồng, không công bố công khai.",
    ),
    "amber": (
        "share only with those who need it to act on this incident.",
        "chỉ chia sẻ với người cần biết để xử lý sự cố này.",
    ),
    "amber+strict": (
        "share only within the recipient's own organization, with those who need it.",
        "chỉ chia sẻ trong nội bộ tổ chức nhận, với người cần biết.",
    ),
    "red": ("for the named recipients only.", "chỉ dành cho người nhận được chỉ định."),
}


def readme(
    *,
    incident: Incident,
    tlp: str,
    created: datetime,
    created_by: str,
    counts: dict[str, int],
    changed_rules: list[str],
    missing_rules: list[str],
) -> str:
    when = created.astimezone(UTC).isoformat().replace("+00:00", "Z")
    head = [
        f"Evidence bundle of incident {incident.id}",
        f"Gói chứng cứ của sự cố {incident.id}",
        "",
        f"Title / Tiêu đề:           {incident.title}",
        f"Tenant / Đơn vị dữ liệu:   {incident.tenant}",
        f"Status / Trạng thái:       {incident.status.value}",
        f"Exported / Xuất lúc:       {when} by / bởi {created_by}",
        f"Alerts / Cảnh báo:         {counts['alerts']}",
        f"Events / Sự kiện:          {counts['events']}",
        f"Rules / Luật:              {counts['rules']}",
        f"Audit entries / Bản ghi kiểm toán: {counts['audit']}",
        "",
        f"TLP:{tlp.upper()} - {_TLP[tlp][0]}",
        f"TLP:{tlp.upper()} - {_TLP[tlp][1]}",
    ]
    notes: list[str] = []
    if changed_rules:
        notes.append(
            "Rules changed since their alerts / Luật đã thay đổi sau cảnh báo: "
            + ", ".join(changed_rules)
        )
    if missing_rules:
        notes.append(
            "Rules not found in the rule folders / Không tìm thấy luật trong thư mục luật: "
            + ", ".join(missing_rules)
        )
    sections = [
        "\n".join(head),
        "\n".join(notes),
        "Files\n" + _FILES_EN,
        _VERIFY_EN,
        "Các tệp\n" + _FILES_VI,
        _VERIFY_VI,
    ]
    return "\n\n".join(s.rstrip("\n") for s in sections if s) + "\n"
