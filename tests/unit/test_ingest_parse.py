"""NDJSON parsing and normalization, on real recorded Windows events."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soc.ingest.ndjson import parse_ndjson
from soc.ingest.normalize import flatten, infer_logsource, normalize
from soc.models import LogSource

RECEIVED = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def otrf_lines(shared_dir: Path) -> list[bytes]:
    """The first 400 lines of the recorded LSASS campaign, as sent."""
    path = next((shared_dir / "datasets/otrf/LSASS_campaign_01").glob("*.zip"))
    with zipfile.ZipFile(path) as z, z.open(z.namelist()[0]) as f:
        return [f.readline().rstrip(b"\n") for _ in range(400)]


def parse(body: bytes, max_line_bytes: int = 1 << 20):  # type: ignore[no-untyped-def]
    return parse_ndjson(
        body, tenant="hue-ioc", source="test", received=RECEIVED, max_line_bytes=max_line_bytes
    )


def test_real_windows_events_normalize(otrf_lines: list[bytes]) -> None:
    out = parse(b"\n".join(otrf_lines))
    assert len(out.events) == 400 and out.dead == []
    first = out.events[0]
    record = json.loads(otrf_lines[0])
    assert first.raw == record
    assert first.host == record["Hostname"]
    assert first.time == datetime.fromisoformat(record["@timestamp"].replace("Z", "+00:00"))
    assert first.received == RECEIVED and first.tenant == "hue-ioc"
    assert first.logsource == LogSource(product="windows", service="application")
    security = next(e for e in out.events if e.raw.get("Channel") == "Security")
    assert security.logsource.service == "security"


def test_same_record_same_id_and_different_record_different_id(otrf_lines: list[bytes]) -> None:
    a = parse(otrf_lines[0]).events[0]
    again = parse(otrf_lines[0]).events[0]
    other = parse(otrf_lines[1]).events[0]
    assert a.id == again.id
    assert a.id != other.id
    other_tenant = parse_ndjson(
        otrf_lines[0], tenant="hue-dof", source="test", received=RECEIVED, max_line_bytes=1 << 20
    ).events[0]
    assert other_tenant.id != a.id


def test_bad_lines_are_refused_alone_with_line_numbers(otrf_lines: list[bytes]) -> None:
    body = b"\n".join(
        [
            otrf_lines[0],
            b'{"Channel": "Security", "EventID": 46',  # truncated
            b"[1, 2, 3]",
            otrf_lines[1],
            b"\xff\xfe garbage",
            b"",  # blank lines are skipped, not refused
            b'{"@timestamp": "yesterday-ish", "EventID": 1}',
            b"x" * 3000,
            otrf_lines[2] + b"\r",
        ]
    )
    out = parse(body, max_line_bytes=2048)
    assert [e.raw for e in out.events] == [json.loads(otrf_lines[i]) for i in range(3)]
    assert [(d.line, d.reason) for d in out.dead] == [
        (2, "not_json"),
        (3, "not_object"),
        (5, "not_json"),
        (7, "invalid"),
        (8, "too_large"),
    ]
    assert "not valid JSON" in out.dead[0].detail
    assert "@timestamp" in out.dead[3].detail
    assert out.dead[0].payload == '{"Channel": "Security", "EventID": 46'
    assert out.dead[4].size == 3000


def test_envelope_states_what_the_record_lacks() -> None:
    line = json.dumps(
        {
            "record": {"message": "Failed password for root from 203.0.113.9 port 22"},
            "host": "web01",
            "time": "2026-11-24T01:02:03+07:00",
            "logsource": {"product": "linux", "service": "sshd"},
            "source": "syslog:web01",
        }
    ).encode()
    event = parse(line).events[0]
    assert event.host == "web01" and event.source == "syslog:web01"
    assert event.time == datetime(2026, 11, 23, 18, 2, 3, tzinfo=UTC)
    assert event.logsource == LogSource(product="linux", service="sshd")
    assert event.fields == {"message": "Failed password for root from 203.0.113.9 port 22"}


def test_envelope_with_unknown_key_is_a_plain_record_and_bad_envelope_is_refused() -> None:
    plain = parse(b'{"record": {"a": 1}, "user": "x"}').events[0]
    assert plain.raw == {"record": {"a": 1}, "user": "x"}
    bad = parse(b'{"record": {"a": 1}, "time": "not a time"}')
    assert bad.events == [] and bad.dead[0].reason == "invalid"
    assert bad.dead[0].detail.startswith("time")


def test_record_without_time_takes_the_received_time() -> None:
    event = normalize({"msg": "x"}, tenant="t", source="s", received=RECEIVED)
    assert event.time == RECEIVED


def test_flatten_nests_to_dotted_names_and_keeps_lists() -> None:
    assert flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": None}) == {
        "a.b.c": 1,
        "a.d": [1, 2],
        "e": None,
    }


def test_epoch_times_in_seconds_and_milliseconds() -> None:
    s = normalize({"timestamp": 1_700_000_000}, tenant="t", source="s", received=RECEIVED)
    ms = normalize({"timestamp": 1_700_000_000_000}, tenant="t", source="s", received=RECEIVED)
    assert s.time == ms.time == datetime.fromtimestamp(1_700_000_000, UTC)


@pytest.mark.parametrize(
    ("channel", "event_id", "extra", "expected"),
    [
        ("Microsoft-Windows-Sysmon/Operational", 1, {}, ("sysmon", "process_creation")),
        ("microsoft-windows-sysmon/operational", "10", {}, ("sysmon", "process_access")),
        (
            "Microsoft-Windows-Sysmon/Operational",
            12,
            {"EventType": "CreateKey"},
            ("sysmon", "registry_add"),
        ),
        (
            "Microsoft-Windows-Sysmon/Operational",
            12,
            {"EventType": "DeleteValue"},
            ("sysmon", "registry_delete"),
        ),
        ("Microsoft-Windows-Sysmon/Operational", 13, {}, ("sysmon", "registry_set")),
        ("Security", 4688, {}, ("security", "process_creation")),
        ("Security", 4624, {}, ("security", None)),
        ("Windows PowerShell", 800, {}, ("powershell-classic", "ps_classic_script")),
        ("Some/Unknown", 1, {}, (None, None)),
    ],
)
def test_windows_logsource_from_channel_and_event_id(
    channel: str, event_id: object, extra: dict[str, str], expected: tuple[str | None, ...]
) -> None:
    ls = infer_logsource({"Channel": channel, "EventID": event_id, **extra})
    assert ls.product == "windows"
    assert (ls.service, ls.category) == expected


def test_known_logsources_cover_what_inference_gives(otrf_lines: list[bytes]) -> None:
    from soc.ingest.normalize import known_logsources

    known = set(known_logsources())
    seen = {e.logsource for e in parse(b"\n".join(otrf_lines)).events}
    assert seen <= known
    assert LogSource(product="windows", service="sysmon", category="registry_add") in known
