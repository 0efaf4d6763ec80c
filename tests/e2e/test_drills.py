"""Each shipped drill scenario, end to end, on both pairs of backends, scored.

The real service (detect, correlate, group, the drill runner) runs in-process on the
memory bus + SQLite and on Kafka + OpenSearch. A lead starts the drill through the API;
the runner replays the scenario's recorded logs through the ingest path; an analyst
triages the drill's incident and hands it off to the unit, a responder of the unit
accepts, starts the response and resolves it, all through the API; the lead ends the
drill. The scorecard is then checked field by field against the moments those actions
took (as the API answered them) and the alerts' own ``created``, within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from soc.api.app import create_app
from soc.app import Service
from soc.drills.models import Scorecard
from soc.drills.report import scorecard_text
from soc.drills.scenario import Scenario, shipped_scenarios
from soc.security.passwords import PasswordHashing
from soc.security.users import new_user
from soc.settings import Settings
from tests.unit.security.helpers import cheap

TENANT = "hue-ioc"
UNIT = "PA05"
PASSWORD = "song-huong-chay-qua-thanh-pho"
ACCOUNTS = {
    "lead.minh": ("lead", ["*"], None),
    "analyst.hoa": ("analyst", [TENANT], None),
    "pa05.lan": ("responder", [TENANT], UNIT),
}
WAIT_S = 120
ARTIFACTS = Path(__file__).resolve().parents[2] / "build/artifacts/drills"


@dataclass
class Soc:
    service: Service
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]

    async def get(self, who: str, path: str, **params: Any) -> Any:
        r = await self.client.get(path, params=params, headers=self.headers[who])
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    async def post(self, who: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = await self.client.post(path, json=body, headers=self.headers[who])
        assert r.status_code == status, (path, r.status_code, r.text)
        return r.json()

    async def act(self, who: str, incident: dict[str, Any], command: dict[str, Any]) -> Any:
        return await self.post(
            who,
            f"/api/v1/incidents/{incident['id']}/actions",
            {"command": command, "version": incident["version"]},
        )


@pytest.fixture
async def soc(settings: Settings) -> AsyncIterator[Soc]:
    values = settings.model_dump()
    values["drills"] = {"poll_s": 0.2}
    # correlations decide as soon as their window allows (the budgets are minutes)
    values["detect"]["correlation"] = {"allowed_lateness_s": 0, "idle_flush_s": 1}
    values["incidents"] = {"check_interval_s": 3600}
    service = Service(Settings(**values), workers=True)
    service.hashing = PasswordHashing(cheap())
    app = create_app(service)
    async with app.router.lifespan_context(app):
        for name, (role, tenants, unit) in ACCOUNTS.items():
            await service.users.create(
                new_user(
                    username=name,
                    display_name=name,
                    role=role,
                    tenants=tenants,
                    unit=unit,
                    password=PASSWORD,
                    hashing=service.hashing,
                )
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://soc", timeout=60
        ) as client:
            headers = {}
            for name in ACCOUNTS:
                r = await client.post(
                    "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
                )
                assert r.status_code == 200, r.text
                headers[name.split(".")[0]] = {
                    "Authorization": f"Bearer {r.json()['access_token']}"
                }
            yield Soc(service, client, headers)


def when(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def close(a: datetime | str | None, b: datetime | str | None) -> bool:
    """Within a second."""
    x = when(a) if isinstance(a, str) else a
    y = when(b) if isinstance(b, str) else b
    assert x is not None and y is not None
    return abs((x - y).total_seconds()) <= 1.0


async def all_closed(soc: Soc, did: str, *, keep: str) -> list[dict[str, Any]]:
    """The drill's incidents once every one but ``keep`` is closed. The end closes those open
    then; an alert still on its way when the drill ended opens one later, which the drill
    runner closes within a poll (soc.drills.runner's late closing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        items = (await soc.get("lead", "/api/v1/incidents", drill=did, limit=500))["items"]
        if all(i["status"] == "closed" for i in items if i["id"] != keep):
            return items
        assert loop.time() < deadline, [(i["id"], i["status"]) for i in items]
        await asyncio.sleep(0.3)


async def replayed(soc: Soc, scenario: Scenario, **start: Any) -> dict[str, Any]:
    """Start the scenario as the lead; the drill once replayed and every alert it should
    raise is grouped."""
    drill = await soc.post(
        "lead",
        "/api/v1/drills",
        {"scenario": scenario.id, "tenant": TENANT, "speed": 1000, **start},
        status=201,
    )
    assert drill["state"] == "pending"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    expected = scenario.expected_rules
    while True:
        drill = await soc.get("lead", f"/api/v1/drills/{drill['id']}")
        alerts = (await soc.get("lead", "/api/v1/alerts", drill=drill["id"], limit=500))["items"]
        if (
            drill["state"] == "replayed"
            and expected <= {a["rule_id"] for a in alerts}
            and all(a["incident_id"] for a in alerts)
        ):
            return drill
        assert loop.time() < deadline, (drill, sorted({a["rule_id"] for a in alerts}))
        await asyncio.sleep(0.5)


@pytest.mark.parametrize(
    "scenario_id", ["lsass-credential-dump", "ssh-brute-force", "web-portal-attack"]
)
async def test_a_shipped_scenario_end_to_end_scored_against_the_actions_times(
    soc: Soc, scenario_id: str
) -> None:
    scenario = shipped_scenarios()[scenario_id]
    drill = await replayed(soc, scenario)
    did = drill["id"]
    assert [s["sent"] for s in drill["steps"]] == [s["events"] for s in drill["steps"]]
    alerts = (await soc.get("lead", "/api/v1/alerts", drill=did, limit=500))["items"]
    assert alerts and all(a["drill"] == did for a in alerts)
    incidents = (await soc.get("analyst", "/api/v1/incidents", drill=did, limit=500))["items"]
    assert incidents and all(i["drill"] == did for i in incidents)

    # The analyst takes the incident of the first expected rule, the responder works it.
    first_rule = scenario.steps[0].expect[0].rule
    main = next(i for i in incidents if first_rule in {r["rule_id"] for r in i["alerts"]})
    triaged = await soc.act("analyst", main, {"action": "triage"})
    handed = await soc.act("analyst", triaged, {"action": "hand_off", "to_unit": UNIT})
    accepted = await soc.act("pa05", handed, {"action": "accept"})
    responding = await soc.act("pa05", accepted, {"action": "start_response"})
    resolved = await soc.act("pa05", responding, {"action": "resolve", "summary": "contained"})
    judged = await soc.post(
        "analyst",
        f"/api/v1/incidents/{main['id']}/verdicts",
        {
            "alert_ids": [resolved["alerts"][0]["id"]],
            "verdict": "true_positive",
            "version": resolved["version"],
        },
    )
    assert judged["alerts"][0]["verdict"] == "true_positive"

    card = await soc.get("lead", f"/api/v1/drills/{did}/scorecard")
    by_id = {a["id"]: a for a in alerts}
    steps = {s["name"]: s for s in drill["steps"]}
    assert card["faster_than_real_time"] is True
    assert close(card["first_alert_at"], min(when(a["created"]) for a in alerts))
    for step in card["steps"]:
        assert step["first_event_at"] == steps[step["name"]]["first_event_at"]
        for r in step["detections"]:
            assert r["outcome"] == "met", r
            alert = by_id[r["alert_id"]]
            assert alert["rule_id"] == r["rule"]
            assert close(r["alert_at"], alert["created"])
            seconds = (when(alert["created"]) - when(step["first_event_at"])).total_seconds()
            assert abs(r["seconds"] - seconds) <= 1.0
            assert r["seconds"] <= r["budget_s"] and r["score"] == 100
    assert card["detection_score"] == 100
    m = {x["name"]: x for x in card["response"]}
    first = when(card["first_alert_at"])
    for name, moment in (
        ("triage", triaged["updated"]),
        ("hand_off", handed["handoffs"][-1]["at"]),
        ("acknowledge", accepted["handoffs"][-1]["decided_at"]),
        ("resolve", resolved["resolved_at"]),
    ):
        assert close(m[name]["at"], moment), (name, m[name], moment)
        assert abs(m[name]["seconds"] - (when(moment) - first).total_seconds()) <= 1.0
        assert m[name]["outcome"] == "met" and m[name]["score"] == 100
    [h] = card["handoffs"]
    assert (h["to_unit"], h["expected"], h["state"]) == (UNIT, True, "accepted")
    assert card["unit_correct"] is True and card["response_score"] == 100
    expected = scenario.expected_rules
    assert {n["alert_id"] for n in card["noise"]} == {
        a["id"] for a in alerts if a["rule_id"] not in expected
    }
    assert card["verdicts"]["true_positive"] == 1
    assert card["score"] == 100

    # The end closes the drill's incidents still open, keeping their history.
    ended = await soc.post("lead", f"/api/v1/drills/{did}/end")
    assert ended["state"] == "ended" and ended["score"] == 100
    after = await all_closed(soc, did, keep=main["id"])
    for inc in after:
        if inc["id"] == main["id"]:
            assert inc["resolution"] == "contained"
        else:
            assert inc["status"] == "closed" and inc["resolution"] == "drill ended"
        assert inc["status"] in ("closed", "resolved")
    card = await soc.get("lead", f"/api/v1/drills/{did}/scorecard")
    assert card["drill"]["state"] == "ended" and card["score"] == 100
    # kept as an artifact: the note quotes one scorecard of each shipped scenario
    settings = soc.service.settings
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = f"{scenario_id}-{settings.bus.kind}+{settings.store.kind}.txt"
    (ARTIFACTS / name).write_text(scorecard_text(Scorecard.model_validate(card)) + "\n")
    report = await soc.client.get(f"/api/v1/drills/{did}/report", headers=soc.headers["lead"])
    assert "BÁO CÁO KẾT QUẢ DIỄN TẬP" in report.text
    # drills leave the live overview alone
    overview = await soc.get("lead", "/api/v1/overview")
    assert sum(h["alerts"] for h in overview["alerts_per_hour"]) == 0


async def test_a_disabled_rule_is_missed_and_a_hand_off_to_the_wrong_unit_is_marked(
    soc: Soc,
) -> None:
    scenario = shipped_scenarios()["web-portal-attack"]
    [rule] = scenario.expected_rules
    r = await soc.client.post(
        f"/api/v1/rules/{rule}/disable", json={"tenants": [TENANT]}, headers=soc.headers["lead"]
    )
    assert r.status_code == 200, r.text
    # a detector takes the change within detect.rules_poll_s
    await asyncio.sleep(soc.service.settings.detect.rules_poll_s + 1)
    drill = await soc.post(
        "lead",
        "/api/v1/drills",
        {"scenario": scenario.id, "tenant": TENANT, "speed": 1000},
        status=201,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while (await soc.get("lead", f"/api/v1/drills/{drill['id']}"))["state"] != "replayed":
        assert loop.time() < deadline
        await asyncio.sleep(0.5)
    ended = await soc.post("lead", f"/api/v1/drills/{drill['id']}/end")
    card = await soc.get("lead", f"/api/v1/drills/{ended['id']}/scorecard")
    [step] = card["steps"]
    [r] = step["detections"]
    assert (r["outcome"], r["score"], r["alert_id"]) == ("missed", 0, None)
    assert step["score"] == 0 and card["detection_score"] == 0


async def test_a_blind_drill_is_unmarked_for_analysts_until_it_ends(soc: Soc) -> None:
    scenario = shipped_scenarios()["web-portal-attack"]
    drill = await replayed(soc, scenario, blind=True)
    did = drill["id"]
    lead_view = (await soc.get("lead", "/api/v1/alerts", drill=did))["items"]
    assert lead_view and all(a["drill"] == did for a in lead_view)
    analyst_view = (await soc.get("analyst", "/api/v1/alerts", limit=500))["items"]
    ours = [a for a in analyst_view if a["id"] in {x["id"] for x in lead_view}]
    assert ours and all(a["drill"] is None for a in ours)
    incident = await soc.get("analyst", f"/api/v1/incidents/{ours[0]['incident_id']}")
    assert incident["incident"]["drill"] is None
    # the analyst hands it to the wrong unit: the scorecard marks it
    inc = incident["incident"]
    triaged = await soc.act("analyst", inc, {"action": "triage"})
    await soc.act("analyst", triaged, {"action": "hand_off", "to_unit": "PA99"})
    r = await soc.client.get(f"/api/v1/drills/{did}", headers=soc.headers["analyst"])
    assert r.status_code == 403
    card = await soc.get("lead", f"/api/v1/drills/{did}/scorecard")
    [h] = card["handoffs"]
    assert (h["to_unit"], h["expected"]) == ("PA99", False) and card["unit_correct"] is False
    await soc.post("lead", f"/api/v1/drills/{did}/end")
    seen = (await soc.get("analyst", f"/api/v1/incidents/{inc['id']}"))["incident"]
    assert seen["drill"] == did and seen["status"] == "closed"
    assert seen["handoffs"][-1]["state"] == "recalled"


async def progress(soc: Soc, did: str) -> tuple[str, int]:
    drill = await soc.get("lead", f"/api/v1/drills/{did}")
    return drill["state"], sum(s["sent"] for s in drill["steps"])


async def until(soc: Soc, did: str, ok: Any) -> tuple[str, int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not ok(*(seen := await progress(soc, did))):
        assert loop.time() < deadline, seen
        await asyncio.sleep(0.2)
    return seen


async def test_pause_resume_abort_and_the_scenarios_trend(soc: Soc) -> None:
    web = shipped_scenarios()["web-portal-attack"]
    first = await replayed(soc, web)
    first_end = await soc.post("lead", f"/api/v1/drills/{first['id']}/end")

    # The LSASS slice at four times its recorded speed takes 86 s: pause it, resume it,
    # abort it once it raised alerts (its first after some 6 s).
    drill = await soc.post(
        "lead",
        "/api/v1/drills",
        {"scenario": "lsass-credential-dump", "tenant": TENANT, "speed": 4},
        status=201,
    )
    did = drill["id"]
    await until(soc, did, lambda state, sent: state == "running" and sent > 0)
    paused = await soc.post("lead", f"/api/v1/drills/{did}/pause")
    assert paused["state"] == "paused"
    await asyncio.sleep(1)  # an event already in flight is saved
    _, held = await progress(soc, did)
    await asyncio.sleep(3)
    assert await progress(soc, did) == ("paused", held), "a paused drill sends nothing"
    assert (await soc.post("lead", f"/api/v1/drills/{did}/resume"))["state"] == "running"
    await until(soc, did, lambda state, sent: sent > held)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not (await soc.get("lead", "/api/v1/incidents", drill=did))["items"]:
        assert loop.time() < deadline
        await asyncio.sleep(0.3)
    aborted = await soc.post("lead", f"/api/v1/drills/{did}/abort")
    assert aborted["state"] == "aborted" and aborted["ended"] is not None
    await asyncio.sleep(2)
    state, sent = await progress(soc, did)
    await asyncio.sleep(2)
    assert await progress(soc, did) == (state, sent) == ("aborted", sent)
    assert sent < sum(s["events"] for s in aborted["steps"])
    # what the replay sent before the abort was detected; late incidents are closed too
    await asyncio.sleep(3)
    incidents = (await soc.get("lead", "/api/v1/incidents", drill=did, limit=500))["items"]
    assert incidents and {i["status"] for i in incidents} == {"closed"}
    assert {i["resolution"] for i in incidents} == {"drill ended"}
    r = await soc.client.post(f"/api/v1/drills/{did}/resume", headers=soc.headers["lead"])
    assert r.status_code == 422

    # the same scenario again: its scorecard shows the trend
    second = await replayed(soc, web)
    card = await soc.get("lead", f"/api/v1/drills/{second['id']}/scorecard")
    assert [(p["drill_id"], p["score"]) for p in card["history"]] == [
        (first["id"], first_end["score"]),
        (second["id"], card["score"]),
    ]
