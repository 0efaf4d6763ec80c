"""Scenario files: validation with file:line errors, the shipped scenarios, and their events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soc.drills.replay import CONNECTOR, step_events
from soc.drills.scenario import load_scenario, parse_scenario, shipped_scenarios
from soc.errors import ConfigError

SHIPPED = ("lsass-credential-dump", "ssh-brute-force", "web-portal-attack")


def test_the_three_shipped_scenarios_load_and_name_recorded_files_beside_them() -> None:
    found = shipped_scenarios()
    assert set(SHIPPED) <= set(found)
    for sid in SHIPPED:
        s = found[sid]
        assert s.steps and s.response.unit == "PA05"
        assert s.source_license, sid
        for step in s.steps:
            assert step.expect, (sid, step.name)
            for replay in step.replay:
                assert s.path_of(replay).parent == s.folder
        licenses = list(s.folder.glob("LICENSE*"))
        assert licenses, f"{sid}: the recorded data's license is not beside it"


def test_every_shipped_line_reads_and_every_event_carries_the_drill_origin() -> None:
    for s in shipped_scenarios().values():
        for step in s.steps:
            planned = list(step_events(s, step, drill_id="d-1"))
            assert planned, (s.id, step.name)
            seqs = [p.event.origin.seq for p in planned if p.event.origin]
            assert seqs == list(range(len(planned)))
            for p in planned:
                assert p.event.origin is not None
                assert p.event.origin.drill == "d-1"
                assert p.event.origin.connector == CONNECTOR
                assert p.event.origin.source == s.id
                assert p.delay >= 0
                assert p.delay <= s.max_gap.total_seconds() or p is planned[0]


def test_hosts_are_renamed_in_the_fields_and_the_text() -> None:
    s = shipped_scenarios()["ssh-brute-force"]
    events = [p.event for p in step_events(s, s.steps[0], drill_id="d")]
    assert {e.host for e in events} == {"congdichvu-ssh01"}
    text = json.dumps([e.record for e in events])
    assert "ip-10-77-20-248" not in text
    assert "congdichvu-ssh01 sshd[14356]" in text  # the recorded line, renamed
    lsass = shipped_scenarios()["lsass-credential-dump"]
    text = json.dumps([p.event.record for p in step_events(lsass, lsass.steps[0], drill_id="d")])
    assert "mkt01" not in text.lower()
    assert "KT-PC01.ubnd.hue.gov.vn" in text and "KT-PC01$" in text


def test_an_access_log_gets_the_steps_host_and_events_go_in_recorded_order() -> None:
    s = shipped_scenarios()["web-portal-attack"]
    planned = list(step_events(s, s.steps[0], drill_id="d"))
    assert {p.event.host for p in planned} == {"cong-thongtin-web01"}
    # the recorded log is out of order within its minute: the replay sorts it
    stamps = [p.event.record["message"].split("[", 1)[1][:20] for p in planned]
    assert stamps == sorted(stamps)


def test_speed_divides_the_recorded_gaps() -> None:
    s = shipped_scenarios()["ssh-brute-force"]
    slow = s.model_copy(update={"speed": 1.0})
    fast = s.model_copy(update={"speed": 10.0})
    gaps_slow = [p.delay for p in list(step_events(slow, slow.steps[0], drill_id="d"))[1:]]
    gaps_fast = [p.delay for p in list(step_events(fast, fast.steps[0], drill_id="d"))[1:]]
    assert sum(gaps_slow) > 0
    assert sum(gaps_fast) == pytest.approx(sum(gaps_slow) / 10)


BAD = """\
id: bad-one
title: A scenario with mistakes
speed: -3
steps:
  - name: first
    title: step
    replay:
      - file: ../../etc/passwd
    expect:
      - rule: abc
        within: soon
response:
  unit: PA05
  acknowledge_within: 1h
"""


def test_mistakes_are_reported_with_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "scenario.yml").write_text(BAD)
    with pytest.raises(ConfigError) as e:
        load_scenario(tmp_path)
    lines = str(e.value).splitlines()
    name = str(tmp_path / "scenario.yml")
    assert f"{name}:3: speed: Input should be greater than 0" in lines
    assert any(line.startswith(f"{name}:8: steps[0].replay[0]") for line in lines), lines
    assert any(
        line.startswith(f"{name}:11: steps[0].expect[0].within: Value error, not a duration")
        for line in lines
    ), lines
    # a missing key is reported at the line of the mapping it is missing from
    assert f"{name}:12: response.resolve_within: Field required" in lines


def test_a_file_missing_beside_the_scenario_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    text = BAD.replace("speed: -3", "speed: 3").replace("../../etc/passwd", "gone.log")
    text = text.replace("within: soon", "within: 5m") + "  resolve_within: 4h\n"
    with pytest.raises(
        ConfigError, match=r"steps\[0\]\.replay\[0\]\.file: 'gone.log' is not beside"
    ):
        parse_scenario(text, name="s.yml", folder=tmp_path)
    with pytest.raises(ConfigError, match=r"^s.yml:3: not valid YAML"):
        parse_scenario("id: x\ntitle: [unclosed\n", name="s.yml", folder=tmp_path)
