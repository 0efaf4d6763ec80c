"""Access logs, on the real recorded ../shared/datasets/web/apache_access.log (10,000 lines)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.parse import parse
from soc.models import EventIn, LogSource
from tests.connectors._util import fields, only, routes, rule_logsources


@pytest.fixture(scope="module")
def apache(shared_dir: Path) -> tuple[bytes, list[EventIn]]:
    data = (shared_dir / "datasets/web/apache_access.log").read_bytes()
    return data, parse(data, format="apache")


def test_all_10000_lines_parse(apache: tuple[bytes, list[EventIn]]) -> None:
    data, events = apache
    assert len(events) == len(data.splitlines()) == 10_000
    assert not [e.record["message"] for e in events if "parse_error" in e.record]
    assert all(e.logsource == LogSource(product="apache", category="webserver") for e in events)
    assert all(isinstance(e.record["sc-status"], int) for e in events)
    assert all("cs-method" in e.record for e in events)
    methods = Counter(e.record["cs-method"] for e in events)
    assert methods.most_common(1)[0][0] == "GET"
    assert events[0].time == datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)


def test_sniffed_the_same(apache: tuple[bytes, list[EventIn]]) -> None:
    data, events = apache
    sniffed = parse(data, format="auto")
    assert [fields(e) for e in sniffed] == [fields(e) for e in events]
    assert all(e.logsource == LogSource(category="webserver") for e in sniffed)


def test_first_line_exactly() -> None:
    line = (
        b'83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama'
        b'-2013/images/kibana-search.png?a=1 HTTP/1.1" 200 203023 "http://semicomplete.com/pres'
        b'entations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)"'
    )
    ev = only(parse(line, format="nginx"))
    path = "/presentations/logstash-monitorama-2013/images/kibana-search.png"
    assert fields(ev) == {
        "c-ip": "83.149.9.216",
        "cs-method": "GET",
        "cs-uri": f"{path}?a=1",
        "cs-uri-stem": path,
        "cs-uri-query": f"{path}?a=1",
        "query": "a=1",
        "cs-version": "HTTP/1.1",
        "sc-status": 200,
        "sc-bytes": 203023,
        "cs-referer": "http://semicomplete.com/presentations/logstash-monitorama-2013/",
        "cs-user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)",
    }
    assert ev.logsource == LogSource(product="nginx", category="webserver")


def test_odd_but_valid_lines() -> None:
    lines = [
        rb'1.2.3.4 - bob [01/Jan/2024:00:00:00 +0700] "\x16\x03\x01" 400 - "-" "-"',
        b'1.2.3.4 - - [01/Jan/2024:00:00:00 -0130] "-" 408 0',  # common format
        b'vh.example:443 1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /a HTTP/2.0" 200 1 '
        b'"-" "say \\"hi\\"" "10.0.0.1"',
    ]
    tls, common, vhost = parse(b"\n".join(lines), format="apache")
    assert tls.record["request"] == r"\x16\x03\x01" and tls.record["cs-username"] == "bob"
    assert tls.time == datetime(2023, 12, 31, 17, 0, tzinfo=UTC)
    assert common.record["sc-bytes"] == 0 and "cs-referer" not in common.record
    assert common.time == datetime(2024, 1, 1, 1, 30, tzinfo=UTC)
    assert vhost.record["cs-host"] == "vh.example"
    assert vhost.record["cs-user-agent"] == 'say "hi"' and vhost.record["extra"] == '"10.0.0.1"'


def test_routes_to_sigmahq_webserver_rules(shared_dir: Path) -> None:
    ev = only(parse(b'1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET /../../etc/passwd HTTP/1.1" '
                    b'404 1 "-" "-"', format="apache"))  # fmt: skip
    assert ev.logsource is not None
    rules = rule_logsources(shared_dir / "sigma/rules/web/webserver_generic")
    assert all(routes(ev.logsource, r) for r in rules)
    assert "../../etc/" in ev.record["cs-uri-query"]  # what the path-traversal rule looks for
