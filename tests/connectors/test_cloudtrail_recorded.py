"""The CloudTrail parser and the AWS rules over 103 real records (OTRF, MIT).

../shared/datasets/otrf/aws holds an EC2 instance's role credentials stolen
through a proxy on the instance and used from outside to list and read an S3
bucket. The records went through Logstash: they carry ``@timestamp`` and no
``eventTime``.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.parse import parse
from soc.detect.engine import Engine
from soc.detect.rules import load_rules
from soc.hunt.files import hunt
from soc.ingest.normalize import normalize
from soc.models import LogSource
from tests.conftest import SHARED

ZIP = SHARED / "datasets/otrf/aws/ec2_proxy_s3_exfiltration.zip"
ROOT = Path(__file__).resolve().parents[2]
PIPELINES = [
    ROOT / "soc/detections/pipelines/windows.yml",
    ROOT / "soc/detections/pipelines/placeholders.yml",
]
ASSUME_ROLE_MISUSE = "905d389b-b853-46d0-9d3d-dea0d3a3cd49"


def recorded() -> bytes:
    with zipfile.ZipFile(ZIP) as z:
        (name,) = z.namelist()
        return z.read(name)


def test_every_record_parses_with_its_time_and_logsource() -> None:
    data = recorded()
    for fmt in ("cloudtrail", "auto"):
        events = parse(data, format=fmt)
        assert len(events) == 103
        assert [e for e in events if "parse_error" in e.record] == []
        assert {e.logsource for e in events} == {LogSource(product="aws", service="cloudtrail")}
        for ev, line in zip(events, data.splitlines(), strict=True):
            assert ev.record == json.loads(line)  # kept whole and nested
            # No eventTime in these records: @timestamp is the time (it was None before).
            assert ev.time == datetime.fromisoformat(ev.record["@timestamp"])
    assert Counter(e.record["eventSource"] for e in events)["s3.amazonaws.com"] == 11


def matches(paths: list[Path], *, pipelines: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    ruleset = load_rules(paths, pipelines=pipelines)
    assert ruleset.errors == ()  # every AWS rule compiles: nothing our engine refuses
    engine = Engine.from_ruleset(ruleset)
    out = []
    for ev in parse(recorded(), format="cloudtrail"):
        event = normalize(
            ev.record,
            tenant="t",
            source="cloudtrail",
            received=datetime(2026, 12, 1, tzinfo=UTC),
            time=ev.time,
            logsource=ev.logsource,
        )
        out += [(rule.id, ev.record) for rule in engine.match(event)]
    return out


def test_sigmahq_aws_rules_fire_on_the_stolen_role_credentials_only() -> None:
    hits = matches([SHARED / "sigma/rules/cloud/aws"], pipelines=[])
    # Genuine: "AWS STS AssumeRole Misuse" on every call made with the instance role's
    # session (userIdentity.type AssumedRole, sessionIssuer a Role: the credentials of
    # i-0317f6c6b66ae9c40's role) from outside, by aws-cli on a Mac (Darwin), not by the
    # instance: ListBuckets, ListObjects of the bucket, and GetObject of ring.txt, which
    # is the exfiltration. The other 92 records are the console user pedro (IAMUser,
    # MFA) describing EC2 and AWS services assuming roles; no rule fires on them.
    assert {rule for rule, _ in hits} == {ASSUME_ROLE_MISUSE}
    records = [r for _, r in hits]
    assert Counter(r["eventName"] for r in records) == {
        "ListObjects": 7,
        "ListBuckets": 2,
        "GetObject": 2,
    }
    for r in records:
        assert r["userIdentity"]["arn"].endswith("/i-0317f6c6b66ae9c40")
        assert r["userAgent"].startswith("[aws-cli/") and "Darwin" in r["userAgent"]
    assert {r["requestParameters"].get("key") for r in records} == {None, "ring.txt"}


def test_the_city_aws_rules_rightly_stay_silent() -> None:
    # No ConsoleLogin, no StopLogging/DeleteTrail, no root identity in the recording.
    assert matches([ROOT / "soc/detections/rules/cloud"], pipelines=PIPELINES) == []


def test_soc_hunt_routes_plain_cloudtrail_json_to_the_aws_rules() -> None:
    # A record hunted (or posted) as plain JSON has no connector to name its logsource:
    # ingest recognises CloudTrail by its own fields (it routed to no rule before).
    engine = Engine.from_ruleset(load_rules([SHARED / "sigma/rules/cloud/aws"]))
    found: list[Any] = []
    summary = hunt([ZIP], engine=engine, on_match=found.append)
    assert (summary.events, summary.unreadable, summary.matches) == (103, 0, 11)
    assert {m.rule_id for m in found} == {ASSUME_ROLE_MISUSE}
    assert {m.logsource for m in found} == {LogSource(product="aws", service="cloudtrail")}
    assert min(m.time for m in found) == datetime(2020, 9, 14, 1, 0, 4, tzinfo=UTC)
