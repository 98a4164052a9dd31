"""The gateway service's settings: where the data and the store are, how callers prove who they
are, which purposes need a ticket, and the quota limits.

Built in code (tests, embedding) or from the environment (:meth:`GatewaySettings.from_env`, what
``leakwarden serve`` uses).  No secret is ever printed: :meth:`GatewaySettings.describe` redacts
URLs and leaves keys out.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_COMPANY_URL",
    "DEFAULT_PURPOSES",
    "GatewaySettings",
    "JwtSettings",
    "QuotaLimits",
]

#: The demo company built by ``leakwarden demo`` in the working folder.
DEFAULT_COMPANY_URL = "sqlite:///leakwarden-demo/company.db"

#: Purpose -> whether it needs a work ticket: work on one customer's case does (as the shipped
#: policies' ``base.ticket-required``); delivery (couriers print the waybills of their region),
#: billing and the aggregate purposes do not (the policies restrict what they see instead).  A
#: ticket given with any purpose is checked all the same.
DEFAULT_PURPOSES: Mapping[str, bool] = {
    "customer_service": True,
    "fraud_review": True,
    "security_investigation": True,
    "delivery": False,
    "billing": False,
    "marketing": False,
    "analytics": False,
}


@dataclass(frozen=True)
class QuotaLimits:
    """Distinct customers per person per rolling day / week (VIP customers on their own budget),
    rows per request, and bytes of released data per person per rolling day (the UTF-8 JSON of
    the records, label or rows a response carries: :func:`leakwarden.gateway.quota.payload_bytes`).

    The byte budget's default (2 MB) is far above what the customer budgets let one person see
    through the record endpoints (a customer record is ~0.5 kB), so it bites on the SQL path:
    rows that carry no customer (aggregates over many groups, catalogue-free tables) still count.
    """

    day: int = 50
    week: int = 200
    vip_day: int = 5
    vip_week: int = 20
    rows_per_request: int = 20
    bytes_per_day: int = 2_000_000

    def __post_init__(self) -> None:
        for name in ("day", "week", "vip_day", "vip_week", "rows_per_request", "bytes_per_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"quota {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class JwtSettings:
    """OIDC/JWT bearer tokens from the company's identity provider.

    Exactly one of ``public_key_pem`` (a PEM public key) or ``jwks_path`` (a JWKS JSON file; the
    token's ``kid`` picks the key).  Only asymmetric algorithms are accepted (RS256, ES256 by
    default): an HS256 token signed with the public key as secret is refused.  ``employee_claim``
    holds the employee id (``sub`` by default).
    """

    issuer: str
    audience: str
    public_key_pem: str | None = None
    jwks_path: Path | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    employee_claim: str = "sub"
    leeway_seconds: int = 30

    def __post_init__(self) -> None:
        if (self.public_key_pem is None) == (self.jwks_path is None):
            raise ValueError("JWT mode needs exactly one of a public key or a JWKS file")
        bad = [a for a in self.algorithms if not a.startswith(("RS", "ES", "PS", "EdDSA"))]
        if bad:
            raise ValueError(f"JWT algorithms {bad} refused: only asymmetric signatures")


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the service needs (see the module docstring).

    ``pseudonym_key``: the HMAC key for pseudonymised fields; None -> a random key per process
    (pseudonyms then change at every restart, which is safe but does not join across restarts;
    configure ``LEAKWARDEN_GATEWAY_PSEUDONYM_KEY`` (hex) for stable ones).
    """

    company_url: str = DEFAULT_COMPANY_URL
    store_url: str | None = None
    audit_url: str | None = None
    policy_dir: Path | None = None
    purposes: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_PURPOSES))
    quota: QuotaLimits = field(default_factory=QuotaLimits)
    jwt: JwtSettings | None = None
    pseudonym_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    pseudonym_key_configured: bool = False
    max_phone_matches: int = 5
    redis_url: str | None = None

    @classmethod
    def from_env(
        cls, *, company_url: str | None = None, store_url: str | None = None
    ) -> GatewaySettings:
        """Settings from ``LEAKWARDEN_GATEWAY_*`` variables (arguments win).

        ``..._COMPANY_URL``, ``..._AUDIT_URL``, ``..._POLICY_DIR``, ``..._PSEUDONYM_KEY`` (hex),
        ``..._QUOTA_DAY`` / ``_WEEK`` / ``_VIP_DAY`` / ``_VIP_WEEK`` / ``_ROWS`` / ``_BYTES_DAY``,
        ``..._REDIS_URL``
        (quotas in Redis, shared by several replicas), and for JWT mode
        ``..._JWT_ISSUER``, ``..._JWT_AUDIENCE``, ``..._JWT_PUBLIC_KEY`` (PEM file) or
        ``..._JWT_JWKS`` (JWKS file), ``..._JWT_CLAIM``.  ``ValueError`` names the bad variable.
        """
        env = os.environ
        p = "LEAKWARDEN_GATEWAY_"

        def num(name: str, default: int) -> int:
            raw = env.get(p + name, "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{p}{name}={raw!r}: not a whole number") from None

        d = QuotaLimits()
        quota = QuotaLimits(
            day=num("QUOTA_DAY", d.day),
            week=num("QUOTA_WEEK", d.week),
            vip_day=num("QUOTA_VIP_DAY", d.vip_day),
            vip_week=num("QUOTA_VIP_WEEK", d.vip_week),
            rows_per_request=num("QUOTA_ROWS", d.rows_per_request),
            bytes_per_day=num("QUOTA_BYTES_DAY", d.bytes_per_day),
        )
        jwt: JwtSettings | None = None
        issuer = env.get(p + "JWT_ISSUER", "").strip()
        if issuer:
            audience = env.get(p + "JWT_AUDIENCE", "").strip()
            if not audience:
                raise ValueError(f"{p}JWT_AUDIENCE must be set with {p}JWT_ISSUER")
            key_file = env.get(p + "JWT_PUBLIC_KEY", "").strip()
            jwks = env.get(p + "JWT_JWKS", "").strip()
            try:
                pem = Path(key_file).read_text() if key_file else None
            except OSError as exc:
                raise ValueError(f"{p}JWT_PUBLIC_KEY: cannot read {key_file}: {exc}") from None
            jwt = JwtSettings(
                issuer=issuer,
                audience=audience,
                public_key_pem=pem,
                jwks_path=Path(jwks) if jwks else None,
                employee_claim=env.get(p + "JWT_CLAIM", "").strip() or "sub",
            )
        key_hex = env.get(p + "PSEUDONYM_KEY", "").strip()
        key_kwargs: dict[str, object] = {}
        if key_hex:
            try:
                key = bytes.fromhex(key_hex)
            except ValueError:
                raise ValueError(f"{p}PSEUDONYM_KEY: not hexadecimal") from None
            if len(key) < 16:
                raise ValueError(f"{p}PSEUDONYM_KEY: at least 16 bytes (32 hex digits)")
            key_kwargs = {"pseudonym_key": key, "pseudonym_key_configured": True}
        policy_dir = env.get(p + "POLICY_DIR", "").strip()
        redis_url = env.get(p + "REDIS_URL", "").strip() or None
        return cls(
            company_url=company_url
            or env.get(p + "COMPANY_URL", "").strip()
            or DEFAULT_COMPANY_URL,
            store_url=store_url,
            audit_url=env.get(p + "AUDIT_URL", "").strip() or None,
            policy_dir=Path(policy_dir) if policy_dir else None,
            quota=quota,
            jwt=jwt,
            redis_url=redis_url,
            **key_kwargs,  # type: ignore[arg-type]
        )

    def describe(self) -> dict[str, str]:
        """What the service runs against, for people (URLs without passwords, no keys)."""
        from leakwarden.store.db import default_url, redact_url

        store = self.store_url or default_url()
        return {
            "company": redact_url(self.company_url),
            "store": redact_url(store),
            "audit": redact_url(self.audit_url or store),
            "auth": "API tokens" + (" + OIDC/JWT" if self.jwt else ""),
            "pseudonyms": "configured key" if self.pseudonym_key_configured else "per-process key",
            "quotas": "Redis " + redact_url(self.redis_url) if self.redis_url else "store ledger",
        }
