"""Zeek's logs: the recorded ones of OTRF's LSASS campaign 06, parsed and run through
SigmaHQ's zeek rules.

The recording (../shared/datasets/otrf/zeek, MIT) is Zeek's TSV; Zeek's JSON is
the same records written as Zeek's JSON writer writes them (one object a line,
unset fields left out, sets as arrays, ``ts`` in epoch seconds), so the JSON
tests read exactly the recorded records.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.parse import parse
from soc.detect.engine import Engine
from soc.detect.rules import load_rule_text, load_rules
from soc.ingest.normalize import normalize
from soc.ingest.zeek import unescape
from soc.models import Event, EventIn, LogSource
from tests.conftest import SHARED

ZIP = SHARED / "datasets/otrf/zeek/LSASS_campaign_06_zeek_logs.zip"
RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)


def recorded() -> dict[str, bytes]:
    with zipfile.ZipFile(ZIP) as z:
        return {name: z.read(name) for name in sorted(z.namelist())}


LOGS = recorded()


def data_lines(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if not line.startswith(b"#")]


def as_event(ev: EventIn, source: str) -> Event:
    return normalize(
        ev.record,
        tenant="t",
        source=source,
        received=RECEIVED,
        host=ev.host,
        time=ev.time,
        logsource=ev.logsource,
    )


def zeek_json(events: list[EventIn], *, keep_path: bool) -> bytes:
    """The records as Zeek's JSON writer writes them (``_path`` only when streaming)."""
    lines = []
    for ev in events:
        record = dict(ev.record)
        if not keep_path:
            del record["_path"]
        lines.append(json.dumps(record).encode())
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("name", sorted(LOGS))
def test_every_recorded_log_parses_with_types_and_logsource(name: str) -> None:
    events = parse(LOGS[name], format="zeek")
    assert len(events) == len(data_lines(LOGS[name]))  # header lines give no event
    assert [e.record.get("parse_error") for e in events if "parse_error" in e.record] == []
    path = name.removesuffix(".log")
    for ev in events:
        assert ev.logsource == LogSource(
            product="zeek", service=path, category="dns" if path == "dns" else None
        )
        assert ev.record["_path"] == path
        assert ev.time == datetime.fromtimestamp(ev.record["ts"], UTC)
        assert "-" not in ev.record.values()  # unset fields left out, as in Zeek's JSON
        for name_, value in ev.record.items():
            if name_.endswith((".orig_p", ".resp_p")):
                assert type(value) is int


def test_values_are_converted_by_their_zeek_types() -> None:
    conn = parse(LOGS["conn.log"], format="zeek")[0].record
    # 1693979002.059903 Czp6yy3byNmBoElvWj 192.168.56.30 56791 192.168.56.1 53 udp dns
    # 0.000792 0 24 SHR T T 0 ^d 0 0 2 80 -
    assert conn == {
        "ts": 1693979002.059903,
        "uid": "Czp6yy3byNmBoElvWj",
        "id.orig_h": "192.168.56.30",
        "id.orig_p": 56791,
        "id.resp_h": "192.168.56.1",
        "id.resp_p": 53,
        "proto": "udp",
        "service": "dns",
        "duration": 0.000792,
        "orig_bytes": 0,
        "resp_bytes": 24,
        "conn_state": "SHR",
        "local_orig": True,
        "local_resp": True,
        "missed_bytes": 0,
        "history": "^d",
        "orig_pkts": 0,
        "orig_ip_bytes": 0,
        "resp_pkts": 2,
        "resp_ip_bytes": 80,
        "_path": "conn",
    }  # tunnel_parents (set[string]) was unset: left out
    http = parse(LOGS["http.log"], format="zeek")[2].record
    assert http["tags"] == []  # set[enum] "(empty)"
    assert http["resp_mime_types"] == ["application/x-dosexec"]  # vector[string]
    assert (http["status_code"], http["response_body_len"]) == (200, 7168)
    pe = parse(LOGS["pe.log"], format="zeek")[0].record
    assert pe["section_names"] == [".text", ".rdata", ".vcae"]
    assert (pe["compile_ts"], pe["is_64bit"], pe["uses_aslr"]) == (1271282813.0, True, False)
    x509 = parse(LOGS["x509.log"], format="zeek")[0].record
    assert (x509["certificate.key_length"], x509["certificate.serial"]) == (
        2048,
        "C51E0A24F056B90D",
    )
    dns = parse(LOGS["dns.log"], format="zeek")
    assert Counter(e.record.get("rcode_name") for e in dns)["REFUSED"] == 1551
    assert {type(e.record["rejected"]) for e in dns} == {bool}


def test_zeek_json_reads_the_same_records() -> None:
    for name in ("conn.log", "dns.log", "kerberos.log", "http.log", "x509.log"):
        tsv = parse(LOGS[name], format="zeek")
        # Zeek's JSON log file: no _path, the file name says which log it is.
        from_name = parse(zeek_json(tsv, keep_path=False), format="zeek")
        assert all("parse_error" in e.record for e in from_name)  # no name given here
        named = _parse_named(zeek_json(tsv, keep_path=False), name.replace(".log", ".json"))
        streamed = parse(zeek_json(tsv, keep_path=True), format="zeek")  # json-streaming-logs
        for got in (named, streamed):
            assert [(e.record, e.time, e.logsource) for e in got] == [
                (e.record, e.time, e.logsource) for e in tsv
            ]


def _parse_named(data: bytes, name: str) -> list[EventIn]:
    from connectors.parse._base import Defaults, decode_line
    from connectors.parse.zeek import zeek_events
    from soc.ingest.zeek import ZeekReader

    reader = ZeekReader(f"/var/log/zeek/{name}")
    return [
        ev
        for line in data.splitlines()
        for ev in zeek_events(decode_line(line), reader, defaults=Defaults())
    ]


def test_logs_concatenated_each_read_with_its_own_header() -> None:
    data = LOGS["kerberos.log"] + LOGS["http.log"] + LOGS["smb_mapping.log"]
    events = parse(data, format="zeek")
    assert [e.logsource.service for e in events if e.logsource] == ["kerberos"] * 5 + [
        "http"
    ] * 3 + ["smb_mapping"]
    assert [e.record.get("parse_error") for e in events if "parse_error" in e.record] == []


def test_escapes_are_decoded() -> None:
    assert unescape("\\x09") == "\t"
    assert unescape("a\\x2cb\\x5cc") == "a,b\\c"
    assert unescape("no escape") == "no escape"


def test_bad_lines_are_shipped_with_a_reason_and_the_rest_read() -> None:
    lines = LOGS["kerberos.log"].splitlines()
    header = [line for line in lines if line.startswith(b"#") and not line.startswith(b"#close")]
    rows = data_lines(LOGS["kerberos.log"])
    cut = rows[1].rsplit(b"\t", 3)[0]  # a line cut short: three columns missing
    bad_bool = rows[2].replace(b"\tT\t", b"\tmaybe\t", 1)  # `success` is a bool
    data = b"\n".join([rows[0], *header, cut, bad_bool, rows[3], b"{not json"]) + b"\n"
    events = parse(data, format="zeek")
    assert [(e.record.get("parse_error"), e.record.get("parse_error_detail")) for e in events] == [
        ("malformed", "a TSV line before any #fields header (not a Zeek log, or cut)"),
        ("malformed", "17 columns; the #fields header names 20"),
        ("malformed", "field 'success' (bool): not T or F: 'maybe'"),
        (None, None),
        ("not_json", events[-1].record["parse_error_detail"]),
    ]
    assert events[3].record["client"] == "pedro.gustavo/PANDALAB.COM"
    assert events[1].record["message"] == cut.decode()


# -- SigmaHQ's zeek rules over the recording ----------------------------------------------------

SIGMA_ZEEK = [
    SHARED / "sigma/rules/network/zeek",
    SHARED / "sigma/rules/network/dns",  # category: dns, which a zeek dns record also is
    *sorted((SHARED / "sigma/rules-emerging-threats").rglob("zeek_*.yml")),
]


def recorded_events() -> list[Event]:
    out = []
    for name, data in LOGS.items():
        out += [as_event(ev, name) for ev in parse(data, format="zeek")]
    return out


def test_sigmahq_zeek_rules_load_and_fire_only_on_what_the_recording_holds() -> None:
    ruleset = load_rules(SIGMA_ZEEK)
    assert ruleset.errors == ()  # every zeek rule compiles: nothing our engine refuses
    assert len(ruleset.rules) == 31
    engine = Engine.from_ruleset(ruleset)
    events = recorded_events()
    assert len(events) == 3154
    services = {r.logsource.service for r in ruleset.rules} | {"dns"}
    routed = Counter(e.logsource.service for e in events if e.logsource.service in services)
    # The rules do run on the recording's dns, http, kerberos and x509 records ...
    assert routed == {"dns": 2312, "http": 3, "kerberos": 5, "x509": 1}
    hits = [(e.source, r.title) for e in events for r in engine.match(e)]
    # ... and none fires, rightly: the campaign's network side holds no SigmaHQ zeek pattern.
    # dns: the queries are local names (vepxxjpqngyhd.local, _googlecast._tcp.local) and
    #   refused or failed lookups with no query; none of a mining pool, NKN, Tor, and Z=0
    #   everywhere (zeek_dns_susp_zbit_flag wants Z set).
    # http: the PE download (resp_mime_types application/x-dosexec, 7168 bytes from
    #   10.0.5.14) meets zeek_http_susp_file_ext_from_susp_tld's mime selection but has no
    #   host with a suspicious TLD (it went to a bare address), and no WebDAV user agent.
    # kerberos: AS/TGS for pedro.gustavo with aes256-cts-hmac-sha1-96, not rc4-hmac.
    # x509: serial C51E0A24F056B90D, not Cobalt Strike's default 8BB00EE.
    # smb_files, dce_rpc and rdp rules have no such log in the recording.
    assert hits == []


FIELD_RULES = """
title: PE served over plain HTTP (zeek http, a list field)
id: 6a0d6c3e-1b55-4d63-9f3a-5c7b1e0c7a01
status: test
logsource: {product: zeek, service: http}
detection:
    selection:
        resp_mime_types|contains: dosexec
        id.resp_p: 80
        id.orig_h|cidr: 192.168.56.0/24
    condition: selection
level: medium
---
title: TGS for a service other than krbtgt (zeek kerberos, dotted and boolean fields)
id: 6a0d6c3e-1b55-4d63-9f3a-5c7b1e0c7a02
status: test
logsource: {product: zeek, service: kerberos}
detection:
    selection:
        success: true
        client|startswith: pedro.gustavo
    filter:
        service|startswith: krbtgt/
    condition: selection and not filter
level: low
---
title: refused DNS lookups (category dns, as SigmaHQ's generic dns rules see zeek's)
id: 6a0d6c3e-1b55-4d63-9f3a-5c7b1e0c7a03
status: test
logsource: {category: dns}
detection:
    selection:
        rcode_name: REFUSED
        rejected: true
        id.resp_h: 192.168.56.1
    condition: selection
level: low
"""


def test_rules_see_zeek_fields_by_their_dotted_names_and_types() -> None:
    ruleset = load_rule_text(FIELD_RULES, name="zeek_fields.yml")
    assert ruleset.errors == ()
    engine = Engine.from_ruleset(ruleset)
    hits: dict[str, list[dict[str, Any]]] = {}
    for ev in recorded_events():
        for rule in engine.match(ev):
            hits.setdefault(rule.title.split(" (")[0], []).append(ev.raw)
    assert {k: len(v) for k, v in hits.items()} == {
        "PE served over plain HTTP": 1,
        "TGS for a service other than krbtgt": 2,
        "refused DNS lookups": 1551,  # awk over dns.log counts the same
    }
    (pe,) = hits["PE served over plain HTTP"]
    assert (pe["uid"], pe["response_body_len"]) == ("CoF99D2QzW8Tg4DnXk", 7168)
    assert sorted(e["service"] for e in hits["TGS for a service other than krbtgt"]) == [
        "ProtectedStorage/DC01.pandalab.com",
        "cifs/DC01.pandalab.com",
    ]


def test_soc_hunt_reads_the_recorded_zip_of_zeek_logs(tmp_path: Path) -> None:
    from soc.hunt.files import hunt

    engine = Engine.from_ruleset(load_rule_text(FIELD_RULES, name="zeek_fields.yml"))
    found: list[Any] = []
    summary = hunt([ZIP], engine=engine, on_match=found.append)
    assert (summary.events, summary.unreadable, summary.matches) == (3154, 0, 1554)
    assert {m.logsource.service for m in found} == {"http", "kerberos", "dns"}
    assert {m.source.rsplit("!", 1)[1] for m in found} == {"http.log", "kerberos.log", "dns.log"}


def test_soc_hunt_passes_over_a_folders_other_logs_but_says_so_for_one_named(
    tmp_path: Path,
) -> None:
    from soc.ingest.readers import input_files, read_file

    (tmp_path / "conn.log").write_bytes(LOGS["conn.log"])
    (tmp_path / "auth.log").write_bytes((SHARED / "datasets/linux/auth.log").read_bytes())
    (tmp_path / "notes.log").write_bytes((SHARED / "datasets/README.md").read_bytes())
    assert input_files([tmp_path]) == [tmp_path / "auth.log", tmp_path / "conn.log"]
    (item,) = read_file(tmp_path / "notes.log")
    assert item.error == (
        "a .log file read here must be Zeek's (TSV or JSON), syslog or a web access log"
    )
