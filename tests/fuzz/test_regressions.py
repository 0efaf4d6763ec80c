"""Every crash the fuzzers found, as a named test of the typed answer that replaced it.

The inputs are in tests/fuzz/corpus/<target>/regressions/ (replayed through their targets
by test_fuzz_brief.py too); docs/FUZZING.md lists them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.config import parse_config
from connectors.errors import ConfigError as ConnectorConfigError
from connectors.parse import parse as connector_parse
from soc.detect.imports import check_text, read_pack
from soc.detect.ruletext import describe
from soc.drills.scenario import parse_scenario
from soc.errors import ConfigError, IntelFormatError, QueryError
from soc.ingest.ndjson import parse_ndjson
from soc.ingest.readers import NESTED_TOO_DEEPLY, read_file
from soc.intel.parse import Intake, marking_tlp, parse, parse_misp
from soc.settings import DetectSettings
from soc.store.eventquery import QuerySyntaxError
from soc.store.eventquery import parse as query
from tests.fuzz.targets import CORPUS

INTAKE = Intake(source="regression", tenant="t1")


def regression(target: str, name: str) -> bytes:
    return (CORPUS / target / "regressions" / name).read_bytes()


def test_a_zip_member_with_damaged_deflate_data_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "events.zip"
    path.write_bytes(regression("json_reader", "damaged-deflate-zip-member")[1:])
    items = list(read_file(path))
    assert items[-1].record is None
    assert items[-1].error is not None and "cannot read" in items[-1].error
    assert "invalid distance too far back" in items[-1].error


@pytest.mark.parametrize(
    ("name", "text"),
    [("deep.json", b"[" * 5000), ("deep.ndjson", b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n")],
)
def test_json_nested_past_the_recursion_limit_is_a_read_error(
    tmp_path: Path, name: str, text: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(text)
    items = list(read_file(path))
    assert len(items) == 1
    assert items[0].error is not None and items[0].error.startswith(NESTED_TOO_DEEPLY)


DEEP_YAML = "[" * 5000


def test_deeply_nested_yaml_is_refused_quickly_as_a_config_error() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectorConfigError, match=r"nested deeper than 64 levels|nesting depth"):
        parse_config(DEEP_YAML, name="connector.yml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_scenario(DEEP_YAML, name="scenario.yml", folder=Path("."))
    block = "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 100))
    with pytest.raises(ConnectorConfigError, match=r"connector.yml:65: not valid YAML: nested"):
        parse_config(block, name="connector.yml")
    assert time.monotonic() - started < 2  # PyYAML alone: seconds, then RecursionError


def test_a_deeply_nested_rule_upload_is_refused_with_its_reason() -> None:
    text = regression("sigma_rule", "deeply-nested-yaml").decode()
    with pytest.raises(QueryError, match="invalid YAML"):
        describe(text)
    reasons = check_text("upload.yml", text, DetectSettings())
    assert reasons and "invalid YAML" in reasons[0]


def test_a_rule_whose_date_is_no_date_is_refused_with_its_reason() -> None:
    text = regression("sigma_correlation", "timestamp-month-13").decode()
    with pytest.raises(QueryError, match=r"invalid YAML: month must be in 1\.\.12"):
        describe(text)
    reasons = check_text("upload.yml", text, DetectSettings())
    assert reasons and "invalid YAML" in reasons[0]


def test_a_rule_pack_member_whose_header_points_before_the_file_is_refused() -> None:
    texts, _ = read_pack(regression("rule_pack", "local-header-before-the-start"))
    refused = [reason for _, text, reason in texts if text is None]
    assert refused and all(r and r.startswith("cannot be read") for r in refused)


def test_stix_nested_past_the_recursion_limit_is_a_format_error() -> None:
    with pytest.raises(IntelFormatError, match="nested too deeply"):
        parse(b"[" * 5000, INTAKE)


@pytest.mark.parametrize(
    "marking",
    [
        {"type": "marking-definition", "id": "m", "extensions": [1]},
        {"type": "marking-definition", "id": "m", "extensions": "tlp"},
        {"type": "marking-definition", "id": "m", "definition_type": "tlp", "definition": "red"},
    ],
)
def test_a_stix_marking_of_the_wrong_shape_marks_nothing(marking: dict[str, object]) -> None:
    assert marking_tlp(marking) is None
    assert parse(json.dumps(marking).encode(), INTAKE).indicators == []


def test_misp_lists_of_the_wrong_type_hold_nothing() -> None:
    doc = {"Event": {"info": "x", "Attribute": 5, "Object": 7, "Tag": "tlp:red"}}
    taken = parse_misp(doc, INTAKE)
    assert (taken.indicators, taken.rejects) == ([], [])


def test_a_misp_time_past_year_9999_rejects_its_attribute() -> None:
    doc = json.loads(regression("stix", "misp-timestamp-past-year-9999")[1:])
    taken = parse_misp(doc, INTAKE)
    assert taken.indicators == []
    assert [r.kind for r in taken.rejects] == ["rejected"]
    assert "not a time" in taken.rejects[0].reason


def test_an_ingested_time_that_leaves_the_calendar_in_utc_is_a_dead_letter() -> None:
    body = regression("ndjson_ingest", "time-out-of-range-once-utc")
    received = datetime(2026, 3, 1, tzinfo=UTC)
    parsed = parse_ndjson(body, tenant="t1", source="s", received=received, max_line_bytes=4096)
    assert parsed.events == []
    assert [(d.reason, d.line) for d in parsed.dead] == [("invalid", 1)]
    assert "out of range" in parsed.dead[0].detail


def test_a_connector_record_whose_time_leaves_the_calendar_is_shipped_as_malformed() -> None:
    data = regression("json_document", "cloudtrail-time-out-of-range-once-utc")[1:]
    bad, good = connector_parse(data, format="cloudtrail")
    assert (bad.record["parse_error"], good.record.get("parse_error")) == ("malformed", None)
    assert "out of range once made UTC" in bad.record["parse_error_detail"]
    assert good.time == datetime(2020, 9, 14, 1, 19, 40, tzinfo=UTC)


@pytest.mark.parametrize("text", ["a:b~.", "a~.D", "a:(g A:(f:(b \u00a0Rc*)cany~.DDDDD)"])
def test_a_fuzzy_degree_that_is_no_number_is_a_syntax_error(text: str) -> None:
    with pytest.raises(QuerySyntaxError, match="fuzzy search") as raised:
        query(text)
    assert raised.value.column == text.index("~") + 1


def test_the_fuzzed_query_is_refused_with_its_column() -> None:
    text = regression("event_query", "fuzzy-degree-not-a-number").decode("utf-8", "replace")
    with pytest.raises(QuerySyntaxError):
        query(text)


def test_a_zip_member_with_an_empty_name_is_passed_over(tmp_path: Path) -> None:
    data = regression("rule_pack", "member-with-an-empty-name")
    texts, skipped = read_pack(data)
    assert "" not in [name for name, _, _ in texts] + skipped
    assert [name for name, text, _ in texts if text is not None] == [
        "pack/aws_cloudtrail_disable_logging.yml"
    ]
    path = tmp_path / "pack.zip"  # soc hunt reads zips too: nothing in it is a log
    path.write_bytes(data)
    assert list(read_file(path)) == []


def test_a_correlation_whose_rules_item_is_a_list_is_refused_with_its_reason() -> None:
    text = regression("sigma_correlation", "rules-item-is-a-list").decode()
    reasons = check_text("upload.yml", text, DetectSettings())
    assert any("rules must be rule ids or names" in r for r in reasons), reasons


def test_a_zip_of_a_version_zipfile_does_not_read_is_refused(tmp_path: Path) -> None:
    data = regression("rule_pack", "zip-version-not-implemented")
    with pytest.raises(QueryError, match="not a zip file: zip file version"):
        read_pack(data)
    path = tmp_path / "logs.zip"
    path.write_bytes(data)
    items = list(read_file(path))
    assert [i.error for i in items] == ["cannot read: zip file version 23.6"]


@pytest.mark.parametrize("text", ["-" * 40 + "a:b", "-" * 55 + "\ufffd"])
def test_a_query_nested_past_what_sqlite_parses_is_a_syntax_error(text: str) -> None:
    with pytest.raises(QuerySyntaxError, match="nested too deeply"):
        query(text)
    fuzzed = regression("event_query", "nots-past-sqlite-parser-stack")
    with pytest.raises(QuerySyntaxError, match="nested too deeply"):
        query(fuzzed.decode("utf-8", "replace"))


def test_a_query_nested_within_the_limit_runs_on_sqlite() -> None:
    from tests.fuzz.targets.event_query import fuzz_one

    fuzz_one(b"-" * 24 + b"a:b")  # accepted, and SQLite takes its SQL
