"""Observables from real events: the OTRF Windows slice and a Linux auth log."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta

import pytest

from soc.incidents.models import Observable, ObservableType
from soc.incidents.observables import account, collect, extract, hashes, hostname, ip, union
from soc.models import Event
from tests.unit.incidents.conftest import RECEIVED, TENANT, Recording

T = ObservableType


def found(event: Event) -> set[tuple[str, str]]:
    return {(o.type.value, o.value) for o in extract(event)}


def alert_event(rec: Recording, title: str, nth: int = 0) -> Event:
    alerts = [a for a in rec.alerts if a.rule_title == title]
    return rec.event_of(alerts[nth])


def test_the_payload_download_gives_url_ip_account_and_file_hashes(otrf: Recording) -> None:
    # Sysmon 15, Zone.Identifier of winx64_payload.exe downloaded by Edge from 10.0.5.13.
    event = alert_event(otrf, "Unusual File Download from Direct IP Address", 1)
    assert "ReferrerUrl=http://10.0.5.13/" in event.fields["Contents"]
    assert found(event) == {
        ("host", "mkt01.pandalab.com"),
        ("url", "http://10.0.5.13/"),
        ("url", "http://10.0.5.13/winx64_payload.exe"),
        ("ip", "10.0.5.13"),
        ("account", "PANDALAB\\stevie.marie"),
        ("hash", "41933f941e7f93b9dff554121a1aadde88cfc2f3"),
        ("hash", "7272ce348764a37891eb0f5f61ef1c70"),
        ("hash", "bcbd14689f4c3a8c526181fe10fa0d348ec45c29aaaab99687d0c1af8ca27aab"),
    }
    by_value = {o.value: o for o in extract(event)}
    assert by_value["10.0.5.13"].field == "Contents"
    assert by_value["10.0.5.13"].first_seen == event.time


def test_sysmon_hashes_drop_imphash_and_all_zero_values(otrf: Recording) -> None:
    event = alert_event(otrf, "Unusual File Download from Direct IP Address", 0)
    assert "IMPHASH=00000000000000000000000000000000" in event.fields["Hash"]
    whoami = alert_event(otrf, "Group Membership Reconnaissance Via Whoami.EXE")
    assert "IMPHASH=7FF0758B766F747CE57DFAC70743FB88" in whoami.fields["Hashes"]
    got = {o.value for o in extract(whoami) if o.type is T.hash}
    assert got == {
        "1915fbfdb73fdd200c47880247acdde5442431a9",
        "a4a6924f3eaf97981323703d38fd99c4",
        "1d4902a04d99e8ccbfe7085e63155955fee397449d386453f6c452ae407b8743",
    }
    assert "7ff0758b766f747ce57dfac70743fb88" not in got


def test_security_events_join_user_and_domain_and_skip_machine_accounts(otrf: Recording) -> None:
    service = alert_event(
        otrf, "Meterpreter or Cobalt Strike Getsystem Service Installation - Security"
    )
    assert (service.fields["SubjectDomainName"], service.fields["SubjectUserName"]) == (
        "PANDALAB",
        "pedro.gustavo",
    )
    assert ("account", "PANDALAB\\pedro.gustavo") in found(service)
    # 4688 by the machine account, target "-": no account at all.
    proc = alert_event(otrf, "Potential Meterpreter/CobaltStrike Activity", 0)
    assert proc.fields["SubjectUserName"] == "MKT01$" and proc.fields["TargetUserName"] == "-"
    assert {t for t, _ in found(proc)} == {"host"}


def test_system_principals_are_left_out(otrf: Recording) -> None:
    event = alert_event(otrf, "Whoami.EXE Execution From Privileged Process")
    assert event.fields["User"] == "NT AUTHORITY\\SYSTEM"
    assert not [o for o in extract(event) if o.type is T.account]


def test_dns_query_gives_a_domain_and_the_mapped_answer(otrf: Recording) -> None:
    dns = next(e for e in otrf.events if e.fields.get("QueryName") == "DC01.pandalab.com")
    assert dns.fields["QueryResults"] == "::ffff:192.168.1.4;"
    assert {("domain", "dc01.pandalab.com"), ("ip", "192.168.1.4")} <= found(dns)


def test_network_connection_gives_both_addresses(otrf: Recording) -> None:
    net = next(e for e in otrf.events if "DestinationIp" in e.fields)
    got = found(net)
    assert ("ip", net.fields["SourceIp"]) in got and ("ip", net.fields["DestinationIp"]) in got


def test_every_observable_of_the_slice_is_canonical(otrf: Recording) -> None:
    everything = [o for e in otrf.events for o in extract(e)]
    assert len({o.key for o in everything}) > 100
    for o in everything:
        assert o.value.strip() == o.value and o.value not in ("-", "")
        if o.type is T.ip:
            addr = ipaddress.ip_address(o.value)
            assert str(addr) == o.value and not addr.is_loopback and not addr.is_unspecified
        elif o.type is T.hash:
            assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", o.value)
        elif o.type in (T.host, T.domain):
            assert o.value == o.value.lower()
        elif o.type is T.account:
            assert not o.value.endswith("$") and not o.value.startswith("NT AUTHORITY")
    # The WFP events' "::" source address is unspecified and left out.
    assert not [o for o in everything if o.value in ("::", "0.0.0.0")]


def test_ssh_failures_give_the_attackers_address_and_the_tried_account(
    authlog: Recording,
) -> None:
    failures = [a for a in authlog.alerts if a.rule_title == "SSH Password Authentication Failure"]
    with_ip = [authlog.event_of(a) for a in failures if authlog.event_of(a).fields.get("src_ip")]
    assert len(with_ip) > 500
    loopback = 0
    for event in with_ip:
        got = found(event)
        if event.fields["src_ip"] == "127.0.0.1":  # PAM lines of local logins
            loopback += 1
            assert not [v for t, v in got if t == "ip"]
        else:
            assert ("ip", event.fields["src_ip"]) in got
        assert ("host", "ip-10-77-20-248") in got
        user = event.fields.get("user")
        if user:
            assert ("account", user) in got
    assert 0 < loopback < len(with_ip) / 10


def test_sudo_gives_both_accounts_and_the_url_in_the_command(authlog: Recording) -> None:
    first = authlog.event_of(authlog.alerts[0])
    assert first.fields["program"] == "sudo"
    assert found(first) == {
        ("host", "ip-10-77-20-248"),
        ("account", "ubuntu"),
        ("account", "root"),
        (
            "url",
            "https://artifacts.elastic.co/downloads/beats/filebeat/filebeat-5.2.2-amd64.deb",
        ),
        ("domain", "artifacts.elastic.co"),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.5.13", "10.0.5.13"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:192.168.1.4", "192.168.1.4"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::2]", "2001:db8::2"),
        ("127.0.0.1", None),
        ("::1", None),
        ("0.0.0.0", None),
        ("::", None),
        ("169.254.10.1", None),
        ("fe80::1", None),
        ("224.0.0.251", None),
        ("10.0.19041.1", None),
        ("-", None),
        ("host.example", None),
    ],
)
def test_ip_canonical_form_and_noise(text: str, expected: str | None) -> None:
    assert ip(text) == expected


def test_hostname_account_and_hash_helpers() -> None:
    assert hostname("MKT01.PandaLab.com.") == "mkt01.pandalab.com"
    for bad in ("-", "localhost", "has space", "a..b", "x" * 300):
        assert hostname(bad) is None, bad
    assert account("stevie.marie", "PANDALAB") == "PANDALAB\\stevie.marie"
    assert account("PANDALAB\\stevie.marie") == "PANDALAB\\stevie.marie"
    assert account("root") == "root"
    for noise in (("MKT01$", "PANDALAB"), ("SYSTEM", "NT AUTHORITY"), ("DWM-1", "Window Manager")):
        assert account(*noise) is None, noise
    assert account("NT AUTHORITY\\NETWORK SERVICE") is None
    assert account("-", "-") is None and account("alice", "-") == "alice"
    assert list(
        hashes("SHA1=AB,MD5=" + "F" * 32 + ",SHA256=" + "0" * 64 + ",IMPHASH=" + "1" * 32)
    ) == ["f" * 32]


def test_union_keeps_the_earliest_sighting_and_a_limit() -> None:
    def obs(value: str, minutes: int) -> Observable:
        return Observable(
            type=T.ip, value=value, first_seen=RECEIVED + timedelta(minutes=minutes), field="x"
        )

    merged = union([obs("192.0.2.1", 5)], [obs("192.0.2.1", 1), obs("192.0.2.2", 9)])
    assert [(o.value, o.first_seen) for o in merged] == [
        ("192.0.2.1", RECEIVED + timedelta(minutes=1)),
        ("192.0.2.2", RECEIVED + timedelta(minutes=9)),
    ]
    assert len(union([], (obs(f"192.0.2.{i}", i) for i in range(50)), limit=10)) == 10


def test_collect_over_an_incidents_events(otrf: Recording) -> None:
    events = [otrf.event_of(a) for a in otrf.alerts]
    got = collect(events)
    keys = {o.key for o in got}
    assert len(keys) == len(got)
    assert (T.ip, "10.0.5.13") in keys and (T.account, "PANDALAB\\pedro.gustavo") in keys
    host = next(o for o in got if o.key == (T.host, "mkt01.pandalab.com"))
    assert host.first_seen == min(e.time for e in events)
    assert all(e.tenant == TENANT for e in events)
