"""The HTTP receiver on a real socket: a Kubernetes audit webhook, NDJSON, auth, limits, waiting.

The only stand-in is ``emit`` (the agent boundary), as in test_syslog_source.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.config import HttpSource
from connectors.errors import ListenError
from connectors.parse.dispatch import parse
from connectors.sources.http_receiver import HttpReceiverSource
from tests.connectors._sources import Collector
from tests.connectors.test_formats import K8S_EVENT
from tests.connectors.test_syslog_source import RUN, Certs, make_ctx, serving

TOKEN = "s3cr3t-webhook-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _event_list() -> dict[str, Any]:
    """An audit.k8s.io/v1 EventList as the API server's webhook backend posts it."""
    exec_ = copy.deepcopy(K8S_EVENT)
    secret = copy.deepcopy(K8S_EVENT)
    secret.update(
        auditID="5b0f1c7e-2d3a-4f4e-9a61-0c8e2f7d9b10",
        verb="get",
        requestURI="/api/v1/namespaces/default/secrets/db-password",
        objectRef={
            "resource": "secrets",
            "namespace": "default",
            "name": "db-password",
            "apiVersion": "v1",
        },
        responseStatus={"metadata": {}, "code": 200},
    )
    return {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": [exec_, secret],
    }


EVENT_LIST = json.dumps(_event_list()).encode()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def receiver(tmp_path: Path, token_file: Path | None, **kw: Any) -> HttpReceiverSource:
    config = HttpSource(
        type="http",
        name="k8s-audit",
        listen="127.0.0.1:0",
        path="/audit",
        token_file=token_file,
        format="k8s-audit",
        **kw,
    )
    return HttpReceiverSource(config, make_ctx(tmp_path))


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_kubernetes_audit_event_list_arrives_as_one_document(
    tmp_path: Path, token_file: Path, client: aiohttp.ClientSession
) -> None:
    emit = Collector()
    source = receiver(tmp_path, token_file)
    ndjson = b"".join(json.dumps(e).encode() + b"\n" for e in _event_list()["items"])
    async with serving(source, emit) as port:
        url = f"http://127.0.0.1:{port}/audit"
        for body in (EVENT_LIST, ndjson):
            headers = {**AUTH, "Content-Type": "application/json"}
            async with client.post(url, data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                assert await r.json() == {"accepted": True, "bytes": len(body)}
    first, second = emit.batches
    stream = f"http:127.0.0.1#{RUN}"
    assert (first.source, first.stream, first.first_seq, first.kind, first.host) == (
        "k8s-audit",
        stream,
        0,
        "document",
        "127.0.0.1",
    )
    assert (second.stream, second.first_seq, second.kind) == (stream, 1, "document")
    assert first.checkpoint is None and [f.data for f in first.records] == [EVENT_LIST]
    assert [f.data for f in second.records] == [ndjson]
    for batch in (first, second):  # what the agent does next: one event per audit event
        events = parse(batch.records[0].data, format="k8s-audit")
        assert [e.record["verb"] for e in events] == ["create", "get"]
        assert all("parse_error" not in e.record for e in events)
    assert source.requests_accepted == 2


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
async def test_a_push_without_the_token_is_refused(
    tmp_path: Path, token_file: Path, client: aiohttp.ClientSession, authorization: str | None
) -> None:
    emit = Collector()
    source = receiver(tmp_path, token_file)
    headers = {"Authorization": authorization} if authorization else {}
    async with serving(source, emit) as port:
        url = f"http://127.0.0.1:{port}/audit"
        async with client.post(url, data=EVENT_LIST, headers=headers) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert emit.batches == [] and source.requests_refused == 1


async def test_without_token_file_no_token_is_asked(
    tmp_path: Path, client: aiohttp.ClientSession
) -> None:
    emit = Collector()
    async with serving(receiver(tmp_path, None), emit) as port:
        r = await client.post(f"http://127.0.0.1:{port}/audit", data=EVENT_LIST)
        assert r.status == 200
        r.release()
    assert len(emit.batches) == 1


async def test_a_body_over_the_limit_is_refused(
    tmp_path: Path, token_file: Path, client: aiohttp.ClientSession
) -> None:
    emit = Collector()
    source = receiver(tmp_path, token_file, max_body_bytes=1024)
    assert len(EVENT_LIST) > 1024

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        for i in range(0, len(EVENT_LIST), 256):
            yield EVENT_LIST[i : i + 256]

    async with serving(source, emit) as port:
        url = f"http://127.0.0.1:{port}/audit"
        async with client.post(url, data=EVENT_LIST, headers=AUTH) as r:
            assert r.status == 413
        async with client.post(url, data=chunked(), headers=AUTH) as r:
            assert r.status == 413
        async with client.post(url, data=EVENT_LIST[:1000], headers=AUTH) as r:
            assert r.status == 200  # under the limit (what it holds is the parser's business)
    assert [b.records[0].data for b in emit.batches] == [EVENT_LIST[:1000]]


async def test_other_methods_paths_and_empty_bodies(
    tmp_path: Path, token_file: Path, client: aiohttp.ClientSession
) -> None:
    emit = Collector()
    async with serving(receiver(tmp_path, token_file), emit) as port:
        base = f"http://127.0.0.1:{port}"
        async with client.get(f"{base}/audit", headers=AUTH) as r:
            assert r.status == 405 and r.headers["Allow"] == "POST"
        async with client.post(f"{base}/other", data=EVENT_LIST, headers=AUTH) as r:
            assert r.status == 404
        async with client.post(f"{base}/audit", data=b" \n", headers=AUTH) as r:
            assert r.status == 400
    assert emit.batches == []


async def test_the_answer_waits_until_emit_returned(
    tmp_path: Path, token_file: Path, client: aiohttp.ClientSession
) -> None:
    """200 means "in the spool": while the spool is full, the sender waits for its answer."""
    emit = Collector()
    emit.gate.clear()
    async with serving(receiver(tmp_path, token_file), emit) as port:
        url = f"http://127.0.0.1:{port}/audit"
        post = asyncio.create_task(client.post(url, data=EVENT_LIST, headers=AUTH))
        await emit.wait_records(1)
        await asyncio.sleep(0.3)
        assert not post.done()  # the body is in emit, the answer is not given
        emit.gate.set()
        async with asyncio.timeout(2):
            r = await post
        assert r.status == 200
        r.release()


async def test_https_with_a_trusted_certificate(
    tmp_path: Path, token_file: Path, client: aiohttp.ClientSession
) -> None:
    certs = Certs(tmp_path)
    emit = Collector()
    source = receiver(tmp_path, token_file, tls=certs.tls())
    async with serving(source, emit) as port:
        url = f"https://127.0.0.1:{port}/audit"
        ssl_ctx = certs.client_context()
        async with client.post(url, data=EVENT_LIST, headers=AUTH, ssl=ssl_ctx) as r:
            assert r.status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await client.post(url, data=EVENT_LIST, headers=AUTH)  # the system CAs: unknown
    assert [b.records[0].data for b in emit.batches] == [EVENT_LIST]


async def test_bind_failure_names_source_and_address(tmp_path: Path, token_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        source = receiver(tmp_path, token_file)
        source.config = source.config.model_copy(update={"listen": f"127.0.0.1:{port}"})
        with pytest.raises(ListenError, match=rf"'k8s-audit'.*http 127\.0\.0\.1:{port}"):
            await source.run(Collector())
        assert not source.ready()
