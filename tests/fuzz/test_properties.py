"""Properties of the parsers that take outside input, checked by hypothesis: round trips
where the format has one, and "a result or a typed error" where it has none."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.config import parse_config
from connectors.errors import ConfigError as ConnectorConfigError
from connectors.errors import ParseError
from connectors.parse import Framer, parse
from connectors.parse.syslog import parse_syslog
from connectors.sources.file_tail.tail import Tail
from connectors.sources.s3.inflate import inflate
from soc.errors import ConfigError, IntelFormatError
from soc.ingest.ndjson import parse_ndjson
from soc.intel.parse import Intake, parse_plain
from soc.intel.parse import parse as intel_parse
from soc.store.eventquery import Equals, QuerySyntaxError
from soc.store.eventquery import parse as query
from tests.fuzz.targets._common import DEFAULTS
from tests.fuzz.targets._lines import lines_of

RANDOM = os.environ.get("SOC_FUZZ_RANDOM") == "1"
"""`make fuzz` explores (random examples, many); `make test` checks the same fixed examples
every run, so a run fails only when the code changes, never by the draw."""
FAST = settings(
    max_examples=1000 if RANDOM else 100,
    derandomize=not RANDOM,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# --- framing ------------------------------------------------------------------------------

messages = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8)
cuts = st.lists(st.integers(min_value=0, max_value=4000), max_size=12)


@FAST
@given(messages, cuts)
def test_octet_counting_round_trips_whatever_the_chunks(msgs: list[bytes], at: list[int]) -> None:
    stream = b"".join(b"%d %s" % (len(m), m) for m in msgs)
    framer = Framer("octet", max_frame=200, head=16)
    frames = [f for chunk in _chunks(stream, at) for f in framer.feed(chunk)] + framer.flush()
    assert len(frames) == len(msgs)
    for frame, m in zip(frames, msgs, strict=True):
        assert frame.size == len(m)
        if len(m) > 200:
            assert (frame.error, frame.data) == ("too_large", m[:16])
        else:
            assert (frame.error, frame.data) == (None, m)


line_bytes = st.binary(min_size=1, max_size=300).filter(lambda b: b"\n" not in b and b"\r" not in b)


@FAST
@given(st.lists(line_bytes, min_size=1, max_size=8), cuts, st.booleans())
def test_newline_framing_round_trips_whatever_the_chunks(
    lines: list[bytes], at: list[int], final_lf: bool
) -> None:
    stream = b"\n".join(lines) + (b"\n" if final_lf else b"")
    framer = Framer("newline", max_frame=200, head=16)
    frames = [f for chunk in _chunks(stream, at) for f in framer.feed(chunk)] + framer.flush()
    assert [f.size for f in frames] == [len(line) for line in lines]
    assert [f.data for f in frames] == [line if len(line) <= 200 else line[:16] for line in lines]


@FAST
@given(st.binary(max_size=2000), cuts)
def test_a_tailed_file_gives_the_same_lines_however_it_is_read(data: bytes, at: list[int]) -> None:
    def read(chunks: list[bytes]) -> list[tuple[bytes, str | None, int]]:
        tail = Tail("/f", 0, 0, None, 0, 0, 0, 0, 0, 0.0)
        frames = [f for c in chunks for f in tail.lines(c, 100, 10)]
        last = tail.flush(100, 10)
        return [(f.data, f.error, f.size) for f in [*frames, *([last] if last else [])]]

    assert read(_chunks(data, at)) == read([data])


# --- S3 objects -------------------------------------------------------------------------


@FAST
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=3), cuts)
def test_gzip_members_inflate_to_what_was_compressed(parts: list[bytes], at: list[int]) -> None:
    blob = b"".join(gzip.compress(p) for p in parts)
    assert inflate(iter(_chunks(blob, at)), gz_name=True, limit=1 << 20) == b"".join(parts)


# --- the connector's line parsers --------------------------------------------------------

LINE_FORMATS = ["auto", "syslog", "auth", "auditd", "apache", "nginx", "cef", "fortigate"]


@FAST
@given(st.sampled_from(LINE_FORMATS), st.lists(st.text(max_size=200), max_size=6))
def test_every_line_gives_one_event_and_no_parser_fails_by_accident(
    format: str, lines: list[str]
) -> None:
    data = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines).encode()
    events = parse(data, format=format, defaults=DEFAULTS)
    assert len(events) == lines_of(data)
    assert all(ev.record.get("parse_error") != "internal" for ev in events)


token = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=20).filter(
    lambda t: t != "-"  # RFC 5424's NILVALUE: the field is absent, not "-"
)


@FAST
@given(
    st.integers(0, 191),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    token,
    token,
    token,
    st.text(max_size=100).map(lambda t: t.replace("\n", " ")),
)
def test_rfc5424_header_round_trips(
    pri: int, when: datetime, host: str, app: str, msgid: str, body: str
) -> None:
    stamp = when.isoformat(timespec="microseconds").replace("+00:00", "Z")
    line = f"<{pri}>1 {stamp} {host} {app} 42 {msgid} - {body}"
    msg = parse_syslog(line, defaults=DEFAULTS)
    assert (msg.pri, msg.time, msg.hostname, msg.app_name, msg.procid, msg.msgid) == (
        pri,
        when,
        host,
        app,
        "42",
        msgid,
    )
    assert msg.body == body.removeprefix("\ufeff")


@FAST
@given(st.text(max_size=300))
def test_syslog_headers_parse_or_give_a_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_syslog(text, defaults=DEFAULTS)


# --- ingest ----------------------------------------------------------------------------

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=30)
)
records = st.dictionaries(
    st.text(string.ascii_letters, min_size=1, max_size=12).filter(
        lambda k: k not in ("record", "time", "host", "source", "logsource", "origin")
    ),
    json_scalar,
    min_size=1,
    max_size=8,
)


@FAST
@given(st.lists(records, min_size=1, max_size=5))
def test_ndjson_records_come_back_as_their_events(objs: list[dict[str, object]]) -> None:
    body = b"\n".join(json.dumps(o).encode() for o in objs)
    parsed = parse_ndjson(body, tenant="t1", source="s", received=NOW, max_line_bytes=1 << 20)
    dead = {d.line for d in parsed.dead}
    assert [e.raw for e in parsed.events] == [o for n, o in enumerate(objs, 1) if n not in dead]
    assert len(parsed.events) + len(parsed.dead) == len(objs)


@FAST
@given(st.binary(max_size=500))
def test_ndjson_never_raises(body: bytes) -> None:
    parse_ndjson(body, tenant="t1", source="s", received=NOW, max_line_bytes=200)


# --- the event query ---------------------------------------------------------------------

field_name = st.text(string.ascii_letters, min_size=1, max_size=12).filter(
    lambda f: f.upper() not in ("AND", "OR", "NOT", "TO")
)


@FAST
@given(field_name, st.text(string.ascii_letters + string.digits, min_size=1, max_size=12))
def test_field_value_queries_mean_equality(field: str, value: str) -> None:
    if value.upper() in ("AND", "OR", "NOT", "TO"):
        return
    assert query(f"{field}:{value}") == Equals(field.lower(), value.lower())


@FAST
@given(st.text(max_size=200))
def test_any_query_text_parses_or_names_its_column(text: str) -> None:
    try:
        query(text)
    except QuerySyntaxError as e:
        assert 1 <= e.column <= len(text) + 1


# --- threat intelligence -----------------------------------------------------------------

INTAKE = Intake(source="prop", tenant="t1")


@FAST
@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=10, unique=True))
def test_a_plain_list_of_addresses_is_taken_whole(addresses: list[str]) -> None:
    taken = parse_plain("\n".join(addresses), INTAKE)
    assert sorted(i.value for i in taken.indicators) == sorted(addresses)
    assert not taken.rejects


json_values = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
stix_keys = st.sampled_from(
    [
        "type",
        "id",
        "objects",
        "pattern",
        "pattern_type",
        "created",
        "modified",
        "valid_from",
        "valid_until",
        "extensions",
        "definition",
        "definition_type",
        "name",
        "Event",
        "Attribute",
        "object_marking_refs",
        "confidence",
        "labels",
        "value",
        "category",
        "to_ids",
        "Tag",
    ]
)
stix_like = st.recursive(
    json_scalar
    | st.sampled_from(["indicator", "bundle", "marking-definition", "tlp", "TLP:RED", "stix"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(stix_keys, inner, max_size=6),
    max_leaves=30,
)


@FAST
@given(stix_like)
def test_stix_and_misp_documents_give_a_result_or_a_format_error(doc: object) -> None:
    with contextlib.suppress(IntelFormatError):
        intel_parse(json.dumps(doc).encode(), INTAKE)


# --- configuration files -----------------------------------------------------------------

config_keys = st.sampled_from(
    [
        "connector",
        "output",
        "sources",
        "name",
        "tenant",
        "kind",
        "type",
        "path",
        "paths",
        "format",
        "listen",
        "url",
        "spool",
        "max_bytes",
        "delivery",
        "tls",
        "http",
        "kafka",
        "token_file",
    ]
)
config_like = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(config_keys, inner, max_size=5),
    max_leaves=25,
)


@FAST
@given(config_like)
def test_a_connector_config_is_read_or_refused_with_its_line(doc: object) -> None:
    try:
        parse_config(json.dumps(doc))
    except ConnectorConfigError as e:
        assert str(e).startswith("<config>")


@pytest.mark.parametrize("text", ["a: [", "{{{", "- - -\n  x", "\t", "a: *b"])
def test_broken_yaml_is_a_config_error(text: str) -> None:
    with pytest.raises((ConnectorConfigError, ConfigError)):
        parse_config(text)
