"""auditd, CEF, FortiGate, CloudTrail, Kubernetes audit, Windows and generic JSON.

Every input here is a documented example (Red Hat's audit documentation, the
ArcSight CEF specification, Fortinet's FortiOS log reference, the AWS
CloudTrail and Kubernetes auditing documentation) or built from their
documented schema; none is a recording.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from connectors.parse import Defaults, parse
from soc.models import LogSource
from tests.connectors._util import fields, only, routes, rule_logsources

# --- auditd: Red Hat Enterprise Linux security guide, "Understanding Audit Log Files" ---------

RHEL_AUDIT = b"""\
type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2 success=no exit=-13 a0=7fffd19c5592 a1=0 a2=7fffd19c4b50 a3=a items=1 ppid=2686 pid=3538 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=1 comm="cat" exe="/bin/cat" subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 key="sshd_config"
type=CWD msg=audit(1364481363.243:24287):  cwd="/home/shadowman"
type=PATH msg=audit(1364481363.243:24287): item=0 name="/etc/ssh/sshd_config" inode=409248 dev=fd:00 mode=0100600 ouid=0 ogid=0 rdev=00:00 obj=system_u:object_r:etc_t:s0  objtype=NORMAL cap_fp=none cap_fi=none cap_fe=0 cap_fver=0
type=PROCTITLE msg=audit(1364481363.243:24287) : proctitle=636174002F6574632F7373682F737368645F636F6E666967
"""  # noqa: E501


def test_auditd_records() -> None:
    syscall, cwd, path, proctitle = parse(RHEL_AUDIT, format="auditd")
    assert syscall.logsource == LogSource(product="linux", service="auditd")
    assert syscall.time == datetime(2013, 3, 28, 14, 36, 3, 243000, tzinfo=UTC)
    assert {k: syscall.record[k] for k in ("type", "syscall", "a0", "comm", "exe", "key")} == {
        "type": "SYSCALL",
        "syscall": "2",
        "a0": "7fffd19c5592",  # a syscall argument is a number, not encoded text
        "comm": "cat",
        "exe": "/bin/cat",
        "key": "sshd_config",
    }
    assert cwd.record["cwd"] == "/home/shadowman"
    assert (path.record["name"], path.record["dev"]) == ("/etc/ssh/sshd_config", "fd:00")
    assert proctitle.record["proctitle"] == "cat /etc/ssh/sshd_config"
    assert {e.record["serial"] for e in (syscall, cwd, path, proctitle)} == {"24287"}
    assert parse(RHEL_AUDIT, format="auto") == [syscall, cwd, path, proctitle]


def test_auditd_encoded_execve_enriched_and_user_records() -> None:
    lines = [
        b'type=EXECVE msg=audit(1700000000.5:9): argc=3 a0="arecord" a1=2D7676 a2="-fdat"',
        b'type=SYSCALL msg=audit(1700000000.5:9): arch=c000003e syscall=319 comm="ecasound" '
        b'exe="/usr/bin/ecasound" key=6B31016B32\x1dARCH=x86_64 SYSCALL=memfd_create AUID="bob"',
        b"node=web1 type=USER_LOGIN msg=audit(1700000000.5:10): pid=1 uid=0 auid=4294967295 "
        b'msg=\'op=login acct="root" exe="/usr/sbin/sshd" addr=1.2.3.4 res=failed\'',
    ]
    execve, syscall, login = parse(b"\n".join(lines), format="auditd")
    assert (execve.record["a0"], execve.record["a1"], execve.record["a2"]) == (
        "arecord",
        "-vv",
        "-fdat",
    )
    assert (syscall.record["SYSCALL"], syscall.record["AUID"]) == ("memfd_create", "bob")
    assert syscall.record["key"] == "k1,k2"
    assert login.host == "web1"
    assert (login.record["acct"], login.record["res"], login.record["addr"]) == (
        "root",
        "failed",
        "1.2.3.4",
    )


# --- CEF: examples of the ArcSight "Implementing ArcSight CEF" specification -----------------


def test_cef_spec_examples() -> None:
    lines = [
        rb"Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232",  # noqa: E501
        rb"CEF:0|security|threatmanager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a | dst=1.1.1.1",  # noqa: E501
        rb"CEF:0|security|threatmanager|1.0|100|detected a \\ in packet|10|src=10.0.0.1 act=blocked a \\ dst=1.1.1.1",  # noqa: E501
        rb"CEF:0|security|threatmanager|1.0|100|detected a = in message|10|src=10.0.0.1 act=blocked a \= dst=1.1.1.1",  # noqa: E501
    ]
    first, pipe, backslash, equals = parse(b"\n".join(lines), format="cef")
    assert first.host == "host"
    assert {k: first.record[k] for k in ("device_vendor", "device_product", "signature_id",
                                         "name", "cef_severity", "src", "spt", "src_port")} == {
        "device_vendor": "Security", "device_product": "threatmanager", "signature_id": "100",
        "name": "worm successfully stopped", "cef_severity": "10", "src": "10.0.0.1",
        "spt": "1232", "src_port": 1232,
    }  # fmt: skip
    assert first.logsource == LogSource(category="firewall")
    assert (pipe.record["name"], pipe.record["act"]) == ("detected a | in message", "blocked a |")
    assert backslash.record["name"] == "detected a \\ in packet"
    assert backslash.record["act"] == "blocked a \\"
    assert (equals.record["act"], equals.record["dst"]) == ("blocked a =", "1.1.1.1")
    assert parse(b"\n".join(lines), format="auto") == [first, pipe, backslash, equals]


def test_cef_configured_logsource_wins_for_other_vendors() -> None:
    d = Defaults(logsource=LogSource(product="paloalto", category="firewall"))
    ev = only(parse(rb"CEF:0|Palo Alto Networks|PAN-OS|10|end|TRAFFIC|1|rt=1700000000000 "
                    rb"msg=a\nb", format="cef", defaults=d))  # fmt: skip
    assert ev.logsource == LogSource(product="paloalto", category="firewall")
    assert ev.time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert ev.record["msg"] == "a\nb"


# --- Fortinet: after the examples of Fortinet's FortiOS log message reference ---------------


def test_fortigate_cef_and_native() -> None:
    cef = (
        b"Nov 27 17:18:21 FGT-A CEF:0|Fortinet|Fortigate|v6.0.3|00013|traffic:forward close|3|"
        b"deviceExternalId=FGT5HD3915800610 FTNTFGTlogid=0000000013 cat=traffic:forward "
        b"FTNTFGTsubtype=forward FTNTFGTlevel=notice FTNTFGTvd=vdom1 FTNTFGTeventtime=1545938140 "
        b"src=10.1.100.11 shost=10.1.100.11 spt=54190 dst=52.53.140.235 dpt=443 act=close"
    )
    native = (
        b'date=2019-05-13 time=11:20:54 logid="0100044547" type="event" subtype="system" '
        b'level="information" vd="vdom1" eventtime=1557771654587081441 devname="FGT-HUE" '
        b'logdesc="Object attribute configured" user="admin" ui="GUI(10.6.30.254)" '
        b'action="Add" cfgtid=2162721 cfgpath="user.local" cfgobj="test" msg="Add user.local test"'
    )
    fcef = only(parse(cef, format="cef"))
    assert fcef.logsource == LogSource(product="fortigate", service="traffic")
    assert (fcef.record["logid"], fcef.record["dst_port"], fcef.host) == (
        "0000000013",
        443,
        "FGT-A",
    )
    ev = only(parse(native, format="fortigate"))
    assert ev.logsource == LogSource(product="fortigate", service="event")
    assert (ev.record["action"], ev.record["cfgpath"], ev.host) == ("Add", "user.local", "FGT-HUE")
    assert ev.time == datetime(2019, 5, 13, 18, 20, 54, 587081, tzinfo=UTC)
    assert parse(native, format="auto") == [ev]
    relayed = only(parse(b"<189>May 13 11:20:54 fgt1 " + native, format="syslog"))
    assert relayed.record["cfgpath"] == "user.local" and relayed.record["facility"] == "local7"


def test_fortigate_events_route_to_sigmahq_fortigate_rules(shared_dir: Path) -> None:
    ev = only(parse(b'date=2019-05-13 time=11:20:54 logid="0100044547" type="event" '
                    b'action="Add" cfgpath="user.local"', format="fortigate"))  # fmt: skip
    assert ev.logsource is not None
    for rule in rule_logsources(shared_dir / "sigma/rules/network/fortinet/fortigate"):
        assert routes(ev.logsource, rule)


# --- CloudTrail: the StartInstances/StopInstances examples of the AWS CloudTrail user guide --

CLOUDTRAIL = {
    "Records": [
        {
            "eventVersion": "1.0",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "EX_PRINCIPAL_ID",
                "arn": "arn:aws:iam::123456789012:user/Alice",
                "accessKeyId": "EXAMPLE_KEY_ID",
                "accountId": "123456789012",
                "userName": "Alice",
            },
            "eventTime": "2014-03-06T21:22:54Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "StartInstances",
            "awsRegion": "us-east-2",
            "sourceIPAddress": "205.251.233.176",
            "userAgent": "ec2-api-tools 1.6.12.2",
            "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-ebeaf9e2"}]}},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-ebeaf9e2"}]}},
            "recipientAccountId": "123456789012",
        },
        {
            "eventVersion": "1.0",
            "userIdentity": {"type": "IAMUser", "userName": "Alice"},
            "eventTime": "2014-03-06T21:01:59Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "StopInstances",
            "awsRegion": "us-east-2",
            "sourceIPAddress": "205.251.233.176",
            "requestParameters": {"force": False},
        },
    ]
}


def test_cloudtrail_file_pretty_and_compact() -> None:
    for data in (json.dumps(CLOUDTRAIL, indent=2), json.dumps(CLOUDTRAIL)):
        for fmt in ("cloudtrail", "auto"):
            start, stop = parse(data.encode(), format=fmt)
            assert start.record == CLOUDTRAIL["Records"][0]  # kept whole and nested
            assert start.logsource == LogSource(product="aws", service="cloudtrail")
            assert start.time == datetime(2014, 3, 6, 21, 22, 54, tzinfo=UTC)
            assert start.host is None
            assert stop.record["eventName"] == "StopInstances"


def test_cloudtrail_bad_record_does_not_cost_the_others() -> None:
    doc = {"Records": [CLOUDTRAIL["Records"][0], 42, {"foo": 1}]}
    good, number, odd = parse(json.dumps(doc).encode(), format="cloudtrail")
    assert "parse_error" not in good.record
    assert (number.record["parse_error"], number.record["message"]) == ("malformed", "42")
    assert odd.record["parse_error"] == "malformed" and json.loads(odd.record["message"]) == {
        "foo": 1
    }


def test_cloudtrail_routes_to_sigmahq_aws_rules(shared_dir: Path) -> None:
    ev = parse(json.dumps(CLOUDTRAIL).encode(), format="cloudtrail")[0]
    assert ev.logsource is not None
    assert all(
        routes(ev.logsource, r) for r in rule_logsources(shared_dir / "sigma/rules/cloud/aws")
    )


# --- Kubernetes: built from the audit.k8s.io/v1 Event schema of the Kubernetes docs -----------

K8S_EVENT = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "auditID": "ad3a9e5c-3a69-4ae7-8c6d-1e0c2b1f5c2e",
    "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/kube-system/pods/coredns-1/exec?command=sh",
    "verb": "create",
    "user": {"username": "alice", "groups": ["system:authenticated"]},
    "sourceIPs": ["10.0.0.7"],
    "userAgent": "kubectl/v1.29.0",
    "objectRef": {
        "resource": "pods",
        "namespace": "kube-system",
        "name": "coredns-1",
        "subresource": "exec",
        "apiVersion": "v1",
    },
    "responseStatus": {"metadata": {}, "code": 101},
    "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z",
    "stageTimestamp": "2024-05-01T10:00:00.123456Z",
}


def test_k8s_audit_lines_and_event_list(shared_dir: Path) -> None:
    line = only(parse(json.dumps(K8S_EVENT).encode(), format="k8s-audit"))
    assert line.record == K8S_EVENT
    assert line.logsource == LogSource(
        product="kubernetes", category="application", service="audit"
    )
    assert line.time == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    event_list = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [K8S_EVENT] * 3}
    assert parse(json.dumps(event_list).encode(), format="k8s-audit") == [line] * 3
    assert parse(json.dumps(event_list).encode(), format="auto") == [line] * 3
    assert line.logsource is not None
    rules = rule_logsources(shared_dir / "sigma/rules/application/kubernetes")
    assert all(routes(line.logsource, r) for r in rules)


# --- Windows and generic JSON: routed by soc.ingest's own Windows logic ----------------------


def test_windows_json_shapes_get_soc_ingest_logsource() -> None:
    flat = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\x.exe"}
    evtx = {"Event": {"System": {"Channel": "Security", "EventID": 4688, "Computer": "ws1"},
                      "EventData": {"NewProcessName": "C:\\x.exe"}}}  # fmt: skip
    winlogbeat = {"winlog": {"channel": "Security", "event_id": 4624, "event_data": {}}}
    data = b"\n".join(json.dumps(o).encode() for o in (flat, evtx, winlogbeat))
    for fmt in ("windows-json", "auto"):
        a, b, c = parse(data, format=fmt)
        assert a.logsource == LogSource(
            product="windows", category="process_creation", service="sysmon"
        )
        assert b.logsource == LogSource(
            product="windows", category="process_creation", service="security"
        )
        assert c.logsource is not None and c.logsource.service == "security"
        assert (a.record, b.record, c.record) == (flat, evtx, winlogbeat)


def test_json_records_keep_the_host_they_name(shared_dir: Path) -> None:
    """A collector's configured host stands only for records that name none: the recorded
    campaign's Windows events stay on their machine (Hostname; evtx Computer), whatever
    the format, and a generic record's ``host.name`` is kept too."""
    import zipfile

    path = next((shared_dir / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        recorded = [f.readline().strip() for _ in range(20)]
    d = Defaults(host="collector-01")
    for fmt in ("windows-json", "auto", "json"):
        events = parse(b"\n".join(recorded), format=fmt, defaults=d)
        assert {e.host for e in events} == {"MKT01.pandalab.com"}
    evtx = {"Event": {"System": {"Channel": "Security", "EventID": 4688, "Computer": "ws1"}}}
    assert only(parse(json.dumps(evtx).encode(), format="windows-json", defaults=d)).host == "ws1"
    named = only(parse(b'{"host": {"name": "web-7"}, "msg": "x"}', format="json", defaults=d))
    assert named.host == "web-7"


def test_generic_json_takes_the_configured_logsource() -> None:
    d = Defaults(logsource=LogSource(product="opencanary"), host="canary1")
    ev = only(parse(b'{"logtype": 5001, "dst_port": 22}', format="json", defaults=d))
    assert ev.logsource == LogSource(product="opencanary")
    assert (ev.host, fields(ev)) == ("canary1", {"logtype": 5001, "dst_port": 22})
