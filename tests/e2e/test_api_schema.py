"""Every operation of the API's own OpenAPI schema, fuzzed in-process with schemathesis.

The app is the embedded default (memory bus, SQLite in tmp_path, detection
running), reached over ASGI. Each operation gets generated requests, valid and
invalid, sent with a key of the role it needs: the ingest key for ingest
routes, else an analyst's of one tenant. No answer may be a server error, and
every documented answer must match its schema. Operations are read from the
schema, so a route added later is covered without touching this file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from soc.api.app import create_app
from soc.app import Service
from soc.settings import Settings
from tests.e2e.harness import auth, backend_settings

TENANT = "hue-ioc"
"""The tenant of the ingest and analyst keys (tests.e2e.harness)."""
MAX_EXAMPLES = 30
"""Generated requests per operation; keeps the whole run around a minute."""
STREAM_READ_S = 1.0
"""How long an event stream, which never ends, is read before it is cut (else 10 s each).
It also bounds the wait for the response's headers: 0.25 s failed once on a loaded
two-core CI machine (ReadTimeout before the first byte), so a second is allowed."""


def embedded_app(tmp: Path) -> FastAPI:
    """The app on the embedded default; nothing starts before its first request.

    On start it replays the bundled recorded sample into the analyst's tenant, so
    that alerts and events are there to read while the requests come.
    """
    values = backend_settings(
        "memory", "sqlite", prefix="schema", tmp=tmp, kafka=None, opensearch=None
    )
    values["sample"] = {"replay_on_start": True, "tenant": TENANT}
    return create_app(Service(Settings(**values), workers=True))


schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # the ingest body, as text
schema = schemathesis.openapi.from_dict(embedded_app(Path(tempfile.gettempdir())).openapi())
"""Read from an app that is never started: building one touches no disk."""


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """A fresh app per operation; schemathesis starts its lifespan and ends it after the test."""
    return embedded_app(tmp_path)


def credentials(case: Case) -> dict[str, str]:
    """The ingest key for ingest routes; an analyst's key of one tenant for everything else."""
    return auth("ingest" if "ingest" in (case.operation.tags or []) else "analyst")


def streams(case: Case) -> bool:
    """Whether the operation answers with server-sent events."""
    responses = case.operation.definition.raw.get("responses") or {}
    return any("text/event-stream" in (r.get("content") or {}) for r in responses.values())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    # One app serves every example of an operation, as one server serves every request.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_errors_and_answers_match_the_schema(app: FastAPI, case: Case) -> None:
    bounded = {"timeout": STREAM_READ_S} if streams(case) else {}
    case.call_and_validate(
        app=app,
        headers=credentials(case),
        checks=[not_a_server_error, response_schema_conformance],
        **bounded,
    )
