"""Access tokens: round trip, expiry against an explicit clock, forgeries, revocation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from soc.security.principal import Principal
from soc.security.roles import UserPrincipal
from soc.security.tokens import (
    LEEWAY,
    LIFETIME,
    MemoryRevocations,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    Tokens,
    derive_key,
)
from soc.settings import AuthSettings

SECRET = "a-long-random-secret-for-the-tests-only-0123456789"
T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
ANALYST = UserPrincipal(name="analyst.hoa", role="analyst", tenants=("hue-ioc", "hue-dof"))
RESPONDER = UserPrincipal(name="pctp.nam", role="responder", tenants=("hue-ioc",), unit="CAT-PCTP")


@pytest.fixture
def tokens() -> Tokens:
    return Tokens(SECRET)


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    return header, payload


def test_round_trip(tokens: Tokens) -> None:
    issued = tokens.issue(RESPONDER, now=T0)
    claims = tokens.verify(issued.token, now=T0)
    assert claims == issued.claims
    principal = tokens.principal(issued.token, now=T0 + timedelta(hours=1))
    assert principal == RESPONDER
    assert isinstance(principal, Principal)


def test_the_token_carries_the_documented_claims(tokens: Tokens) -> None:
    header, payload = parts(tokens.issue(ANALYST, now=T0).token)
    assert header["alg"] == "HS256"
    assert set(payload) == {"iss", "sub", "role", "tenants", "unit", "iat", "exp", "jti"}
    assert payload["iss"] == "soc"
    assert payload["sub"] == "analyst.hoa"
    assert payload["role"] == "analyst"
    assert payload["tenants"] == ["hue-ioc", "hue-dof"]
    assert payload["iat"] == T0.timestamp()
    assert payload["exp"] == T0.timestamp() + 8 * 3600
    assert tokens.issue(ANALYST, now=T0).claims.jti != tokens.issue(ANALYST, now=T0).claims.jti


def test_the_oauth2_response(tokens: Tokens) -> None:
    issued = tokens.issue(ANALYST, now=T0)
    response = issued.response(now=T0 + timedelta(minutes=1))
    assert response.model_dump() == {
        "access_token": issued.token,
        "token_type": "bearer",
        "expires_in": 8 * 3600 - 60,
    }


def test_expiry_with_leeway(tokens: Tokens) -> None:
    token = tokens.issue(ANALYST, now=T0).token
    end = T0 + LIFETIME
    tokens.verify(token, now=end - timedelta(seconds=1))
    tokens.verify(token, now=end + LEEWAY - timedelta(seconds=1))
    with pytest.raises(TokenExpired, match="expired"):
        tokens.verify(token, now=end + LEEWAY)


def test_a_token_from_the_future_is_refused(tokens: Tokens) -> None:
    token = tokens.issue(ANALYST, now=T0).token
    tokens.verify(token, now=T0 - LEEWAY)
    with pytest.raises(TokenInvalid, match="future"):
        tokens.verify(token, now=T0 - LEEWAY - timedelta(seconds=1))


def test_a_tampered_signature_is_refused(tokens: Tokens) -> None:
    token = tokens.issue(ANALYST, now=T0).token
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(TokenInvalid):
        tokens.verify(f"{head}.{body}.{flipped}", now=T0)


def test_a_changed_payload_is_refused(tokens: Tokens) -> None:
    token = tokens.issue(ANALYST, now=T0).token
    head, _, sig = token.split(".")
    _, payload = parts(token)
    forged = b64({**payload, "role": "lead", "tenants": ["*"]})
    with pytest.raises(TokenInvalid):
        tokens.verify(f"{head}.{forged}.{sig}", now=T0)


def test_another_secret_is_refused(tokens: Tokens) -> None:
    other = Tokens("another-secret-of-some-other-installation")
    with pytest.raises(TokenInvalid):
        tokens.verify(other.issue(ANALYST, now=T0).token, now=T0)


def test_the_none_algorithm_is_refused(tokens: Tokens) -> None:
    _, payload = parts(tokens.issue(ANALYST, now=T0).token)
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."
    with pytest.raises(TokenInvalid):
        tokens.verify(unsigned, now=T0)


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_another_hmac_algorithm_with_the_right_key_is_refused(tokens: Tokens) -> None:
    _, payload = parts(tokens.issue(ANALYST, now=T0).token)
    hs512 = jwt.encode(payload, derive_key(SECRET), algorithm="HS512")
    with pytest.raises(TokenInvalid):
        tokens.verify(hs512, now=T0)


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "someone-else"},
        {"jti": None},
        {"tenants": []},
        {"role": "ingest"},
        {"role": "root"},
        {"sub": ""},
    ],
)
def test_correctly_signed_but_wrong_claims_are_refused(
    tokens: Tokens, change: dict[str, object]
) -> None:
    _, payload = parts(tokens.issue(ANALYST, now=T0).token)
    payload.update(change)
    forged = jwt.encode(
        {k: v for k, v in payload.items() if v is not None}, derive_key(SECRET), algorithm="HS256"
    )
    with pytest.raises(TokenInvalid):
        tokens.verify(forged, now=T0)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 10_000])
def test_garbage_is_refused(tokens: Tokens, garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        tokens.verify(garbage, now=T0)


def test_a_revoked_token_is_refused_and_others_are_not(tokens: Tokens) -> None:
    first = tokens.issue(ANALYST, now=T0)
    second = tokens.issue(ANALYST, now=T0)
    tokens.revoke(first.claims)
    with pytest.raises(TokenRevoked):
        tokens.verify(first.token, now=T0)
    tokens.verify(second.token, now=T0)


def test_revoking_a_subject_ends_its_earlier_sessions_only(tokens: Tokens) -> None:
    before = tokens.issue(ANALYST, now=T0)
    other = tokens.issue(RESPONDER, now=T0)
    tokens.revocations.revoke_subject("analyst.hoa", before=T0 + timedelta(milliseconds=1))
    after = tokens.issue(ANALYST, now=T0 + timedelta(milliseconds=2))
    with pytest.raises(TokenRevoked):
        tokens.verify(before.token, now=T0)
    tokens.verify(after.token, now=T0)
    tokens.verify(other.token, now=T0)


def test_revocations_forget_what_can_no_longer_match() -> None:
    now = [T0]
    revocations = MemoryRevocations(clock=lambda: now[0])
    revocations.revoke("j" * 22, expires_at=T0 + LIFETIME)
    revocations.revoke_subject("analyst.hoa", before=T0)
    assert len(revocations) == 2
    now[0] = T0 + LIFETIME + LEEWAY + timedelta(seconds=1)
    revocations.revoke("k" * 22, expires_at=now[0] + LIFETIME)
    assert len(revocations) == 1


def test_no_session_tokens_for_ingest_keys(tokens: Tokens) -> None:
    key = Principal(name="connector-ioc-dc1", role="ingest", tenants=("hue-ioc",))
    with pytest.raises(ValueError, match="ingest"):
        tokens.issue(key)


def test_from_settings_uses_the_secret_key() -> None:
    auth = AuthSettings(secret_key=SecretStr(SECRET))
    token = Tokens.from_settings(auth).issue(ANALYST, now=T0).token
    assert Tokens(SECRET).verify(token, now=T0).sub == "analyst.hoa"


def test_tenant_scoping_through_the_tokens_principal(tokens: Tokens) -> None:
    analyst = tokens.principal(tokens.issue(ANALYST, now=T0).token, now=T0)
    assert analyst.scope() == ["hue-ioc", "hue-dof"]
    assert analyst.scope(["hue-dof"]) == ["hue-dof"]
    with pytest.raises(PermissionError):
        analyst.scope(["hue-doh"])
    lead = UserPrincipal(name="lead.minh", role="lead", tenants=("*",))
    assert tokens.principal(tokens.issue(lead, now=T0).token, now=T0).scope() is None
