"""Drill scenarios: what a drill replays, and what the SOC should have done about it.

    scenario = load_scenario(Path("soc/detections/drills/ssh-brute-force/scenario.yml"))
    shipped = shipped_scenarios()          # id -> Scenario, the ones in the package

A scenario is a YAML file beside its recorded data (``soc/detections/drills/<id>/``)::

    id: ssh-brute-force
    title: SSH brute force, then a login and sudo
    tenant: default                 # the tenant it runs in unless the lead names another
    speed: 10                       # replay speed: 10 = ten times faster than recorded
    steps:
      - name: brute-force
        title: Password guessing against the portal's SSH
        replay:
          - file: auth-brute-force.log          # beside the scenario; .log, .ndjson(.gz), .evtx
        hosts: {ip-10-77-20-248: cong-dichvu-ssh01}   # recorded host -> the city's host
        host: web-portal-01         # the host of lines that name none (access logs)
        start_after: 0s             # pause after the previous step's last event
        expect:
          - rule: cebc8bb7-edae-44bc-94da-634fdcb02c46   # a rule or correlation id
            host: cong-dichvu-ssh01                       # optional: on that host
            within: 5m              # from the step's first replayed event to the alert
    response:
      unit: CAT-PCTP                # the response unit that should receive the hand-off
      triage_within: 10m            # from the first alert (optional budgets)
      hand_off_within: 20m
      acknowledge_within: 30m       # the unit's acceptance
      resolve_within: 4h

Durations are written ``90s``, ``5m``, ``4h``, ``1d`` (or a number of seconds). A
mistake is reported ``scenario.yml:14: steps[0].expect[0].within: ...``, as the
connector's configuration is (connectors.config.located_errors).

The recorded files are read with the readers ``soc hunt`` uses (soc.ingest.readers:
the connector's own parsers for syslog and access logs), so a drill's events are the
ones a connector would have shipped for the same lines.
"""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from connectors.config import located_errors, yaml_document
from connectors.errors import ConfigError as ConnectorConfigError
from soc.errors import ConfigError
from soc.incidents.models import UNIT_NAME
from soc.settings import TENANT_NAME

SCENARIO_FILE = "scenario.yml"
SCENARIO_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> Any:
    """``90s``, ``5m``, ``4h``, ``1d`` or seconds: a timedelta."""
    if isinstance(value, bool):
        raise ValueError("a duration, e.g. 90s, 5m, 4h")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"not a duration: {value!r} (e.g. 90s, 5m, 4h, 1d)")
        return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplayFile(_Strict):
    file: str = Field(min_length=1, max_length=300)
    """A file beside the scenario (no ``..``, no absolute path)."""

    @model_validator(mode="after")
    def _inside(self) -> ReplayFile:
        p = Path(self.file)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError("a file beside the scenario: no absolute path, no '..'")
        return self


class Expectation(_Strict):
    """One detection the step should raise."""

    rule: str = Field(min_length=1, max_length=200)
    """A detection rule's or a correlation rule's id."""
    host: str | None = Field(None, min_length=1, max_length=255)
    """The host the alert must name (after renames), compared case-insensitively."""
    within: Duration = timedelta(minutes=5)
    """Budget from the step's first replayed event to the alert."""

    @model_validator(mode="after")
    def _positive(self) -> Expectation:
        if self.within <= timedelta(0):
            raise ValueError("within must be positive")
        return self


class Step(_Strict):
    name: str = Field(pattern=SCENARIO_ID)
    title: str = Field(min_length=1, max_length=300)
    replay: list[ReplayFile] = Field(min_length=1)
    hosts: dict[str, str] = Field(default_factory=dict)
    """Recorded host name -> the name the drill gives it (case-insensitive match)."""
    host: str | None = Field(None, min_length=1, max_length=255)
    """The host of events whose lines name none (a web server's access log)."""
    start_after: Duration = timedelta(0)
    """Pause between the previous step's last event and this step's first (SOC clock)."""
    expect: list[Expectation] = Field(default_factory=list)


class Response(_Strict):
    unit: str = Field(pattern=f"^{UNIT_NAME}$")
    """The response unit that should receive the hand-off."""
    triage_within: Duration | None = None
    hand_off_within: Duration | None = None
    acknowledge_within: Duration
    """From the first alert to the unit's acceptance of the hand-off."""
    resolve_within: Duration
    """From the first alert to the last of the drill's incidents resolved."""


class Scenario(_Strict):
    id: str = Field(pattern=SCENARIO_ID)
    title: str = Field(min_length=1, max_length=300)
    title_vi: str | None = Field(None, max_length=300)
    description: str = Field("", max_length=5000)
    tenant: str = Field("default", pattern=f"^{TENANT_NAME}$")
    speed: float = Field(10.0, gt=0, le=10_000)
    """Replay speed: recorded gaps are divided by it (1: as recorded)."""
    max_gap: Duration = timedelta(seconds=30)
    """The longest wait between two events of a step, after ``speed`` (recorded logs have
    nights in them)."""
    steps: list[Step] = Field(min_length=1)
    response: Response
    source_license: str = Field("", max_length=300)
    """Where the recorded data comes from and under which license."""

    folder: Path = Field(Path("."), exclude=True)
    """Where the scenario's files are (set by load_scenario)."""

    @model_validator(mode="after")
    def _unique_steps(self) -> Scenario:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("two steps have the same name")
        return self

    def path_of(self, replay: ReplayFile) -> Path:
        return self.folder / replay.file

    @property
    def expected_rules(self) -> set[str]:
        return {e.rule for s in self.steps for e in s.expect}


def parse_scenario(text: str, *, name: str, folder: Path) -> Scenario:
    """The scenario in ``text``; ConfigError naming ``name:line: key`` when it is wrong."""
    try:
        data, node = yaml_document(text, name)
    except ConnectorConfigError as e:
        raise ConfigError(str(e)) from e
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: a scenario is a mapping (id:, title:, steps:, response:)")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        raise ConfigError("\n".join(located_errors(e, data, node, name))) from e
    scenario = scenario.model_copy(update={"folder": folder})
    for i, step in enumerate(scenario.steps):
        for j, replay in enumerate(step.replay):
            if not scenario.path_of(replay).is_file():
                raise ConfigError(
                    f"{name}: steps[{i}].replay[{j}].file: {replay.file!r} is not beside it"
                )
    return scenario


def load_scenario(path: Path) -> Scenario:
    """A scenario file, or a folder holding ``scenario.yml``."""
    if path.is_dir():
        path = path / SCENARIO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    return parse_scenario(text, name=str(path), folder=path.parent)


def shipped_folder() -> Path:
    return Path(str(resources.files("soc.detections").joinpath("drills")))


def shipped_scenarios() -> dict[str, Scenario]:
    """The scenarios shipped in the package, by id."""
    out: dict[str, Scenario] = {}
    for folder in sorted(shipped_folder().iterdir()):
        if (folder / SCENARIO_FILE).is_file():
            scenario = load_scenario(folder)
            out[scenario.id] = scenario
    return out
