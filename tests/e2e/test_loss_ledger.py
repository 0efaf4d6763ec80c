"""The loss ledger through the real path, on both pairs of backends.

Recorded auth.log lines are posted as a connector numbers them, with a block of seqs
left out: after the grace period the ledger lists exactly that gap and one loss alert is
raised (and grouped into an incident); resending the block closes the gap; resending
events counts them as duplicates; a drill's events are not counted. The service is then
stopped and started again on the same store: the ledger is still there.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from soc.settings import Settings
from soc.stages.ledger import LOSS_RULE_ID
from tests.e2e.harness import auth, running_service
from tests.e2e.test_pipeline import all_alerts
from tests.notify._servers import Receiver, webhook_receiver

STREAM = {"connector": "web-01", "source": "linux-auth", "stream": "/var/log/auth.log"}
HOLE = range(40, 50)


def body(lines: list[str], seqs: range | list[int], drill: str | None = None) -> bytes:
    out = []
    for seq in seqs:
        origin: dict[str, Any] = {**STREAM, "seq": seq}
        if drill is not None:
            origin["drill"] = drill
        out.append(
            json.dumps(
                {"record": {"message": lines[seq]}, "source": "linux-auth", "origin": origin}
            )
        )
    return "\n".join(out).encode()


async def post(client: httpx.AsyncClient, data: bytes, n: int) -> None:
    r = await client.post("/api/v1/ingest", content=data, headers=auth("ingest"))
    assert r.status_code == 200 and r.json()["accepted"] == n, r.text


async def ledger_until(client: httpx.AsyncClient, check: Any, within: float = 60) -> dict[str, Any]:
    """The stream's entry once ``check`` holds of it."""
    deadline = time.monotonic() + within
    while True:
        r = await client.get("/api/v1/sources/ledger", headers=auth("analyst"))
        assert r.status_code == 200, r.text
        streams = r.json()["streams"]
        mine = [s for s in streams if s["stream"] == STREAM["stream"]]
        if mine and check(mine[0]):
            assert len(streams) == 1, streams  # the drill's stream is not counted
            return mine[0]
        assert time.monotonic() < deadline, streams
        await asyncio.sleep(0.3)


async def loss_alerts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return [a for a in await all_alerts(client, "analyst") if a["rule_id"] == LOSS_RULE_ID]


async def test_a_block_left_out_is_one_gap_one_alert_and_a_resend_closes_it(
    settings: Settings, shared_dir: Path
) -> None:
    lines = (shared_dir / "datasets/linux/auth.log").read_text().splitlines()[:110]
    settings = settings.model_copy(
        update={
            "sources": settings.sources.model_copy(
                update={"reconcile_s": 0.5, "grace_s": 2.0, "snapshot_s": 0.5}
            )
        }
    )
    kept = [s for s in range(100) if s not in HOLE]
    async with webhook_receiver("ledger-hook-key") as hook:
        notify = settings.notify.model_validate(
            {
                "channels": {
                    "soc-hook": {
                        "type": "webhook",
                        "url": f"{hook.url}/hook",
                        "secret": "ledger-hook-key",
                    }
                },
                "routes": [
                    {"tenant": "hue-ioc", "triggers": ["loss_detected"], "channel": "soc-hook"}
                ],
                "send_s": 0.2,
            }
        )
        await _lose_and_resend(settings.model_copy(update={"notify": notify}), lines, kept, hook)


async def _lose_and_resend(
    settings: Settings, lines: list[str], kept: list[int], hook: Receiver
) -> None:
    async with running_service(settings) as client:
        await post(client, body(lines, kept), len(kept))
        await post(client, body(lines, range(20), drill="d1"), 20)  # a drill: not counted

        s = await ledger_until(client, lambda s: s["lost"] > 0)
        assert s["gaps"] == [
            {"from_seq": 40, "to_seq": 49, "count": 10, "first_seen": s["gaps"][0]["first_seen"]}
        ]
        assert (s["records"], s["duplicates"], s["lost"], s["highest_arrived"]) == (90, 0, 10, 99)
        assert s["tenant"] == "hue-ioc"

        deadline = time.monotonic() + 30
        while not await loss_alerts(client):
            assert time.monotonic() < deadline, "no loss alert"
            await asyncio.sleep(0.3)
        await asyncio.sleep(2)  # several more reconciliations: the alert is not raised again
        (alert,) = await loss_alerts(client)
        assert (alert["severity"], alert["host"], alert["tenant"]) == ("high", None, "hue-ioc")
        assert "40..49" in alert["rule_title"]
        # ...and told once on the tenant's signed webhook (soc.notify: trigger loss_detected)
        deadline = time.monotonic() + 30
        while not hook.accepted:
            assert time.monotonic() < deadline, "no loss notification"
            await asyncio.sleep(0.3)
        (told,) = hook.accepted
        assert told["trigger"] == "loss_detected" and hook.refused == 0
        assert "web-01/linux-auth//var/log/auth.log" in told["text"] and "40-49" in told["text"]
        deadline = time.monotonic() + 30
        while (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth("analyst"))).json()[
            "incident_id"
        ] is None:
            assert time.monotonic() < deadline, "the loss alert was not grouped"
            await asyncio.sleep(0.3)

        # The block resent: the gap closes. Some events resent: duplicates, not loss.
        await post(client, body(lines, HOLE), len(HOLE))
        await post(client, body(lines, range(5)), 5)
        s = await ledger_until(client, lambda s: s["duplicates"] == 5 and s["records"] == 100)
        assert (s["gaps"], s["lost"], s["pending"]) == ([], 0, 0)
        assert len(await loss_alerts(client)) == 1

    # Stopped (the ledger saved) and started again on the same store: still there.
    async with running_service(settings) as client:
        s = await ledger_until(client, lambda s: True, within=5)
        assert (s["records"], s["events"], s["duplicates"], s["lost"]) == (100, 100, 5, 0)
        await post(client, body(lines, range(100, 110)), 10)
        s = await ledger_until(client, lambda s: s["records"] == 110)
        assert (s["duplicates"], s["lost"], s["gaps"]) == (5, 0, [])


async def test_records_refused_at_ingest_are_dead_letters_not_loss(
    settings: Settings, shared_dir: Path
) -> None:
    """Lines that state their origin but are otherwise invalid are dead-lettered: they
    reached the SOC, so the ledger counts them as arrived, and shows no gap."""
    lines = (shared_dir / "datasets/linux/auth.log").read_text().splitlines()[:60]
    settings = settings.model_copy(
        update={
            "sources": settings.sources.model_copy(
                update={"reconcile_s": 0.5, "grace_s": 1.0, "snapshot_s": 0.5}
            )
        }
    )
    refused = range(20, 23)
    out = []
    for seq in range(60):
        line: dict[str, Any] = {
            "record": {"message": lines[seq]},
            "source": "linux-auth",
            "origin": {**STREAM, "seq": seq},
        }
        if seq in refused:
            line["time"] = "not a time"  # an invalid envelope: dead-lettered
        out.append(json.dumps(line))
    async with running_service(settings) as client:
        r = await client.post(
            "/api/v1/ingest", content="\n".join(out).encode(), headers=auth("ingest")
        )
        assert r.status_code == 200, r.text
        assert (r.json()["accepted"], r.json()["rejected"]) == (60 - len(refused), len(refused))
        await asyncio.sleep(settings.sources.grace_s + 1)  # past the grace period
        s = await ledger_until(client, lambda s: s["records"] == 60)
        assert (s["gaps"], s["lost"], s["pending"], s["duplicates"]) == ([], 0, 0, 0)
        r = await client.get("/api/v1/deadletters", headers=auth("analyst"))
        assert r.status_code == 200, r.text
        letters = r.json()
        seqs = sorted(d["origin"]["seq"] for d in letters if d.get("origin"))
        assert seqs == list(refused), letters
