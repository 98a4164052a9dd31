"""The token vault: random tokens stand in for values; the values live encrypted in the store.

Tokenising (``token:<key>``)
    ``tk_`` + 20 random base32 characters (100 bits from ``secrets``), e.g.
    ``tk_MZXW6YTBOI7QK2LNA4DE``; or with ``shape=True`` a token of the value's shape: every
    digit replaced by a random digit, every ASCII letter by a random letter of the same case,
    everything else kept (``138-1234-5678`` → ``472-9031-6655``), for columns whose consumers
    check formats (a shaped token can coincide with some real value; plain tokens cannot).
    The same value gets the same token within a vault *namespace*: the vault finds it by a
    keyed lookup hash, ``HMAC-SHA-256(lookup subkey, type || 0 || value)``, never by the clear
    value; every version of the key is tried, so rotation keeps existing tokens.
Storage (``protect_vault``)
    The value is encrypted with AES-256-GCM under the ``vault`` subkey of the named key's current
    version (envelope: the data key itself is wrapped by the master key, see ``protect.keys``),
    random 96-bit nonce stored first, associated data ``namespace|token|key|version|type`` so a
    ciphertext cannot be moved to another token.
Detokenising
    A separate method, :meth:`TokenVault.detokenize` (or ``detokenize_many``), that needs an
    actor, a reason and permission (the actor is in the vault's ``reveal_allow`` list), and
    records the reveal in the audit ledger *before* it returns anything; refusals are recorded
    too.  If the ledger cannot write, nothing is released (:class:`VaultError`).  Audit events
    hold the namespace, key, token count and a token fingerprint, never values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from leakwarden.protect.keys import KeyRing, check_key_name
from leakwarden.protect.operator import OperatorError

if TYPE_CHECKING:
    from leakwarden.audit.events import AuditEvent
    from leakwarden.audit.ledger import AppendReceipt

__all__ = [
    "AuditSink",
    "RevealGrant",
    "TokenOperator",
    "TokenVault",
    "VaultError",
    "VaultPermissionError",
]

TOKEN_PREFIX = "tk_"
_TOKEN_CHARS = 20
_NONCE = 12


class VaultError(Exception):
    """The vault cannot do what was asked (unknown token, audit not written, tampered row).
    Never contains a value."""


class VaultPermissionError(VaultError, PermissionError):
    """The actor may not detokenise, or gave no reason."""


class AuditSink(Protocol):
    """What the vault records reveals in: ``leakwarden.audit.ledger.Ledger`` fits."""

    def append(self, event: AuditEvent) -> AppendReceipt: ...


def _aad(namespace: str, token: str, key: str, version: int, type_id: str | None) -> bytes:
    return f"{namespace}|{token}|{key}|{version}|{type_id or ''}".encode()


def _random_token(value: str, shape: bool) -> str:
    if not shape:
        raw = secrets.token_bytes(15)  # 120 bits, 24 base32 characters, 20 kept (100 bits)
        return TOKEN_PREFIX + base64.b32encode(raw).decode("ascii")[:_TOKEN_CHARS]
    out = []
    for c in value:
        if "0" <= c <= "9":
            out.append(secrets.choice(string.digits))
        elif "a" <= c <= "z":
            out.append(secrets.choice(string.ascii_lowercase))
        elif "A" <= c <= "Z":
            out.append(secrets.choice(string.ascii_uppercase))
        else:
            out.append(c)
    return "".join(out)


@dataclass
class _KeyCache:
    current_version: int
    aead: dict[int, AESGCM] = field(default_factory=dict)
    lookups: list[bytes] = field(default_factory=list)  # lookup subkeys, every version


class TokenVault:
    """Tokens of one namespace in the key ring's store.

    ``ledger`` receives an :class:`~leakwarden.audit.events.AuditEvent` for every reveal and
    refusal; ``reveal_allow`` lists the actors that may detokenise (empty: nobody).
    """

    def __init__(
        self,
        keys: KeyRing,
        *,
        namespace: str = "default",
        ledger: AuditSink | None = None,
        reveal_allow: Collection[str] = (),
        shape: bool = False,
    ) -> None:
        check_key_name(namespace)
        self.keys = keys
        self.namespace = namespace
        self.ledger = ledger
        self.reveal_allow = frozenset(reveal_allow)
        self.shape = shape
        self._keys: dict[str, _KeyCache] = {}

    def __repr__(self) -> str:
        return f"TokenVault(namespace={self.namespace!r})"

    def operator(self, key_name: str) -> TokenOperator:
        """The ``token:<key>`` operator (creates nothing; the key must exist)."""
        self._key(key_name)
        return TokenOperator(self, key_name)

    # --- keys --------------------------------------------------------------------------------

    def _key(self, name: str) -> _KeyCache:
        cached = self._keys.get(name)
        if cached is None:
            current = self.keys.current(name)
            cached = _KeyCache(current.version)
            for v in range(1, current.version + 1):
                cached.lookups.append(self.keys.get(name, v).derive("vault-lookup"))
            self._keys[name] = cached
        return cached

    def _aead(self, name: str, version: int) -> AESGCM:
        cache = self._key(name)
        aead = cache.aead.get(version)
        if aead is None:
            aead = AESGCM(self.keys.get(name, version).derive("vault"))
            cache.aead[version] = aead
        return aead

    def _lookups(self, name: str, value: str, type_id: str | None) -> list[str]:
        msg = (type_id or "").encode() + b"\0" + value.encode("utf-8")
        return [
            hmac.new(k, msg, hashlib.sha256).hexdigest() for k in reversed(self._key(name).lookups)
        ]

    # --- tokenising --------------------------------------------------------------------------

    def tokenize(self, value: str, type_id: str | None, key_name: str) -> str:
        """The token of ``value`` (the existing one, or a new one stored now)."""
        return self.tokenize_many([value], type_id, key_name)[0]

    def tokenize_many(self, values: Sequence[str], type_id: str | None, key_name: str) -> list[str]:
        """Tokens of ``values`` in order; one query for the known ones, one transaction for the
        new ones."""
        from sqlalchemy import insert, select
        from sqlalchemy.exc import IntegrityError

        from leakwarden.store.protect_tables import VaultEntry

        if not values:
            return []
        t = VaultEntry.__table__
        lookups = {v: self._lookups(key_name, v, type_id) for v in dict.fromkeys(values)}
        wanted = [h for hs in lookups.values() for h in hs]
        found: dict[str, str] = {}
        with self.keys.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                rows = conn.execute(
                    select(t.c.lookup, t.c.token).where(
                        t.c.namespace == self.namespace, t.c.lookup.in_(wanted[i : i + 500])
                    )
                )
                found.update({r.lookup: r.token for r in rows})
        tokens: dict[str, str] = {}
        new_rows = []
        for value, hs in lookups.items():
            hit = next((found[h] for h in hs if h in found), None)
            if hit is not None:
                tokens[value] = hit
            else:
                row = self._new_row(value, type_id, key_name, hs[0])
                new_rows.append(row)
                tokens[value] = str(row["token"])
        if new_rows:
            try:
                with self.keys.engine.begin() as conn:
                    conn.execute(insert(VaultEntry), new_rows)
            except IntegrityError:
                # another writer stored one of these values, or a token collided: one by one
                for row in new_rows:
                    value = next(v for v, hs in lookups.items() if hs[0] == row["lookup"])
                    tokens[value] = self._store_one(value, type_id, key_name, lookups[value])
        return [tokens[v] for v in values]

    def _new_row(
        self, value: str, type_id: str | None, key_name: str, lookup: str
    ) -> dict[str, object]:
        version = self._key(key_name).current_version
        token = _random_token(value, self.shape)
        nonce = os.urandom(_NONCE)
        aad = _aad(self.namespace, token, key_name, version, type_id)
        return {
            "namespace": self.namespace,
            "token": token,
            "lookup": lookup,
            "type_id": type_id,
            "key_name": key_name,
            "key_version": version,
            "ciphertext": nonce
            + self._aead(key_name, version).encrypt(nonce, value.encode("utf-8"), aad),
            "created_at": datetime.now(UTC),
        }

    def _store_one(self, value: str, type_id: str | None, key_name: str, lookups: list[str]) -> str:
        from sqlalchemy import insert, select
        from sqlalchemy.exc import IntegrityError

        from leakwarden.store.protect_tables import VaultEntry

        t = VaultEntry.__table__
        for _attempt in range(5):
            with self.keys.engine.connect() as conn:
                hit = conn.execute(
                    select(t.c.token).where(
                        t.c.namespace == self.namespace, t.c.lookup.in_(lookups)
                    )
                ).first()
            if hit is not None:
                return str(hit.token)
            row = self._new_row(value, type_id, key_name, lookups[0])
            try:
                with self.keys.engine.begin() as conn:
                    conn.execute(insert(VaultEntry), [row])
                return str(row["token"])
            except IntegrityError:
                continue
        raise VaultError("could not store a token after 5 attempts (token collisions?)")

    # --- detokenising ------------------------------------------------------------------------

    def detokenize(
        self,
        token: str,
        *,
        actor: str,
        reason: str,
        purpose: str | None = None,
        ticket: str | None = None,
    ) -> str:
        """The value behind ``token``, for ``actor`` with ``reason`` (see the module docstring).

        :class:`VaultPermissionError` (recorded as denied) when the actor is not allowed or the
        reason is empty; :class:`VaultError` for an unknown token or when the reveal could not be
        recorded (nothing is released then)."""
        return self.detokenize_many(
            [token], actor=actor, reason=reason, purpose=purpose, ticket=ticket
        )[0]

    def detokenize_many(
        self,
        tokens: Sequence[str],
        *,
        actor: str,
        reason: str,
        purpose: str | None = None,
        ticket: str | None = None,
    ) -> list[str]:
        """Values behind ``tokens`` in order: one permission check and one audit event (with the
        count and a fingerprint of the tokens) for the batch."""
        from sqlalchemy import select

        from leakwarden.store.protect_tables import VaultEntry

        if self.ledger is None:
            raise VaultError("detokenising needs an audit ledger; none was given (fail closed)")
        fingerprint = hashlib.sha256("\n".join(tokens).encode()).hexdigest()[:32]
        if not reason or not reason.strip():
            self._record(actor, None, "denied", len(tokens), fingerprint, purpose, ticket)
            raise VaultPermissionError("detokenising needs a reason")
        if actor not in self.reveal_allow:
            self._record(actor, reason, "denied", len(tokens), fingerprint, purpose, ticket)
            raise VaultPermissionError(
                f"actor {actor!r} may not detokenise in vault namespace {self.namespace!r}"
            )
        t = VaultEntry.__table__
        rows: dict[str, tuple[str, int, str | None, bytes]] = {}
        unique = list(dict.fromkeys(tokens))
        with self.keys.engine.connect() as conn:
            for i in range(0, len(unique), 500):
                for r in conn.execute(
                    select(
                        t.c.token, t.c.key_name, t.c.key_version, t.c.type_id, t.c.ciphertext
                    ).where(t.c.namespace == self.namespace, t.c.token.in_(unique[i : i + 500]))
                ):
                    rows[r.token] = (r.key_name, r.key_version, r.type_id, bytes(r.ciphertext))
        missing = sum(1 for tok in unique if tok not in rows)
        if missing:
            self._record(actor, reason, "failure", len(tokens), fingerprint, purpose, ticket)
            raise VaultError(f"{missing} token(s) not in vault namespace {self.namespace!r}")
        values: dict[str, str] = {}
        for tok, (key_name, version, type_id, blob) in rows.items():
            aad = _aad(self.namespace, tok, key_name, version, type_id)
            try:
                plain = self._aead(key_name, version).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
            except InvalidTag:
                self._record(actor, reason, "failure", len(tokens), fingerprint, purpose, ticket)
                raise VaultError(
                    f"a vault entry does not authenticate (key {key_name!r} version {version}): "
                    "tampered or moved row"
                ) from None
            values[tok] = plain.decode("utf-8")
        # recorded before anything is returned; a failed write releases nothing
        self._record(actor, reason, "success", len(tokens), fingerprint, purpose, ticket)
        return [values[tok] for tok in tokens]

    def _record(
        self,
        actor: str,
        reason: str | None,
        outcome: str,
        count: int,
        fingerprint: str,
        purpose: str | None,
        ticket: str | None,
    ) -> None:
        from leakwarden.audit.events import AuditEvent

        assert self.ledger is not None
        try:
            event = AuditEvent(
                action="vault.detokenize",
                outcome=outcome,  # type: ignore[arg-type]
                actor=actor or "(none)",
                reason=reason,
                purpose=purpose,
                ticket=ticket,
                dataset=f"vault/{self.namespace}",
                rows=count,
                query_fingerprint=fingerprint,
                extra={"namespace": self.namespace, "tokens": str(count)},
            )
            self.ledger.append(event)
        except Exception as exc:  # AuditWriteError, or anything else: fail closed
            raise VaultError(
                f"the reveal could not be recorded in the audit ledger ({type(exc).__name__}); "
                "nothing released"
            ) from None

    def entries(self, key_name: str | None = None) -> int:
        """How many tokens the namespace holds (for one key, or all)."""
        from sqlalchemy import func, select

        from leakwarden.store.protect_tables import VaultEntry

        t = VaultEntry.__table__
        q = select(func.count()).select_from(t).where(t.c.namespace == self.namespace)
        if key_name:
            q = q.where(t.c.key_name == key_name)
        with self.keys.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())


@dataclass(frozen=True)
class RevealGrant:
    """Who reverses tokens through :class:`TokenOperator`, and why (checked and audited by the
    vault on every call)."""

    actor: str
    reason: str
    purpose: str | None = None
    ticket: str | None = None


class TokenOperator:
    """``token:<key>``: the vault token of a value.  ``reverse`` works only with a
    :class:`RevealGrant` (``with_grant``) and goes through the audited ``detokenize``."""

    reversible = True

    def __init__(self, vault: TokenVault, key_name: str, grant: RevealGrant | None = None) -> None:
        self.vault = vault
        self.key_name = key_name
        self.spec = f"token:{key_name}"
        self.grant = grant

    def __repr__(self) -> str:
        return f"TokenOperator({self.spec!r}, namespace={self.vault.namespace!r})"

    def with_grant(self, grant: RevealGrant) -> TokenOperator:
        return TokenOperator(self.vault, self.key_name, grant)

    def apply(self, value: str, type_id: str | None = None) -> str:
        if not value:
            raise OperatorError(f"{self.spec}: empty value is not tokenised")
        return self.vault.tokenize(value, type_id, self.key_name)

    def apply_many(self, values: Iterable[str], type_id: str | None = None) -> list[str]:
        return self.vault.tokenize_many(list(values), type_id, self.key_name)

    def reverse(self, protected: str, type_id: str | None = None) -> str:
        if self.grant is None:
            raise VaultPermissionError(
                f"{self.spec}: reversing tokens needs a RevealGrant (actor and reason)"
            )
        g = self.grant
        return self.vault.detokenize(
            protected, actor=g.actor, reason=g.reason, purpose=g.purpose, ticket=g.ticket
        )
