"""The project's processing pipelines, applied to rules before they compile."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from soc import detections as bundled
from soc.detect.engine import Engine
from soc.detect.pipelines import load_pipelines, pipeline_path
from soc.detect.rules import load_rules
from soc.errors import ConfigError
from soc.models import Event, LogSource

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "soc/detections/pipelines"
BOTH = [PIPELINES / "windows.yml", PIPELINES / "placeholders.yml"]
SYSMON_1 = LogSource(product="windows", category="process_creation", service="sysmon")
SECURITY_4688 = LogSource(product="windows", category="process_creation", service="security")
WINDEFEND = LogSource(product="windows", service="windefend")


def engine(tmp_path: Path, rule: str, pipelines: list[Path] = BOTH) -> Engine:
    path = tmp_path / "rule.yml"
    path.write_text(textwrap.dedent(rule))
    ruleset = load_rules([path], pipelines=pipelines)
    assert ruleset.errors == ()
    return Engine(ruleset.rules)


def fires(e: Engine, logsource: LogSource, **fields: Any) -> bool:
    event = Event.model_validate(
        {
            "id": "e",
            "tenant": "t",
            "source": "s",
            "time": "2026-11-24T00:00:00Z",
            "received": "2026-11-24T00:00:00Z",
            "logsource": logsource,
            "raw": fields,
            "fields": fields,
        }
    )
    return bool(e.match(event))


PARENT_RULE = """
    title: shell from a user folder
    logsource: {product: windows, category: process_creation}
    detection:
        selection:
            Image|endswith: '\\cmd.exe'
            ParentImage|contains: '\\Users\\'
        filter_main_null:
            ParentImage: null
        condition: selection and not filter_main_null
"""


def test_process_creation_fields_on_sysmon_and_security_4688(tmp_path: Path) -> None:
    e = engine(tmp_path, PARENT_RULE)
    sysmon = {"Image": "C:\\Windows\\cmd.exe", "ParentImage": "C:\\Users\\a\\x.exe"}
    assert fires(e, SYSMON_1, **sysmon)
    assert not fires(e, SYSMON_1, Image="C:\\Windows\\cmd.exe")  # the null filter holds
    security = {"NewProcessName": "C:\\Windows\\cmd.exe", "ParentProcessName": "C:\\Users\\a\\x"}
    assert fires(e, SECURITY_4688, **security), "ParentImage: null is judged on 4688's name"
    no_filter = PARENT_RULE.replace("and not filter_main_null", "")
    e = engine(tmp_path, no_filter)
    assert fires(e, SECURITY_4688, **security)
    assert not fires(e, SECURITY_4688, NewProcessName="C:\\Windows\\cmd.exe")
    assert not fires(engine(tmp_path, no_filter, pipelines=[]), SECURITY_4688, **security)


def test_a_null_test_of_a_process_name_holds_when_no_name_has_a_value(tmp_path: Path) -> None:
    # docs/adr/0008: `ParentImage: null` is an AND of the null tests of Sysmon's and
    # Security 4688's names for the parent, so each record is judged by the name it has.
    e = engine(
        tmp_path,
        """
        title: cmd with a known parent
        logsource: {product: windows, category: process_creation}
        detection:
            selection:
                Image|endswith: '\\cmd.exe'
            filter_main_null:
                ParentImage: null
            condition: selection and not filter_main_null
        """,
    )
    cmd, parent = "C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\explorer.exe"
    assert fires(e, SYSMON_1, Image=cmd, ParentImage=parent)
    assert not fires(e, SYSMON_1, Image=cmd, ParentImage="")
    assert not fires(e, SYSMON_1, Image=cmd)
    assert fires(e, SECURITY_4688, NewProcessName=cmd, ParentProcessName=parent)
    assert not fires(e, SECURITY_4688, NewProcessName=cmd, ParentProcessName="")
    assert not fires(e, SECURITY_4688, NewProcessName=cmd)  # 4688 before version 2


def test_defender_names_with_spaces_and_provider_name_from_flat_json(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        """
        title: defender real-time protection
        logsource: {product: windows, service: windefend}
        detection:
            selection:
                SourceName: 'Real-Time Protection'
                Provider_Name: 'Microsoft-Windows-Windows Defender'
            condition: selection
        """,
    )
    provider = "Microsoft-Windows-Windows Defender"
    assert fires(e, WINDEFEND, **{"Source Name": "Real-Time Protection", "Provider_Name": provider})
    assert fires(e, WINDEFEND, **{"SourceName": provider, "Source Name": "Real-Time Protection"})
    assert not fires(e, WINDEFEND, **{"Source Name": "Manual", "Provider_Name": provider})


PLACEHOLDER_RULE = """
    title: logon from a DC machine account off the DCs
    logsource: {product: windows, service: security}
    detection:
        selection:
            EventID: 4624
            TargetUserName|expand: '%dc_machine_accounts%'
        filter_main_dc_source:
            IpAddress|expand: '%dc_ip_addresses%'
        condition: selection and not filter_main_dc_source
"""


def test_placeholders_take_the_configured_values(tmp_path: Path) -> None:
    security = LogSource(product="windows", service="security")
    assert load_rules([tmp_path], pipelines=[]).errors == ()  # nothing there yet
    (tmp_path / "r.yml").write_text(textwrap.dedent(PLACEHOLDER_RULE))
    [error] = load_rules([tmp_path / "r.yml"], pipelines=[]).errors
    assert "placeholder" in error.reason.lower()
    e = engine(tmp_path, PLACEHOLDER_RULE)
    # The examples match nothing real: the selection stays silent.
    assert not fires(e, security, EventID=4624, TargetUserName="DC1$", IpAddress="10.0.0.9")
    assert fires(e, security, EventID=4624, TargetUserName="EXAMPLE-DC01$", IpAddress="10.0.0.9")
    site = tmp_path / "site.yml"
    site.write_text("vars:\n  dc_machine_accounts: ['DC1$']\n  dc_ip_addresses: ['10.0.0.1']\n")
    e = engine(tmp_path, PLACEHOLDER_RULE, pipelines=[*BOTH, site])
    assert fires(e, security, EventID=4624, TargetUserName="dc1$", IpAddress="10.0.0.9")
    assert not fires(e, security, EventID=4624, TargetUserName="DC1$", IpAddress="10.0.0.1")


def test_pipeline_names_paths_and_refusals(tmp_path: Path) -> None:
    assert pipeline_path("windows") == bundled.PIPELINES / "windows.yml"
    assert pipeline_path("site.yml") == Path("site.yml")
    assert load_pipelines([]).pipeline is None
    one = load_pipelines(["windows"], folder=PIPELINES)
    assert one.identity != load_pipelines(BOTH).identity != ""
    with pytest.raises(ConfigError, match=r"names known in .*placeholders, windows"):
        load_pipelines(["nope"], folder=PIPELINES)
    bad = tmp_path / "bad.yml"
    bad.write_text("transformations:\n  - type: no_such_transformation\n")
    with pytest.raises(ConfigError, match="refused"):
        load_pipelines([bad])
    with pytest.raises(ConfigError):
        load_rules([tmp_path], pipelines=[bad])


def test_defaults_are_the_packages_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bare pipeline names and the default rules come from the package; given paths from cwd."""
    from soc.settings import DetectSettings

    assert bundled.PIPELINES == PIPELINES, "the editable install's package is this checkout"
    assert (bundled.DETECTIONS / "LICENSE-DRL.md").is_file()
    monkeypatch.chdir(tmp_path)
    defaults = DetectSettings()
    assert defaults.rules == [bundled.RULES] and bundled.RULES.is_absolute()
    ruleset = load_rules(defaults.rules, pipelines=defaults.pipelines)
    files = [p.read_text() for p in bundled.RULES.rglob("*.yml")]
    detection_files = [t for t in files if "\ncorrelation:" not in t]
    assert ruleset.errors == () and len(ruleset.rules) == len(detection_files)
    assert len(ruleset.correlations) == 6  # the city's, one file holding two
    # A path the user gives is read from the working directory, as before.
    (tmp_path / "site.yml").write_text("vars:\n  dc_machine_accounts: ['DC1$']\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "rule.yml").write_text(textwrap.dedent(PLACEHOLDER_RULE))
    mine = load_rules([Path("mine")], pipelines=["windows", "placeholders", "site.yml"])
    assert [r.path for r in mine.rules] == [Path("mine/rule.yml")]
    with pytest.raises(ConfigError, match=r"cannot read site2\.yml"):
        load_pipelines(["site2.yml"])
