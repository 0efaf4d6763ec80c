"""The S3 source against a real (moto) S3 server: finding, reading, resuming, failing.

The CloudTrail records are the ConsoleLogin, CreateUser and StartInstances
examples of the AWS CloudTrail user guide (times and ids adjusted to each
file's key), laid out as CloudTrail delivers them:
``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_<id>.json.gz``.
Only the agent's side is faked: ``emit`` collects batches, and the test calls
``commit`` where the agent would once the destination has acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from connectors.config import S3Source as S3Config
from connectors.errors import Unreadable
from connectors.parse import frame_events, parse
from connectors.registry import Registry
from connectors.sources.base import Batch, SourceContext
from connectors.sources.s3 import S3Source
from connectors.sources.s3.inflate import inflate as _inflate

ACCOUNT = "123456789012"
INTERVAL_S = 0.05
SETTLE_S = 0.3  # several polls: time enough for anything wrongly sent again to show
LOG = logging.getLogger("tests.connectors.s3")


# --- CloudTrail files ----------------------------------------------------------------------


def console_login(when: str, account: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "EXAMPLE6E4XEGITWATV6R",
            "arn": f"arn:aws:iam::{account}:user/Alice",
            "accountId": account,
            "userName": "Alice",
        },
        "eventTime": when,
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.0",
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:102.0) Gecko/20100101",
        "requestParameters": None,
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "No",
        },
        "eventID": "e1bf1000-ddb3-4b2e-9c9b-EXAMPLE",
        "readOnly": False,
        "eventType": "AwsConsoleSignIn",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }


def create_user(when: str, account: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.0",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "EX_PRINCIPAL_ID",
            "arn": f"arn:aws:iam::{account}:user/Alice",
            "accountId": account,
            "accessKeyId": "EXAMPLE_KEY_ID",
            "userName": "Alice",
        },
        "eventTime": when,
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "127.0.0.1",
        "userAgent": "aws-cli/1.3.2 Python/2.7.5 Windows/7",
        "requestParameters": {"userName": "Bob"},
        "responseElements": {
            "user": {
                "createDate": "Mar 24, 2014 9:11:59 PM",
                "userName": "Bob",
                "arn": f"arn:aws:iam::{account}:user/Bob",
                "path": "/",
                "userId": "EXAMPLEUSERID",
            }
        },
        "recipientAccountId": account,
    }


def start_instances(when: str, account: str, region: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.0",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "EX_PRINCIPAL_ID",
            "arn": f"arn:aws:iam::{account}:user/Alice",
            "accessKeyId": "EXAMPLE_KEY_ID",
            "accountId": account,
            "userName": "Alice",
        },
        "eventTime": when,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "StartInstances",
        "awsRegion": region,
        "sourceIPAddress": "205.251.233.176",
        "userAgent": "ec2-api-tools 1.6.12.2",
        "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-ebeaf9e2"}]}},
        "responseElements": {"instancesSet": {"items": [{"instanceId": "i-ebeaf9e2"}]}},
        "recipientAccountId": account,
    }


def trail_file(
    day: str, minute: int = 0, *, region: str = "us-east-1", account: str = ACCOUNT, ext: str = "gz"
) -> tuple[str, bytes]:
    """A CloudTrail log file delivered on ``day`` (``YYYY/MM/DD``): its key and its JSON."""
    when = f"{day.replace('/', '-')}T21:{minute:02d}:00Z"
    records = [
        console_login(when, account),
        create_user(when, account),
        start_instances(when, account, region),
    ]
    stamp = f"{day.replace('/', '')}T21{minute:02d}Z"
    name = f"{account}_CloudTrail_{region}_{stamp}_{minute:04d}EXAMPLEa1b2.json"
    key = f"AWSLogs/{account}/CloudTrail/{region}/{day}/{name}" + (".gz" if ext == "gz" else "")
    return key, json.dumps({"Records": records}).encode()


# --- the server, a bucket, the source ----------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment (boto3's chain), and nothing else to find."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "SOC_CONNECTOR_ALLOW_READABLE_SECRETS"):
        monkeypatch.delenv(var, raising=False)


class Bucket:
    def __init__(self, url: str, name: str | None = None) -> None:
        self.name = name or f"trail-{uuid.uuid4().hex[:12]}"
        self.client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        if name is None:
            self.client.create_bucket(Bucket=self.name)

    def put(self, key: str, data: bytes, *, gz: bool | None = None) -> None:
        body = gzip.compress(data) if (key.endswith(".gz") if gz is None else gz) else data
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def put_trail(self, day: str, minute: int = 0, **kw: Any) -> tuple[str, bytes]:
        key, data = trail_file(day, minute, **kw)
        self.put(key, data)
        return key, data


@pytest.fixture
def bucket(moto_url: str) -> Bucket:
    return Bucket(moto_url)


MakeSource = Callable[..., S3Source]


@pytest.fixture
def make_source(moto_url: str, bucket: Bucket, tmp_path: Path) -> MakeSource:
    registry = Registry(tmp_path / "registry")

    def make(lookback_days: int = 2, max_object_bytes: int = 256 << 20, **cfg: Any) -> S3Source:
        config = S3Config.model_validate(
            {
                "type": "s3",
                "name": "trail",
                "bucket": bucket.name,
                "endpoint_url": moto_url,
                "interval_s": INTERVAL_S,
                **cfg,
            }
        )
        ctx = SourceContext(connector="test-agent", run_id="r1", registry=registry, log=LOG)
        return S3Source(
            config,
            ctx,
            lookback_days=lookback_days,
            max_object_bytes=max_object_bytes,
            retry_base_s=0.01,
        )

    return make


class Sink:
    """The agent's side of ``emit``: collects batches; commits on request."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)

    @property
    def keys(self) -> list[str]:
        return [b.stream.split("/", 3)[3] for b in self.batches]

    async def wait(self, n: int) -> None:
        await until(lambda: len(self.batches) >= n, f"{n} batches (got {self.keys})")

    async def commit(self, source: S3Source, batches: list[Batch]) -> None:
        for b in batches:
            await source.commit(b.stream, b.checkpoint)


@contextlib.asynccontextmanager
async def running(source: S3Source, sink: Sink) -> AsyncIterator[None]:
    task = asyncio.create_task(source.run(sink))
    try:
        yield
    finally:
        assert not task.done(), task  # run() never ends by itself
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(5):
            while not check():  # noqa: ASYNC110 (log records and a server: nothing to await)
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def poll_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.error for r in caplog.records if r.message == "s3 poll failed"]  # type: ignore[attr-defined]


# --- finding and reading ------------------------------------------------------------------


async def test_reads_gzip_and_plain_objects(bucket: Bucket, make_source: MakeSource) -> None:
    gz_key, gz_data = bucket.put_trail("2024/03/05", 5)
    plain_key, plain_data = trail_file("2024/03/05", 10, region="us-west-2", ext="json")
    bucket.put(plain_key, plain_data)
    # Not logs: a digest file and a folder marker.
    digest = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2024/03/05/{ACCOUNT}_digest.json.gz"
    bucket.put(digest, b'{"awsAccountId": "123456789012", "logFiles": []}')
    bucket.put(f"AWSLogs/{ACCOUNT}/CloudTrail/", b"")

    source, sink = make_source(), Sink()
    assert not source.ready()
    async with running(source, sink):
        await sink.wait(2)
        await asyncio.sleep(SETTLE_S)
        assert source.ready()

    assert sink.keys == [gz_key, plain_key]
    for batch, data in zip(sink.batches, (gz_data, plain_data), strict=True):
        assert (batch.source, batch.kind, batch.first_seq) == ("trail", "document", 0)
        assert batch.stream == f"s3://{bucket.name}/{sink.keys[sink.batches.index(batch)]}"
        [record] = batch.records
        assert (record.data, record.error) == (data, None)
        events = parse(record.data, format="cloudtrail")
        assert [e.record["eventName"] for e in events] == [
            "ConsoleLogin",
            "CreateUser",
            "StartInstances",
        ]


async def test_new_objects_are_found_on_the_next_poll(
    bucket: Bucket, make_source: MakeSource
) -> None:
    first, _ = bucket.put_trail("2024/03/05", 5)
    source, sink = make_source(), Sink()
    async with running(source, sink):
        await sink.wait(1)
        second, _ = bucket.put_trail("2024/03/05", 10)
        third, _ = bucket.put_trail("2024/03/06", 0)
        await sink.wait(3)
        await asyncio.sleep(SETTLE_S)
    assert sink.keys == [first, second, third]


async def test_late_and_out_of_order_keys_are_found(
    bucket: Bucket, make_source: MakeSource
) -> None:
    newest, _ = bucket.put_trail("2024/03/06", 30)
    source, sink = make_source(), Sink()
    async with running(source, sink):
        await sink.wait(1)
        await asyncio.sleep(SETTLE_S)  # the window has moved past all of these
        late = [
            bucket.put_trail("2024/03/06", 10)[0],  # same folder, sorts before `newest`
            bucket.put_trail("2024/03/05", 55)[0],  # the day before, delivered late
            bucket.put_trail("2024/03/06", 20, region="ap-south-1")[0],  # a region before
            bucket.put_trail("2024/03/06", 25, account="111111111111")[0],  # an account before
        ]
        await sink.wait(5)
        await asyncio.sleep(SETTLE_S)
    assert sink.keys[0] == newest
    assert sorted(sink.keys[1:]) == sorted(late)


# --- resuming -------------------------------------------------------------------------------


async def test_restart_after_commit_does_not_send_again(
    bucket: Bucket, make_source: MakeSource, tmp_path: Path
) -> None:
    days = [f"2024/03/0{d}" for d in range(1, 7)]
    for day in days:
        bucket.put_trail(day)
    bucket.put_trail("2024/03/06", region="eu-west-1")
    source, sink = make_source(lookback_days=2), Sink()
    async with running(source, sink):
        await sink.wait(7)
    await sink.commit(source, sink.batches)

    # Only the window is kept: the newest day and the two before it, per folder.
    state = json.loads((tmp_path / "registry/trail.json").read_text())
    us_east = state["dated"][f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/"]
    assert us_east["newest"] == "2024/03/06"
    assert sorted(n[:10] for n in us_east["done"]) == ["2024/03/04", "2024/03/05", "2024/03/06"]
    assert len(state["dated"][f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/"]["done"]) == 1

    restarted, sink2 = make_source(lookback_days=2), Sink()
    new, _ = bucket.put_trail("2024/03/07", 0)
    async with running(restarted, sink2):
        await sink2.wait(1)
        late, _ = bucket.put_trail("2024/03/05", 59)  # late, but inside the window
        await sink2.wait(2)
        await asyncio.sleep(SETTLE_S)
    assert sink2.keys == [new, late]


async def test_restart_without_commit_sends_again(bucket: Bucket, make_source: MakeSource) -> None:
    first, _ = bucket.put_trail("2024/03/05", 5)
    second, second_data = bucket.put_trail("2024/03/05", 10)
    source, sink = make_source(), Sink()
    async with running(source, sink):
        await sink.wait(2)
        await asyncio.sleep(SETTLE_S)
    assert sink.keys == [first, second]  # sent once, though never acknowledged
    await sink.commit(source, sink.batches[:1])  # the destination acknowledged the first only

    restarted, sink2 = make_source(), Sink()
    async with running(restarted, sink2):
        await sink2.wait(1)
        await asyncio.sleep(SETTLE_S)
    assert sink2.keys == [second]
    [again] = sink2.batches
    assert (again.stream, again.first_seq) == (sink.batches[1].stream, 0)
    assert again.records[0].data == second_data


# --- objects that cannot be read ---------------------------------------------------------


async def test_unreadable_objects_are_shipped_as_error_records(
    bucket: Bucket, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    good, _ = bucket.put_trail("2024/03/05", 0)
    cut_key, data = trail_file("2024/03/05", 10)
    bucket.put(cut_key, gzip.compress(data)[:-40], gz=False)  # cut off
    bad_crc_key, data = trail_file("2024/03/05", 20)
    body = bytearray(gzip.compress(data))
    body[-6] ^= 0xFF  # the CRC-32 in the trailer
    bucket.put(bad_crc_key, bytes(body), gz=False)
    not_gz_key, data = trail_file("2024/03/05", 30)
    bucket.put(not_gz_key, data, gz=False)  # named .gz, plain JSON

    source, sink = make_source(), Sink()
    async with running(source, sink):
        await sink.wait(4)
        await asyncio.sleep(SETTLE_S)
        assert source.ready()  # the endpoint is fine; only objects are broken
    assert sink.keys == [good, cut_key, bad_crc_key, not_gz_key]
    assert sink.batches[0].records[0].error is None

    for batch, why in zip(
        sink.batches[1:],
        (b"gzip data cut off", b"bad gzip data", b"without the gzip magic"),
        strict=True,
    ):
        [record] = batch.records
        assert record.error == "truncated" and record.size > 0
        assert b"\n" not in record.data and why in record.data
        assert batch.stream.encode() in record.data
        # However the agent parses it, it is one error event naming the object.
        [as_frame] = frame_events(record, format="cloudtrail")
        assert as_frame.record["parse_error"] == "truncated"
        assert batch.stream in as_frame.record["message"]
        [as_document] = parse(record.data, format="cloudtrail")
        assert as_document.record["parse_error"] == "not_json"
        assert batch.checkpoint is not None  # committed like any object: shipped, not lost

    logged = [r for r in caplog.records if r.message == "s3 object shipped as an error record"]
    assert [r.levelno for r in logged] == [logging.ERROR] * 3


async def test_object_over_the_size_limit_is_an_error_record(
    bucket: Bucket, make_source: MakeSource
) -> None:
    small_key, small_data = trail_file("2024/03/05", 0, ext="json")
    bucket.put(small_key, small_data)
    big_key, _ = trail_file("2024/03/05", 10)
    records = [create_user(f"2024-03-05T21:{m:02d}:00Z", ACCOUNT) for m in range(60)]
    big = json.dumps({"Records": records})
    bucket.put(big_key, big.encode())

    source, sink = make_source(max_object_bytes=len(small_data) + 100), Sink()
    async with running(source, sink):
        await sink.wait(2)
    assert sink.keys == [small_key, big_key]
    assert sink.batches[0].records[0].data == small_data
    [record] = sink.batches[1].records
    assert record.error == "too_large" and record.size > len(small_data) + 100
    assert b"over " in record.data and big_key.encode() in record.data


def test_gzip_members_padding_and_limit() -> None:
    """Concatenated gzip members (and zero padding) are read whole; the limit spans them."""
    _, data = trail_file("2024/03/05")
    half = len(data) // 2
    body = gzip.compress(data[:half]) + b"\0" * 8 + gzip.compress(data[half:])
    for size in (1, 7, len(body)):  # any chunk boundaries
        chunks = iter([body[i : i + size] for i in range(0, len(body), size)])
        assert _inflate(chunks, gz_name=True, limit=len(data)) == data
    with pytest.raises(Unreadable) as e:
        _inflate(iter([body]), gz_name=True, limit=len(data) - 1)
    assert e.value.error == "too_large" and e.value.head == data[:4096]


# --- the endpoint and the credentials -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_endpoint_down_at_start_then_up(
    bucket: Bucket, make_source: MakeSource, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    source, sink = make_source(endpoint_url=url), Sink()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    async with running(source, sink):
        await until(lambda: bool(poll_errors(caplog)), "a failed poll")
        await asyncio.sleep(SETTLE_S)
        assert not source.ready() and sink.batches == []
        failed = poll_errors(caplog)
        assert len(failed) >= 2  # retried, not given up
        assert "EndpointConnectionError" in failed[0]

        server.start()  # moto keeps its buckets per process: the same bucket, now reachable
        try:
            key, _ = Bucket(url, name=bucket.name).put_trail("2024/03/05")
            await sink.wait(1)
            assert source.ready()
        finally:
            server.stop()
    assert sink.keys == [key]


async def test_credentials_from_files(
    bucket: Bucket,
    make_source: MakeSource,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key, _ = bucket.put_trail("2024/03/05")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    # Without the files boto3's chain finds nothing, so the source can read nothing.
    source, sink = make_source(), Sink()
    async with running(source, sink):
        await until(lambda: bool(poll_errors(caplog)), "a failed poll")
        assert not source.ready() and sink.batches == []
    assert "Unable to locate credentials" in poll_errors(caplog)[-1]

    key_id, secret = tmp_path / "s3-key-id", tmp_path / "s3-secret"
    key_id.write_text("AKIAIOSFODNN7EXAMPLE\n")
    secret.write_text("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    key_id.chmod(0o600)
    secret.chmod(0o644)  # readable by others: refused
    files = {"access_key_id_file": str(key_id), "secret_access_key_file": str(secret)}
    caplog.clear()
    source, sink = make_source(**files), Sink()
    async with running(source, sink):
        await until(lambda: bool(poll_errors(caplog)), "a failed poll")
        assert not source.ready() and sink.batches == []
        assert "chmod 600" in poll_errors(caplog)[-1]
        secret.chmod(0o600)  # fixed while running: the next poll reads it
        await sink.wait(1)
        assert source.ready()
    assert sink.keys == [key]
