"""Who is calling: API tokens (issued, hashed at rest, expiring, revocable) and OIDC/JWT bearer
tokens, both resolved to a :class:`~leakwarden.gateway.decision.Principal`.

API token format: ``lw_<token id>_<secret>``: the token id (12 hex digits) finds the row, the
secret is 32 random bytes (URL-safe base64).  The store keeps only SHA-256 of the whole token:
with 256 bits of entropy a fast hash is as safe as a slow one (nothing to guess), and it keeps
verification cheap on every request.  The token is shown once, at issue.

A token is bound either to an employee of the company database (``employees``: role,
department, region, manager -> the principal) or to a named service (kind ``service``, role
``service:<name>``, no department or region: the policies grant services only what names them).

Every refusal is :class:`AuthError` with a message saying what is wrong (unknown, expired,
revoked, bad signature, wrong issuer ...) and never echoing the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from leakwarden.gateway.decision import Principal

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

    from leakwarden.gateway.settings import JwtSettings

__all__ = [
    "AuthError",
    "IssuedToken",
    "JwtVerifier",
    "TokenInfo",
    "TokenStore",
    "load_principal",
    "parse_duration",
]

_TOKEN = re.compile(r"^lw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class AuthError(Exception):
    """The caller could not be identified (HTTP 401); the message says why."""


def parse_duration(text: str) -> timedelta:
    """``30m``, ``8h``, ``7d``, ``2w`` -> a timedelta; ValueError naming the text otherwise."""
    m = _DURATION.match(text)
    if m is None or int(m.group(1)) == 0:
        raise ValueError(f"duration {text!r}: use a positive number and s, m, h, d or w (8h)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is the only copy of the secret."""

    token: str
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    """What the store knows of a token (no secret, no hash)."""

    token_id: str
    employee_id: int | None
    service: str | None
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


class TokenStore:
    """API tokens in the store's ``gateway_tokens`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(
        self,
        *,
        employee_id: int | None = None,
        service: str | None = None,
        ttl: timedelta,
        label: str | None = None,
        now: datetime | None = None,
    ) -> IssuedToken:
        """A new token for an employee or a service (exactly one), valid for ``ttl``."""
        from sqlalchemy import insert

        from leakwarden.store.gateway_tables import GatewayToken

        if (employee_id is None) == (service is None):
            raise ValueError("a token is bound to exactly one of an employee or a service")
        if service is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", service):
            raise ValueError(f"service name {service!r}: letters, digits, _ . - (1-64)")
        if ttl <= timedelta(0):
            raise ValueError("a token must expire in the future")
        now = now or datetime.now(UTC)
        token_id = secrets.token_hex(6)
        token = f"lw_{token_id}_{secrets.token_urlsafe(32)}"
        expires = now + ttl
        with self.engine.begin() as conn:
            conn.execute(
                insert(GatewayToken).values(
                    token_id=token_id,
                    secret_hash=_hash(token),
                    employee_id=employee_id,
                    service=service,
                    label=label,
                    created_at=now,
                    expires_at=expires,
                    revoked_at=None,
                )
            )
        return IssuedToken(token=token, token_id=token_id, expires_at=expires)

    def verify(self, token: str, *, now: datetime | None = None) -> TokenInfo:
        """The token's binding; :class:`AuthError` if malformed, unknown, expired or revoked."""
        from leakwarden.gateway.rows import keyed_reader
        from leakwarden.store.gateway_tables import GatewayToken

        m = _TOKEN.match(token)
        if m is None:
            raise AuthError("malformed API token (expected lw_<id>_<secret>)")
        table = cast("Table", GatewayToken.__table__)
        row = keyed_reader(self.engine, table, "token_id").get(m.group(1))
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(token)):
            raise AuthError("unknown API token")
        info = _info(row)
        state = info.state(now)
        if state == "revoked":
            raise AuthError(f"API token {info.token_id} was revoked")
        if state == "expired":
            raise AuthError(
                f"API token {info.token_id} expired at {info.expires_at:%Y-%m-%dT%H:%MZ}"
            )
        return info

    def revoke(self, token_id: str, *, now: datetime | None = None) -> bool:
        """Revoke a token by id; False if there is no such (unrevoked) token."""
        from sqlalchemy import update

        from leakwarden.store.gateway_tables import GatewayToken

        with self.engine.begin() as conn:
            done = conn.execute(
                update(GatewayToken)
                .where(GatewayToken.token_id == token_id, GatewayToken.revoked_at.is_(None))
                .values(revoked_at=now or datetime.now(UTC))
            )
        return bool(done.rowcount)

    def list(self) -> list[TokenInfo]:
        from sqlalchemy import select

        from leakwarden.store.gateway_tables import GatewayToken

        t = GatewayToken.__table__
        with self.engine.connect() as conn:
            return [_info(r._mapping) for r in conn.execute(select(t).order_by(t.c.id))]


def _info(row: Mapping[Any, Any]) -> TokenInfo:
    return TokenInfo(
        token_id=row["token_id"],
        employee_id=row["employee_id"],
        service=row["service"],
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def load_principal(company: Engine, employee_id: int) -> Principal:
    """The principal of an employee of the company database; :class:`AuthError` if the employee
    does not exist or has left (``leave_date`` in the past)."""
    from leakwarden.demo.schema import employees
    from leakwarden.gateway.rows import keyed_reader

    row = keyed_reader(company, employees, "id").get(employee_id)
    if row is None:
        raise AuthError(f"employee {employee_id} does not exist")
    left = row["leave_date"]
    if left is not None and left <= datetime.now(UTC).date():
        raise AuthError(f"employee {employee_id} has left the company")
    return Principal.from_employee(row)


def service_principal(name: str) -> Principal:
    """The principal of a service token: its own identity, no department or region."""
    return Principal(
        person_id=f"service:{name}", role=f"service:{name}", department="", kind="service"
    )


class JwtVerifier:
    """Checks OIDC/JWT bearer tokens: signature (asymmetric algorithms only), ``iss``, ``aud``,
    ``exp`` (required) and ``nbf``; returns the employee id from the configured claim."""

    def __init__(self, settings: JwtSettings) -> None:
        import jwt

        self.settings = settings
        self._keys: dict[str | None, Any] = {}
        if settings.public_key_pem is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            try:
                self._keys[None] = load_pem_public_key(settings.public_key_pem.encode())
            except ValueError as exc:
                raise ValueError(f"JWT public key: not a PEM public key ({exc})") from None
        else:
            assert settings.jwks_path is not None
            try:
                data = json.loads(settings.jwks_path.read_text())
                jwks = jwt.PyJWKSet.from_dict(data)
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise ValueError(f"JWKS file {settings.jwks_path}: {exc}") from None
            for k in jwks.keys:
                self._keys[k.key_id] = k.key

    def employee_id(self, token: str) -> int:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed bearer token: {exc}") from None
        if None in self._keys:
            key = self._keys[None]
        else:
            kid = header.get("kid")
            if kid not in self._keys:
                raise AuthError(f"bearer token signed with unknown key id {kid!r}")
            key = self._keys[kid]
        s = self.settings
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(s.algorithms),
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("bearer token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"bearer token is not for audience {s.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise AuthError(f"bearer token is not from issuer {s.issuer!r}") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"bearer token refused: {exc}") from None
        raw = claims.get(s.employee_claim)
        try:
            return int(str(raw))
        except ValueError:
            raise AuthError(
                f"bearer token claim {s.employee_claim!r} is not an employee id"
            ) from None
