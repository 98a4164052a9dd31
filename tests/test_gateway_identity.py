"""Gateway identities: API tokens (hashed at rest, expiring, revocable), OIDC/JWT bearer tokens
(keys generated here), and the ``token`` command."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from typer.testing import CliRunner

from leakwarden.gateway.command import token_app
from leakwarden.gateway.identity import AuthError, JwtVerifier, TokenStore, parse_duration
from leakwarden.gateway.settings import JwtSettings
from leakwarden.store import db
from leakwarden.store.gateway_tables import GatewayToken

ISS = "https://sso.example.test/"
AUD = "leakwarden-gateway"


@pytest.fixture
def store(db_url: str) -> TokenStore:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    return TokenStore(engine)


def test_token_round_trip_stored_only_as_sha256(store: TokenStore) -> None:
    issued = store.issue(employee_id=17, ttl=timedelta(hours=8), label="desk 3")
    assert issued.token.startswith(f"lw_{issued.token_id}_")
    assert len(issued.token[len(f"lw_{issued.token_id}_") :]) == 43  # 32 random bytes, base64url
    info = store.verify(issued.token)
    assert info.employee_id == 17 and info.service is None and info.state() == "active"
    with store.engine.connect() as conn:
        row = conn.execute(select(GatewayToken.__table__)).one()
    assert row.secret_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in " ".join(str(v) for v in row)
    # a token with the right id and a wrong secret is refused
    forged = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    with pytest.raises(AuthError, match="unknown API token"):
        store.verify(forged)
    with pytest.raises(AuthError, match="malformed"):
        store.verify("lw_short")


def test_expiry_and_revocation(store: TokenStore) -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    issued = store.issue(service="billing-batch", ttl=timedelta(hours=1), now=now)
    assert store.verify(issued.token, now=now + timedelta(minutes=59)).service == "billing-batch"
    with pytest.raises(AuthError, match="expired at 2026-11-23T09:00Z"):
        store.verify(issued.token, now=now + timedelta(hours=1))
    assert store.revoke(issued.token_id)
    assert not store.revoke(issued.token_id)  # already revoked
    with pytest.raises(AuthError, match="revoked"):
        store.verify(issued.token, now=now)
    assert [i.state(now) for i in store.list()] == ["revoked"]


def test_issue_refuses_bad_bindings(store: TokenStore) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        store.issue(employee_id=1, service="x", ttl=timedelta(hours=1))
    with pytest.raises(ValueError, match="service name"):
        store.issue(service="bad name;", ttl=timedelta(hours=1))


def test_parse_duration() -> None:
    assert parse_duration("8h") == timedelta(hours=8)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2w") == timedelta(days=14)
    for bad in ("0h", "8", "h", "-1d", "1y"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


# ----------------------------------------------------------------------------- JWT


def _rsa() -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem.decode()


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "sub": "42", "iat": now, "exp": now + 600, **over}


def test_jwt_rs256_with_public_key() -> None:
    key, pem = _rsa()
    v = JwtVerifier(JwtSettings(issuer=ISS, audience=AUD, public_key_pem=pem))
    assert v.employee_id(jwt.encode(_claims(), key, algorithm="RS256")) == 42
    with pytest.raises(AuthError, match="audience"):
        v.employee_id(jwt.encode(_claims(aud="other"), key, algorithm="RS256"))
    with pytest.raises(AuthError, match="issuer"):
        v.employee_id(jwt.encode(_claims(iss="https://evil.test/"), key, algorithm="RS256"))
    with pytest.raises(AuthError, match="expired"):
        v.employee_id(jwt.encode(_claims(exp=int(time.time()) - 120), key, algorithm="RS256"))
    no_exp = _claims()
    del no_exp["exp"]
    with pytest.raises(AuthError, match="exp"):
        v.employee_id(jwt.encode(no_exp, key, algorithm="RS256"))
    other, _ = _rsa()
    with pytest.raises(AuthError, match="refused"):
        v.employee_id(jwt.encode(_claims(), other, algorithm="RS256"))
    # alg=none and the HS256-with-the-public-key confusion are refused
    with pytest.raises(AuthError):
        v.employee_id(jwt.encode(_claims(), None, algorithm="none"))
    import base64
    import hmac as _hmac

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(_claims()).encode())
    sig = b64(_hmac.digest(pem.encode(), f"{head}.{body}".encode(), "sha256"))
    with pytest.raises(AuthError):
        v.employee_id(f"{head}.{body}.{sig}")
    with pytest.raises(AuthError, match="not an employee id"):
        v.employee_id(jwt.encode(_claims(sub="alice"), key, algorithm="RS256"))


def test_jwt_es256_with_jwks_file_picks_key_by_kid(tmp_path: Path) -> None:
    k1 = ec.generate_private_key(ec.SECP256R1())
    k2 = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, k in (("k1", k1), ("k2", k2)):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "ES256"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    v = JwtVerifier(
        JwtSettings(issuer=ISS, audience=AUD, jwks_path=path, employee_claim="employee_id")
    )
    tok = jwt.encode(_claims(employee_id=7), k2, algorithm="ES256", headers={"kid": "k2"})
    assert v.employee_id(tok) == 7
    wrong = jwt.encode(_claims(employee_id=7), k1, algorithm="ES256", headers={"kid": "k2"})
    with pytest.raises(AuthError, match="refused"):
        v.employee_id(wrong)
    with pytest.raises(AuthError, match="unknown key id 'k9'"):
        v.employee_id(jwt.encode(_claims(), k1, algorithm="ES256", headers={"kid": "k9"}))


def test_jwt_settings_refuse_symmetric_algorithms() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        JwtSettings(issuer=ISS, audience=AUD, public_key_pem="x", algorithms=("HS256",))
    with pytest.raises(ValueError, match="exactly one"):
        JwtSettings(issuer=ISS, audience=AUD)


# ----------------------------------------------------------------------------- the command


def test_token_command_issue_list_revoke(tmp_path: Path) -> None:
    from leakwarden.demo.build import build_company

    company = f"sqlite:///{tmp_path}/company.db"
    build_company(company, customers=50, seed=1)
    store = f"sqlite:///{tmp_path}/store.db"
    run = CliRunner()
    args = ["--url", store, "--company-url", company]
    r = run.invoke(token_app, ["issue", "--employee", "3", "--expires", "8h", "--json", *args])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["token"].startswith(f"lw_{doc['token_id']}_") and doc["bound_to"] == "employee 3"
    expires = datetime.fromisoformat(doc["expires_at"])
    assert timedelta(hours=7, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=8)
    r = run.invoke(token_app, ["issue", "--employee", "99999", *args])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = run.invoke(token_app, ["issue", "--employee", "3", "--expires", "soon", *args])
    assert r.exit_code == 2 and "--expires" in r.output
    r = run.invoke(token_app, ["list", "--json", "--url", store])
    listed = json.loads(r.output)
    assert [x["state"] for x in listed] == ["active"] and doc["token"] not in r.output
    r = run.invoke(token_app, ["revoke", doc["token_id"], "--url", store])
    assert r.exit_code == 0
    r = run.invoke(token_app, ["list", "--json", "--url", store])
    assert json.loads(r.output)[0]["state"] == "revoked"


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from leakwarden.gateway.settings import DEFAULT_COMPANY_URL, GatewaySettings

    p = "LEAKWARDEN_GATEWAY_"
    s = GatewaySettings.from_env()
    assert s.company_url == DEFAULT_COMPANY_URL and s.jwt is None
    assert not s.pseudonym_key_configured and len(s.pseudonym_key) == 32
    _, pem = _rsa()
    (tmp_path / "idp.pem").write_text(pem)
    monkeypatch.setenv(p + "QUOTA_DAY", "12")
    monkeypatch.setenv(p + "JWT_ISSUER", ISS)
    monkeypatch.setenv(p + "JWT_AUDIENCE", AUD)
    monkeypatch.setenv(p + "JWT_PUBLIC_KEY", str(tmp_path / "idp.pem"))
    monkeypatch.setenv(p + "PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv(p + "COMPANY_URL", "postgresql://app:s3cret@db.example/crm")
    s = GatewaySettings.from_env()
    assert s.quota.day == 12 and s.quota.week == 200
    assert s.jwt is not None and s.jwt.issuer == ISS and s.jwt.public_key_pem == pem
    assert s.pseudonym_key == bytes([0xAB]) * 32 and s.pseudonym_key_configured
    shown = json.dumps(s.describe())
    assert "s3cret" not in shown and "abab" not in shown and "OIDC/JWT" in shown
    monkeypatch.setenv(p + "QUOTA_DAY", "many")
    with pytest.raises(ValueError, match="LEAKWARDEN_GATEWAY_QUOTA_DAY='many'"):
        GatewaySettings.from_env()
    monkeypatch.setenv(p + "QUOTA_DAY", "12")
    monkeypatch.setenv(p + "PSEUDONYM_KEY", "abcd")
    with pytest.raises(ValueError, match="PSEUDONYM_KEY: at least 16 bytes"):
        GatewaySettings.from_env()
