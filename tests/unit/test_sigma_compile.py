"""The Sigma compiler, loader and engine: each supported form, with events that must
match and events that must not."""

from __future__ import annotations

import base64
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sigma.rule import SigmaRule
from sigma.types import SigmaString

from soc.detect.compile import compile_rule
from soc.detect.engine import Engine
from soc.detect.patterns import Kind, to_pattern
from soc.detect.rule import Rule
from soc.detect.rules import load_rules
from soc.detect.view import EventView, Matcher
from soc.errors import RuleError
from soc.models import Event, LogSource, Severity

Fields = dict[str, Any]
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def rule_yaml(detection: str, *, logsource: str = "product: windows", extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ")
    ls = textwrap.indent(logsource, "    ")
    return f"title: test rule\n{extra}logsource:\n{ls}\ndetection:\n{body}\n"


def matcher(detection: str) -> Matcher:
    return compile_rule(SigmaRule.from_yaml(rule_yaml(detection)))


def check(detection: str, yes: list[Fields], no: list[Fields]) -> None:
    m = matcher(detection)
    for fields in yes:
        assert m(EventView(fields)), f"should match: {fields}"
    for fields in no:
        assert not m(EventView(fields)), f"should not match: {fields}"


# --- strings ----------------------------------------------------------------------------


def test_equality_is_case_insensitive_and_whole_value() -> None:
    check(
        r"""
        sel:
            Image: 'C:\Windows\System32\cmd.exe'
        condition: sel
        """,
        yes=[{"Image": r"c:\windows\system32\CMD.EXE"}, {"Image": r"C:\Windows\System32\cmd.exe"}],
        no=[{"Image": r"C:\Windows\System32\cmd.exe.bak"}, {"Image": None}, {}, {"Other": "x"}],
    )


def test_empty_string_matches_only_empty() -> None:
    check(
        """
        sel:
            ParentImage: ''
        condition: sel
        """,
        yes=[{"ParentImage": ""}],
        no=[{}, {"ParentImage": None}, {"ParentImage": "x"}],
    )


def test_multi_and_single_wildcards() -> None:
    check(
        """
        sel:
            CommandLine: 'net * user'
            User: 'adm?n'
        condition: sel
        """,
        yes=[{"CommandLine": "NET localgroup USER", "User": "ADMIN"}],
        no=[
            {"CommandLine": "net user", "User": "admin"},
            {"CommandLine": "net x user", "User": "admn"},
            {"CommandLine": "net x user", "User": "admiin"},
        ],
    )


def test_wildcard_regex_spans_newlines() -> None:
    check(
        """
        sel:
            ScriptBlockText: 'a*b?c'
        condition: sel
        """,
        yes=[{"ScriptBlockText": "A\n\nB\nC"}, {"ScriptBlockText": "abxc"}],
        no=[{"ScriptBlockText": "abc"}, {"ScriptBlockText": "xabxc"}],
    )


def test_escaped_wildcards_are_literal() -> None:
    check(
        r"""
        sel:
            CommandLine: 'echo \*\?'
        condition: sel
        """,
        yes=[{"CommandLine": "ECHO *?"}],
        no=[{"CommandLine": "echo ab"}, {"CommandLine": "echo **"}],
    )


@pytest.mark.parametrize(
    ("text", "kind", "literal"),
    [
        ("AbC", Kind.EXACT, "abc"),
        ("AbC*", Kind.PREFIX, "abc"),
        ("*AbC", Kind.SUFFIX, "abc"),
        ("*AbC*", Kind.CONTAINS, "abc"),
        ("**AbC**", Kind.CONTAINS, "abc"),
        ("*", Kind.CONTAINS, ""),
        ("a*b", Kind.REGEX, None),
        ("a?", Kind.REGEX, None),
        (r"a\*", Kind.EXACT, "a*"),
    ],
)
def test_string_shapes_compile_to_the_cheapest_test(
    text: str, kind: Kind, literal: str | None
) -> None:
    pattern = to_pattern(SigmaString(text))
    assert pattern.kind is kind
    if literal is not None:
        assert pattern.text == literal


def test_contains_startswith_endswith() -> None:
    check(
        r"""
        sel:
            CommandLine|contains: 'sekurlsa::'
            Image|startswith: 'C:\Users\'
            ParentImage|endswith: '\explorer.exe'
        condition: sel
        """,
        yes=[
            {
                "CommandLine": "mimikatz SEKURLSA::logonpasswords exit",
                "Image": r"c:\users\bob\m.exe",
                "ParentImage": r"C:\Windows\Explorer.EXE",
            }
        ],
        no=[
            {
                "CommandLine": "sekurlsa:",
                "Image": r"C:\Users\m.exe",
                "ParentImage": r"\explorer.exe",
            },
            {
                "CommandLine": "sekurlsa::",
                "Image": r"D:\C:\Users\m",
                "ParentImage": r"\explorer.exe",
            },
            {
                "CommandLine": "sekurlsa::",
                "Image": r"C:\Users\m",
                "ParentImage": r"\explorer.exe\x",
            },
        ],
    )


def test_value_list_is_or_and_all_is_and() -> None:
    check(
        r"""
        any:
            Image|endswith:
                - '\cmd.exe'
                - '\powershell.exe'
        all:
            CommandLine|contains|all:
                - '-enc'
                - 'bypass'
        condition: any and all
        """,
        yes=[
            {"Image": r"C:\x\cmd.exe", "CommandLine": "-ENC x -ep BYPASS"},
            {"Image": r"C:\x\powershell.exe", "CommandLine": "bypass -enc"},
        ],
        no=[
            {"Image": r"C:\x\pwsh.exe", "CommandLine": "-enc bypass"},
            {"Image": r"C:\x\cmd.exe", "CommandLine": "-enc only"},
        ],
    )


def test_cased_string() -> None:
    check(
        """
        sel:
            CommandLine|cased: 'Invoke-Mimikatz'
            Script|contains|cased: 'DumpCreds'
        condition: sel
        """,
        yes=[{"CommandLine": "Invoke-Mimikatz", "Script": "x -DumpCreds"}],
        no=[
            {"CommandLine": "invoke-mimikatz", "Script": "x -DumpCreds"},
            {"CommandLine": "Invoke-Mimikatz", "Script": "x -dumpcreds"},
        ],
    )


def test_windash_expands_dashes() -> None:
    check(
        """
        sel:
            CommandLine|contains|windash: ' -ep bypass'
        condition: sel
        """,
        yes=[
            {"CommandLine": "powershell -ep bypass"},
            {"CommandLine": "powershell /ep bypass"},
            {"CommandLine": "powershell \u2013ep bypass"},
        ],
        no=[{"CommandLine": "powershell ep bypass"}, {"CommandLine": "powershell +ep bypass"}],
    )


def test_base64offset_contains_finds_the_text_at_any_offset() -> None:
    m = matcher(
        """
        sel:
            CommandLine|base64offset|contains: 'http://'
        condition: sel
        """
    )
    for offset in range(3):
        encoded = base64.b64encode(b"A" * offset + b"http://evil.example/x").decode()
        assert m(EventView({"CommandLine": f"powershell -enc {encoded}"})), offset
    other = base64.b64encode(b"https://evil.example/x").decode()
    assert not m(EventView({"CommandLine": f"powershell -enc {other}"}))


# --- other value types ------------------------------------------------------------------


def test_null_means_no_value_absent_null_or_empty() -> None:
    # docs/adr/0008: an empty <Data> element (parsed as "") carries no value.
    check(
        """
        sel:
            ParentImage: null
        condition: sel
        """,
        yes=[{}, {"ParentImage": None}, {"ParentImage": ["x", None]}, {"ParentImage": ""}],
        no=[{"ParentImage": "x"}, {"ParentImage": " "}, {"ParentImage": "-"}, {"ParentImage": 0}],
    )
    # '' is still the empty string only, and |exists still says whether the field is there.
    check("sel:\n    ParentImage: ''\ncondition: sel", yes=[{"ParentImage": ""}], no=[{}])
    check("sel:\n    ParentImage|exists: true\ncondition: sel", yes=[{"ParentImage": ""}], no=[{}])


def test_exists() -> None:
    present = {"ParentImage": "x"}
    check("sel:\n    ParentImage|exists: true\ncondition: sel", yes=[present], no=[{}])
    check("sel:\n    ParentImage|exists: false\ncondition: sel", yes=[{}], no=[present])


def test_numbers_match_numeric_fields_and_numeric_strings() -> None:
    check(
        """
        sel:
            EventID: 4688
        condition: sel
        """,
        yes=[{"EventID": 4688}, {"EventID": "4688"}, {"EventID": 4688.0}, {"EventID": [1, 4688]}],
        no=[{"EventID": 4689}, {"EventID": "4688x"}, {}],
    )
    check("sel:\n    Flag: 1\ncondition: sel", yes=[{"Flag": 1}], no=[{"Flag": True}])


def test_string_rule_value_matches_a_number_field() -> None:
    check(
        """
        sel:
            EventID:
                - '4688'
                - '1'
        condition: sel
        """,
        yes=[{"EventID": 4688}, {"EventID": "4688"}, {"EventID": 1}],
        no=[{"EventID": 46880}, {"EventID": "4688 "}],
    )


def test_bool_value() -> None:
    check(
        """
        sel:
            Signed: true
        condition: sel
        """,
        yes=[{"Signed": True}, {"Signed": "TRUE"}],
        no=[{"Signed": False}, {"Signed": "false"}, {"Signed": 1}, {}],
    )


def test_regex_is_case_sensitive_unanchored_with_flags() -> None:
    sensitive = r"""
        sel:
            CommandLine|re: '\s-[FT]\s'
        condition: sel
        """
    check(sensitive, yes=[{"CommandLine": "x -F y"}], no=[{"CommandLine": "x -f y"}])
    insensitive = sensitive.replace("|re:", "|re|i:")
    check(insensitive, yes=[{"CommandLine": "x -f y"}], no=[{"CommandLine": "x -g y"}])
    check(
        "sel:\n    Text|re|m: '^b$'\ncondition: sel",
        yes=[{"Text": "a\nb\nc"}],
        no=[{"Text": "a\nbb\nc"}],
    )
    check("sel:\n    Text|re: '^b$'\ncondition: sel", yes=[{"Text": "b"}], no=[{"Text": "a\nb"}])
    check("sel:\n    Text|re|s: 'a.b'\ncondition: sel", yes=[{"Text": "a\nb"}], no=[])
    check(
        "sel:\n    Text|re: 'a.b'\ncondition: sel", yes=[{"Text": "xxa-bxx"}], no=[{"Text": "a\nb"}]
    )


def test_cidr() -> None:
    check(
        """
        sel:
            DestinationIp|cidr:
                - '10.0.0.0/8'
                - 'fe80::/10'
        condition: sel
        """,
        yes=[
            {"DestinationIp": "10.1.2.3"},
            {"DestinationIp": "fe80::1"},
            {"DestinationIp": "::ffff:10.0.0.1"},
        ],
        no=[{"DestinationIp": "11.0.0.1"}, {"DestinationIp": "not an ip"}, {}],
    )


def test_numeric_comparisons() -> None:
    check(
        "sel:\n    Count|lt: 5\ncondition: sel",
        yes=[{"Count": 4}, {"Count": "3"}, {"Count": 4.9}],
        no=[{"Count": 5}, {"Count": 6}, {"Count": "x"}, {}],
    )
    check(
        "sel:\n    Count|gte: 5\ncondition: sel",
        yes=[{"Count": 5}, {"Count": "6"}],
        no=[{"Count": 4}, {"Count": None}],
    )


def test_fieldref() -> None:
    check(
        """
        sel:
            TargetUserName|fieldref: SubjectUserName
        condition: sel
        """,
        yes=[{"TargetUserName": "Bob", "SubjectUserName": "bob"}],
        no=[
            {"TargetUserName": "bob", "SubjectUserName": "bobby"},
            {"TargetUserName": "bob"},
            {"SubjectUserName": "bob"},
        ],
    )
    check(
        "sel:\n    Image|fieldref|endswith: Name\ncondition: sel",
        yes=[{"Image": r"C:\x\Evil.exe", "Name": "evil.exe"}],
        no=[{"Image": r"C:\x\evil.exe.txt", "Name": "evil.exe"}],
    )


def test_keywords_search_every_field() -> None:
    check(
        """
        keywords:
            - 'mimikatz'
            - 'sekurlsa::'
        condition: keywords
        """,
        yes=[
            {"CommandLine": "run MIMIKATZ.exe"},
            {"A": 1, "Payload": "x sekurlsa::logonpasswords"},
        ],
        no=[{"CommandLine": "notepad"}, {"EventID": 4688}, {}],
    )


# --- conditions -------------------------------------------------------------------------


def test_and_or_not_with_parentheses() -> None:
    check(
        """
        a:
            A: 'x'
        b:
            B: 'x'
        c:
            C: 'x'
        condition: (a or b) and not c
        """,
        yes=[{"A": "x"}, {"B": "x"}, {"A": "x", "C": "y"}],
        no=[{"A": "x", "C": "x"}, {"C": "x"}, {}],
    )


def test_one_of_and_all_of_them() -> None:
    one_of = """
        selection_img:
            Image|endswith: '\\cmd.exe'
        selection_cli:
            CommandLine|contains: 'whoami'
        filter:
            User: 'SYSTEM'
        condition: 1 of selection_* and not filter
        """
    check(
        one_of,
        yes=[{"Image": "c:\\cmd.exe"}, {"CommandLine": "whoami /all"}],
        no=[{"Image": "c:\\cmd.exe", "User": "system"}, {"User": "x"}],
    )
    all_of = one_of.replace("1 of selection_* and not filter", "all of them")
    check(
        all_of,
        yes=[{"Image": "c:\\cmd.exe", "CommandLine": "whoami", "User": "SYSTEM"}],
        no=[{"Image": "c:\\cmd.exe", "CommandLine": "whoami"}],
    )


def test_several_conditions_match_when_any_does() -> None:
    check(
        """
        a:
            A: 'x'
        b:
            B: 'x'
        condition:
            - a
            - b
        """,
        yes=[{"A": "x"}, {"B": "x"}],
        no=[{"A": "y", "B": "y"}],
    )


def test_list_valued_fields_match_when_any_element_does() -> None:
    check(
        """
        sel:
            Tags|contains: 'mimikatz'
        filter:
            Tags: 'benign'
        condition: sel and not filter
        """,
        yes=[{"Tags": ["a", "MIMIKATZ tool"]}],
        no=[{"Tags": ["a", "b"]}, {"Tags": ["mimikatz", "benign"]}, {"Tags": []}],
    )


@pytest.mark.parametrize(
    ("detection", "named"),
    [
        ("sel:\n    A|minute: 5\ncondition: sel", "SigmaTimestampPart"),
        ("sel:\n    A|expand: '%admins%'\ncondition: sel", "%admins%"),
    ],
)
def test_unsupported_values_are_refused_when_compiling(detection: str, named: str) -> None:
    with pytest.raises(RuleError, match=named):
        matcher(detection)


# --- the view ---------------------------------------------------------------------------


class CountingStr(str):
    """A str that counts how often it is lowercased."""

    lowered = 0

    def lower(self) -> str:
        CountingStr.lowered += 1
        return super().lower()


def test_each_value_is_lowered_at_most_once_per_event() -> None:
    rules = [
        make_rule(f"sel:\n    CommandLine|contains: '{word}'\ncondition: sel", rule_id=word)
        for word in ("whoami", "mimikatz", "net user")
    ]
    CountingStr.lowered = 0
    fired = Engine(rules).match(event({"CommandLine": CountingStr("WHOAMI /all")}))
    assert [r.id for r in fired] == ["whoami"]
    assert CountingStr.lowered == 1


# --- loading ----------------------------------------------------------------------------

GOOD = """\
title: Good
id: 5f1e6c3a-0000-4000-8000-000000000001
status: test
date: 2024-01-02
modified: 2025-03-04
level: high
author: Jane Doe
tags:
    - attack.credential-access
    - attack.t1003.001
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        Image|endswith: '\\mimikatz.exe'
    condition: sel
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_load_rules_compiles_rules_with_their_metadata(tmp_path: Path) -> None:
    write(tmp_path, "a/good.yml", GOOD)
    no_id = rule_yaml("sel:\n    A: x\ncondition: sel", extra="date: 2024-05-06\n")
    write(tmp_path, "b/no_id.yaml", no_id)
    write(tmp_path, "b/README.md", "not a rule")
    ruleset = load_rules([tmp_path])
    assert ruleset.errors == ()
    good, anonymous = ruleset.rules
    assert good.id == "5f1e6c3a-0000-4000-8000-000000000001"
    assert good.title == "Good" and good.level is Severity.high and good.author == "Jane Doe"
    assert good.tags == ["attack.credential-access", "attack.t1003.001"]
    assert good.version == "2025-03-04"
    assert good.path == tmp_path / "a/good.yml"
    assert good.logsource == LogSource(product="windows", category="process_creation")
    assert good.matches(EventView({"Image": r"C:\t\MIMIKATZ.EXE"}))
    assert anonymous.level is Severity.medium and anonymous.version == "2024-05-06"
    assert len(anonymous.id) == 32
    assert load_rules([tmp_path]).rules[1].id == anonymous.id, "the id must be stable"
    assert REGISTRY.get_sample_value("soc_rules_loaded") == 2
    assert REGISTRY.get_sample_value("soc_rules_failed") == 0


def test_every_failure_is_a_rule_error_with_its_path(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yml", GOOD)
    undefined = write(
        tmp_path, "undefined.yml", rule_yaml("sel:\n    A: x\ncondition: sel and missing")
    )
    broken = write(tmp_path, "broken.yml", "title: [unclosed\n")
    refused = write(tmp_path, "refused.yml", rule_yaml("sel:\n    A|nosuchmod: x\ncondition: sel"))
    unsupported = write(tmp_path, "minute.yml", rule_yaml("sel:\n    A|minute: 5\ncondition: sel"))
    duplicate = write(tmp_path, "zz_duplicate.yml", GOOD.replace("title: Good", "title: Copy"))
    correlation = write(
        tmp_path,
        "correlation.yml",
        "title: Many\ncorrelation:\n    type: event_count\n    rules: [x]\n"
        "    group-by: [User]\n    timespan: 5m\n    condition: {gte: 10}\n",
    )
    sigma_filter = write(
        tmp_path,
        "filter.yml",
        "title: Quiet\nlogsource: {product: windows}\n"
        "filter:\n    rules: [x]\n    selection: {User: svc}\n    condition: not selection\n",
    )
    missing = tmp_path / "nowhere"
    ruleset = load_rules([tmp_path, missing])
    assert [r.path for r in ruleset.rules] == [good]
    reasons = {Path(e.path or ""): e.reason for e in ruleset.errors}
    assert "'missing' not defined" in reasons[undefined]
    assert "invalid YAML" in reasons[broken]
    assert "nosuchmod" in reasons[refused]
    assert "SigmaTimestampPart" in reasons[unsupported]
    assert "duplicate rule id" in reasons[duplicate]
    assert "references unknown rule 'x'" in reasons[correlation]
    assert "no loaded rule has the id or name 'x'" in reasons[sigma_filter]
    assert "no such file" in reasons[missing]
    assert len(ruleset.errors) == 8
    assert REGISTRY.get_sample_value("soc_rules_failed") == 8


# --- routing ----------------------------------------------------------------------------


def make_rule(detection: str, *, rule_id: str, logsource: LogSource | None = None) -> Rule:
    return Rule(
        id=rule_id,
        title=rule_id,
        level=Severity.medium,
        tags=[],
        version=None,
        path=Path(f"{rule_id}.yml"),
        logsource=logsource or LogSource(product="windows"),
        author=None,
        matches=matcher(detection),
    )


def event(fields: Fields, logsource: LogSource | None = None) -> Event:
    return Event(
        id="e1",
        tenant="t",
        source="test",
        time=NOW,
        received=NOW,
        logsource=logsource or LogSource(product="windows", category="process_creation"),
        raw=fields,
        fields=fields,
    )


SYSMON_PROC = LogSource(product="windows", category="process_creation", service="sysmon")
SECURITY = LogSource(product="windows", service="security")
WHOAMI = "sel:\n    Image|endswith: '\\whoami.exe'\ncondition: sel"


def test_routing_by_logsource() -> None:
    sysmon_only = make_rule(WHOAMI, rule_id="sysmon", logsource=SYSMON_PROC)
    any_proc = make_rule(
        WHOAMI, rule_id="proc", logsource=LogSource(product="Windows", category="PROCESS_CREATION")
    )
    security = make_rule(WHOAMI, rule_id="security", logsource=SECURITY)
    linux = make_rule(WHOAMI, rule_id="linux", logsource=LogSource(product="linux"))
    engine = Engine([sysmon_only, any_proc, security, linux])
    fields = {"Image": r"C:\Windows\System32\whoami.exe"}

    assert [r.id for r in engine.match(event(fields, SYSMON_PROC))] == ["sysmon", "proc"]
    assert [r.id for r in engine.match(event(fields, SECURITY))] == ["security"]
    security_proc = LogSource(product="windows", category="process_creation", service="security")
    assert [r.id for r in engine.match(event(fields, security_proc))] == ["proc", "security"]
    assert engine.match(event(fields, LogSource())) == []
    assert engine.rules_for(SECURITY) == (security,)


def test_registry_event_rules_apply_to_the_specific_registry_categories() -> None:
    generic = make_rule(
        "sel:\n    TargetObject|contains: '\\Run'\ncondition: sel",
        rule_id="generic",
        logsource=LogSource(product="windows", category="registry_event"),
    )
    specific = make_rule(
        "sel:\n    TargetObject|contains: '\\Run'\ncondition: sel",
        rule_id="set",
        logsource=LogSource(product="windows", category="registry_set"),
    )
    engine = Engine([generic, specific])
    fields = {"TargetObject": r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run\x"}
    registry_set = LogSource(product="windows", category="registry_set", service="sysmon")
    registry_add = LogSource(product="windows", category="registry_add", service="sysmon")
    assert [r.id for r in engine.match(event(fields, registry_set))] == ["generic", "set"]
    assert [r.id for r in engine.match(event(fields, registry_add))] == ["generic"]
