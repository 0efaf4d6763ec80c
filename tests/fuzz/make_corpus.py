"""Rebuild the seed corpora under tests/fuzz/corpus from the recorded datasets and the
repository's own rules and fixtures: ``python -m tests.fuzz.make_corpus [DATASETS]``.

Slices are small (a few lines or records each) and each corpus folder keeps the license of
what it holds (LICENSE-* beside the seeds). A seed of a target that reads a choice from
its first bytes (``_common.pick``) starts with those bytes. Files under ``regressions/``
(crashes found, kept as regression inputs) are left alone.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

from tests.fuzz.targets import CORPUS

ROOT = Path(__file__).resolve().parents[2]
SIGMA = Path("/work/shared/sigma")


def _b(*choices: int) -> bytes:
    return bytes(choices)


class Builder:
    def __init__(self, datasets: Path) -> None:
        self.ds = datasets

    def put(self, target: str, name: str, data: bytes, *licenses: Path) -> None:
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        for lic in licenses:
            name = lic.name if lic.name != "LICENSE" else f"LICENSE-{lic.parent.name}"
            dest = folder / name
            if not dest.exists():
                shutil.copyfile(lic, dest)

    def lines(self, path: Path, start: int, count: int) -> bytes:
        with path.open("rb") as f:
            got = f.read().split(b"\n")[start : start + count]
        return b"\n".join(got) + b"\n"

    def member(self, archive: Path, name: str | None = None) -> bytes:
        with zipfile.ZipFile(archive) as z:
            info = z.infolist()[0] if name is None else z.getinfo(name)
            return z.read(info)

    def build(self) -> None:
        ds = self.ds
        elastic = ds / "LICENSE-elastic-examples"
        otrf = ds / "otrf" / "LICENSE"
        auth, access = ds / "linux" / "auth.log", ds / "web" / "apache_access.log"
        for n, at in enumerate((0, 500, 2000, 4000, 7000)):
            chunk = self.lines(auth, at, 12)
            self.put("syslog", f"auth-{n}.log", chunk, elastic)
            self.put("linux_auth", f"auth-{n}.log", chunk, elastic)
            self.put("file_tail", f"auth-{n}.log", _b(7, 2) + chunk, elastic)
            self.put("framing", f"newline-{n}", _b(0, 16, 2) + chunk, elastic)
            octets = b"".join(b"%d %s" % (len(line), line) for line in chunk.splitlines())
            self.put("framing", f"octet-{n}", _b(1, 30, 0) + octets, elastic)
            self.put("line_formats", f"auto-auth-{n}.log", _b(0) + chunk, elastic)
        for n, at in enumerate((0, 3000, 9000)):
            chunk = self.lines(access, at, 12)
            self.put("access_log", f"apache-{n}.log", _b(0) + chunk, elastic)
            self.put("file_tail", f"apache-{n}.log", _b(3, 3) + chunk, elastic)
            self.put("line_formats", f"auto-apache-{n}.log", _b(0) + chunk, elastic)
        # Lines of other formats, from the connector's own tests (tests/connectors).
        rfc5424 = (
            b"<34>1 2026-03-01T08:00:00.003Z mymachine.example.com su - ID47 - "
            b"'su root' failed for lonvick on /dev/pts/8\n"
            b'<165>1 2026-03-01T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" '
            b'eventSource="Application" eventID="1011"] An application event\n'
        )
        self.put("syslog", "rfc5424.log", rfc5424)
        self.put(
            "framing",
            "octet-5424",
            _b(2, 5, 0) + b"".join(b"%d %s" % (len(line), line) for line in rfc5424.splitlines()),
        )
        import tests.connectors.test_formats as formats  # their fixtures, quoted from vendors

        self.put("line_formats", "auditd.log", _b(3) + formats.RHEL_AUDIT)
        cef = (
            b"CEF:0|security|threatmanager|1.0|100|detected a \\| in message|10|src=10.0.0.1 "
            b"act=blocked a | dst=1.1.1.1\n"
            b"Nov 27 17:18:21 FGT-A CEF:0|Fortinet|Fortigate|v6.0.3|00013|traffic:forward close"
            b"|3|deviceExternalId=FGT5HD3915800610 cat=traffic:forward src=10.1.100.11 spt=54190"
            b" dst=52.53.140.235 dpt=443 act=close\n"
        )
        self.put("line_formats", "cef.log", _b(1) + cef)
        fortigate = (
            b'date=2019-05-13 time=11:20:54 logid="0100044547" type="event" subtype="system" '
            b'level="information" vd="vdom1" eventtime=1557771654587081441 devname="FGT-HUE" '
            b'logdesc="Object attribute configured" user="admin" ui="GUI(10.6.30.254)" '
            b'action="Add" cfgtid=2162721 cfgpath="user.local" cfgobj="test" msg="Add user"\n'
        )
        self.put("line_formats", "fortigate.log", _b(2) + fortigate)
        # Zeek logs of campaign 06 (TSV with their header).
        zeek_zip = ds / "otrf" / "zeek" / "LSASS_campaign_06_zeek_logs.zip"
        for log in ("conn.log", "dns.log", "http.log", "weird.log", "x509.log", "ssl.log"):
            data = self.member(zeek_zip, log)
            head = b"\n".join(data.split(b"\n")[:14]) + b"\n"
            self.put("zeek", log, _b(0) + head, otrf)
            self.put("json_reader", f"zeek-{log}", _b(3) + head, otrf)
        # CloudTrail records (one JSON object a line) and a file of them.
        trail = self.member(ds / "otrf" / "aws" / "ec2_proxy_s3_exfiltration.zip").split(b"\n")
        records = [json.loads(r) for r in trail if r.strip()][:4]
        doc = json.dumps({"Records": records}).encode()
        self.put("json_document", "cloudtrail.json", _b(1) + doc, otrf)
        self.put("http_input", "cloudtrail.json", _b(2) + doc, otrf)
        self.put("s3_object", "cloudtrail.json", _b(0, 2, 0) + doc, otrf)
        self.put("s3_object", "cloudtrail.json.gz", _b(1, 3, 0) + gzip.compress(doc), otrf)
        self.put("s3_object", "cloudtrail-gz-of-rest", _b(1, 1, 0) + b"!" + doc, otrf)
        self.put(
            "json_document",
            "cloudtrail-lines.ndjson",
            _b(4) + b"\n".join(json.dumps(r).encode() for r in records),
            otrf,
        )
        # Windows events of campaign 01 (flat NDJSON).
        lsass = (
            ds / "otrf" / "LSASS_campaign_01" / "metasploit_logonpasswords_lsass_memory_dump.zip"
        )
        with zipfile.ZipFile(lsass) as z, z.open(z.infolist()[0]) as f:
            win = [f.readline() for _ in range(400)][::50]
        win_lines = b"".join(win)
        self.put("json_document", "windows.ndjson", _b(3) + win_lines, otrf)
        self.put("http_input", "windows.ndjson", _b(4) + win_lines, otrf)
        self.put("ndjson_ingest", "windows.ndjson", win_lines, otrf)
        self.put("json_reader", "windows.ndjson", _b(1) + win_lines, otrf)
        self.put(
            "json_reader",
            "windows.json",
            _b(0) + b"[" + b",".join(w.strip() for w in win) + b"]",
            otrf,
        )
        envelope = json.dumps({"source": "dc01", "host": "dc01", "record": json.loads(win[0])})
        self.put("ndjson_ingest", "envelope.ndjson", envelope.encode() + b"\n", otrf)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("w/events.ndjson", win_lines)
        self.put("json_reader", "windows.zip", _b(6) + buf.getvalue(), otrf)
        # The repository's rule samples (tests of its own rules).
        for n, sample in enumerate(sorted((ROOT / "soc/detections/samples").rglob("*.ndjson"))[:6]):
            self.put("ndjson_ingest", f"sample-{n}.ndjson", sample.read_bytes()[:4000])
        # EVTX files of SigmaHQ's regression data (DRL 1.1), the two smallest.
        evtx = sorted((SIGMA / "regression_data").rglob("*.evtx"), key=lambda p: p.stat().st_size)
        for n, path in enumerate(evtx[:2]):
            self.put(
                "evtx_reader", f"regression-{n}.evtx", _b(0) + path.read_bytes(), SIGMA / "LICENSE"
            )
        # The repository's rules, filters, correlations.
        rules = sorted((ROOT / "soc/detections/rules").rglob("*.yml"))
        corr = [r for r in rules if "\ncorrelation:" in r.read_text(encoding="utf-8")]
        filt = [r for r in rules if "\nfilter:" in r.read_text(encoding="utf-8")]
        plain = [r for r in rules if r not in corr and r not in filt]
        for r in plain[:: max(1, len(plain) // 12)]:
            self.put("sigma_rule", r.name, r.read_bytes())
        for r in corr[:6]:
            self.put("sigma_correlation", r.name, r.read_bytes())
        for r in filt[:6]:
            self.put("sigma_filter", r.name, r.read_bytes())
        filter_text = (
            "title: Tuning\nid: 6f7e2b9c-0a43-4c38-9f0e-1d2a3b4c5d6e\n"
            "logsource: {product: windows, category: process_creation}\n"
            "filter:\n    rules: [15619216-e993-4721-b590-4c520615a67d]\n"
            "    selection: {User: 'NT AUTHORITY\\SYSTEM'}\n    condition: not selection\n"
        )
        self.put("sigma_filter", "tuning.yml", filter_text.encode())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for r in plain[:3] + corr[:1]:
                z.writestr(f"pack/{r.name}", r.read_bytes())
            z.writestr("README.md", "a pack\n")
        self.put("rule_pack", "pack.zip", buf.getvalue())
        # Drill scenarios and connector configurations shipped.
        for s in sorted((ROOT / "soc/detections/drills").glob("*/scenario.yml")):
            self.put("drill_scenario", f"{s.parent.name}.yml", s.read_bytes())
        for c in [
            ROOT / "deploy/connector/connector.yml",
            *sorted((ROOT / "deploy/connector/examples").glob("*.yml")),
        ]:
            self.put("connector_config", c.name, c.read_bytes())
        # Threat intelligence: the tests' MISP export and plain list, and a STIX bundle.
        self.put(
            "stix", "misp_event.json", _b(0) + (ROOT / "tests/intel/misp_event.json").read_bytes()
        )
        self.put(
            "stix", "plain_list.txt", _b(4) + (ROOT / "tests/intel/plain_list.txt").read_bytes()
        )
        bundle = {
            "type": "bundle",
            "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
            "objects": [
                {
                    "type": "marking-definition",
                    "spec_version": "2.1",
                    "id": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
                    "created": "2022-10-01T00:00:00.000Z",
                    "name": "TLP:RED",
                    "extensions": {
                        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                            "extension_type": "property-extension",
                            "tlp_2_0": "red",
                        }
                    },
                },
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                    "created": "2026-03-01T08:00:00.000Z",
                    "modified": "2026-03-02T08:00:00.000Z",
                    "name": "C2",
                    "pattern_type": "stix",
                    "valid_from": "2026-03-01T08:00:00Z",
                    "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = "
                    "'evil.example'] OR [file:hashes.'SHA-256' = '" + "a" * 64 + "']",
                    "object_marking_refs": [
                        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
                    ],
                    "confidence": 80,
                },
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": "indicator--1f2e2d2b-17d4-4cbf-938f-98ee46b3cd30",
                    "created": "2026-03-01T08:00:00.000Z",
                    "modified": "2026-03-01T08:00:00.000Z",
                    "pattern_type": "stix",
                    "valid_from": "2026-03-01T08:00:00Z",
                    "pattern": "[url:value = 'http://evil.example/a'] AND "
                    "[network-traffic:dst_port = 443]",
                },
            ],
        }
        self.put("stix", "bundle.json", _b(2) + json.dumps(bundle).encode())
        envelope_doc = {"more": False, "objects": bundle["objects"]}
        self.put("taxii_envelope", "envelope.json", _b(0) + json.dumps(envelope_doc).encode())
        # Event queries, from the query language's own tests (tests/unit/test_eventquery.py).
        for n, q in enumerate(
            (
                "EventID:4688",
                'User:"NT AUTHORITY\\\\SYSTEM"',
                "Image:*\\\\lsass.exe",
                "EventID:[4600 TO 4700}",
                "EventID:>=5000",
                "_exists_:CommandLine",
                "mimikatz",
                "lsass.exe",
                "mimi*",
                "a:b OR NOT c:d",
                "-a:b",
                "a:(b OR c*)",
                'host:WS0? AND "Invoke  Mimikatz"',
                "x:[* TO b]",
            )
        ):
            self.put("event_query", f"q{n}", q.encode())


def main() -> None:
    datasets = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/datasets")
    Builder(datasets).build()


if __name__ == "__main__":
    main()
