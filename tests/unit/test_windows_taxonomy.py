"""The Windows logsource map (soc/ingest/windows_logsources.yml) vs the Sigma taxonomy appendix.

The appendix's "Windows Folder" tables name, for each Windows service, the event-log
channels it is read from, and for each category its EventIDs and channel. Every row
must have its mapping here; a row the map cannot follow has to be listed, with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from soc.detect.engine import CATEGORY_PARENTS
from soc.ingest.normalize import infer_logsource

ROOT = Path(__file__).resolve().parents[2]
APPENDIX = ROOT.parent / "shared/sigma-specification/specification/sigma-appendix-taxonomy.md"

MAP = yaml.safe_load(
    resources.files("soc.ingest").joinpath("windows_logsources.yml").read_text("utf-8")
)

NOT_IN_AN_EVENT_LOG = {"file_access", "file_rename"}
"""Categories the appendix takes from ETW (Microsoft-Windows-Kernel-File), not from a channel."""
NAMED_AS_THOR = {"clipboard_capture": "clipboard_change"}
"""Sysmon 24 (ClipboardChange): the appendix's name -> thor.yml's. One event has one
category, and the map follows thor.yml; no SigmaHQ rule uses either name."""


@dataclass
class Row:
    """One row of an appendix table: its logsource and what its description lists."""

    logsource: dict[str, str]
    lists: dict[str, list[str]] = field(default_factory=dict)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _description(text: str) -> dict[str, list[str]]:
    """``EventIDs: <br> - 4<br> - 16<br>Channel: X`` -> {"EventID": ["4", "16"],
    "Channel": ["X"]}: a key's values follow it, inline or as ``- `` items."""
    out: dict[str, list[str]] = {}
    key = ""
    for part in (p.strip() for p in text.split("<br>")):
        if part.startswith("- "):
            out.setdefault(key, []).append(part[2:].strip())
        elif ":" in part:
            key, _, value = (s.strip() for s in part.partition(":"))
            key = "EventID" if key == "EventIDs" else key
            out.setdefault(key, [])
            if value:
                out[key].append(value)
    return out


def windows_tables() -> dict[str, list[Row]]:
    """The appendix's Windows "Category" and "Service" tables, row by row."""
    lines = APPENDIX.read_text(encoding="utf-8").splitlines()
    start = lines.index("### Windows Folder")
    tables: dict[str, list[Row]] = {}
    heading = ""
    for line in lines[start + 1 :]:
        if line.startswith(("## ", "### ")):
            break
        if line.startswith("#### "):
            heading = line[5:].strip()
            continue
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) < 3 or cells[0] != "windows":
            continue  # not a row, the header, or its rule
        logsource = dict(
            (k.strip(), v.strip()) for k, _, v in (p.partition(":") for p in cells[1].split("<br>"))
        )
        tables.setdefault(heading, []).append(Row(logsource, _description(cells[2])))
    return tables


def channel_name(text: str) -> str:
    """A channel as the appendix writes it; ``WinEventLog:`` is Splunk's prefix, not the name."""
    return text.removeprefix("WinEventLog:")


def test_every_windows_service_of_the_appendix_has_its_channels_mapped() -> None:
    services = windows_tables()["Service"]
    assert len(services) > 40, "the appendix's service table was not found"
    unmapped = {row.logsource["service"] for row in services} - set(MAP["channels"].values())
    assert unmapped == set(), f"services of the appendix with no channel in the map: {unmapped}"
    wrong = []
    for row in services:
        service = row.logsource["service"]
        assert row.lists.get("Channel"), f"{service}: no channel in the appendix"
        for channel in map(channel_name, row.lists["Channel"]):
            found = infer_logsource({"Channel": channel, "EventID": 0}).service
            if found != service:
                wrong.append(f"{channel!r} gives {found}, the appendix says {service}")
    assert wrong == [], "\n".join(wrong)


def test_every_windows_category_of_the_appendix_is_given_by_its_events() -> None:
    categories = windows_tables()["Category"]
    assert len(categories) > 30, "the appendix's category table was not found"
    checked = 0
    for row in categories:
        category = row.logsource["category"]
        if category in NOT_IN_AN_EVENT_LOG:
            assert "Channel" not in row.lists, f"{category} now names a channel"
            continue
        wanted = NAMED_AS_THOR.get(category, category)
        for channel in map(channel_name, row.lists["Channel"]):
            for event_id in row.lists["EventID"]:
                given = _categories(channel, int(event_id))
                assert wanted in given, f"{category}: {channel} {event_id} gives {given}"
                checked += 1
    assert checked > 35


def _categories(channel: str, event_id: int) -> set[str]:
    """The categories the map can give an event of this channel and id (a field may decide
    between several, as Sysmon 12's EventType does), and the generic ones the engine routes
    to as well."""
    service = infer_logsource({"Channel": channel, "EventID": event_id}).service
    rule = MAP["categories"].get(service, {}).get(event_id)
    if rule is None:
        return set()
    names = {rule} if isinstance(rule, str) else {*rule["values"].values(), rule["default"]}
    return names | {CATEGORY_PARENTS[n] for n in names if n in CATEGORY_PARENTS}
