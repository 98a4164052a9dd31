"""The token vault: stable tokens per namespace, encrypted values bound to their token, and
detokenisation that is permissioned, needs a reason, and is audited before anything returns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from leakwarden.audit.events import AuditEvent
from leakwarden.audit.ledger import AuditWriteError, Ledger
from leakwarden.protect.keys import KeyRing, MasterKey
from leakwarden.protect.registry import build_operator
from leakwarden.protect.vault import (
    RevealGrant,
    TokenOperator,
    TokenVault,
    VaultError,
    VaultPermissionError,
)
from leakwarden.store.protect_tables import VaultEntry

PHONE = "13812345678"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def ring(url: str) -> KeyRing:
    ring = KeyRing.open(url, MasterKey.generate())
    ring.create("vault")
    return ring


class RecordingLedger:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[AuditEvent] = []
        self.fail = fail

    def append(self, event: AuditEvent) -> object:
        if self.fail:
            raise AuditWriteError("disk full")
        self.events.append(event)
        return object()


def test_same_value_same_token_and_format(ring: KeyRing) -> None:
    vault = TokenVault(ring, namespace="crm")
    t1 = vault.tokenize(PHONE, "cn_mobile", "vault")
    assert re.fullmatch(r"tk_[A-Z2-7]{20}", t1)
    assert vault.tokenize(PHONE, "cn_mobile", "vault") == t1
    assert vault.tokenize_many([PHONE, "13900000000", PHONE], "cn_mobile", "vault")[::2] == [t1, t1]
    assert TokenVault(ring, namespace="other").tokenize(PHONE, "cn_mobile", "vault") != t1
    ring.rotate("vault")
    # a fresh vault object sees version 2 and still finds the version-1 token
    assert TokenVault(ring, namespace="crm").tokenize(PHONE, "cn_mobile", "vault") == t1
    assert vault.entries() == 2


def test_store_holds_no_clear_value(ring: KeyRing) -> None:
    vault = TokenVault(ring)
    vault.tokenize(PHONE, "cn_mobile", "vault")
    with ring.engine.connect() as conn:
        row = conn.execute(select(VaultEntry.__table__)).one()
    assert PHONE.encode() not in bytes(row.ciphertext)
    assert PHONE not in row.lookup and PHONE not in row.token


def test_shaped_tokens_keep_the_format(ring: KeyRing) -> None:
    vault = TokenVault(ring, shape=True)
    t = vault.tokenize("138-1234-5678", "cn_mobile", "vault")
    assert re.fullmatch(r"\d{3}-\d{4}-\d{4}", t)


def test_detokenize_is_permissioned_reasoned_and_audited(ring: KeyRing) -> None:
    ledger = RecordingLedger()
    vault = TokenVault(ring, ledger=ledger, reveal_allow={"alice"})
    token = vault.tokenize(PHONE, "cn_mobile", "vault")
    assert vault.detokenize(token, actor="alice", reason="ticket 42: callback") == PHONE
    ev = ledger.events[-1]
    assert (ev.action, ev.outcome, ev.actor, ev.rows) == ("vault.detokenize", "success", "alice", 1)
    assert PHONE not in ev.model_dump_json()
    with pytest.raises(VaultPermissionError, match="'mallory'"):
        vault.detokenize(token, actor="mallory", reason="curious")
    assert ledger.events[-1].outcome == "denied" and ledger.events[-1].actor == "mallory"
    with pytest.raises(VaultPermissionError, match="reason"):
        vault.detokenize(token, actor="alice", reason=" ")
    with pytest.raises(VaultError, match="not in vault"):
        vault.detokenize("tk_AAAAAAAAAAAAAAAAAAAA", actor="alice", reason="r")
    assert ledger.events[-1].outcome == "failure"


def test_fails_closed_when_the_audit_cannot_be_written(ring: KeyRing) -> None:
    vault = TokenVault(ring, ledger=RecordingLedger(fail=True), reveal_allow={"alice"})
    token = vault.tokenize(PHONE, "cn_mobile", "vault")
    with pytest.raises(VaultError, match="nothing released") as err:
        vault.detokenize(token, actor="alice", reason="r")
    assert PHONE not in str(err.value)
    with pytest.raises(VaultError, match="needs an audit ledger"):
        TokenVault(ring, reveal_allow={"alice"}).detokenize(token, actor="alice", reason="r")


def test_moved_ciphertext_does_not_decrypt(ring: KeyRing) -> None:
    vault = TokenVault(ring, ledger=RecordingLedger(), reveal_allow={"alice"})
    a, b = vault.tokenize_many(["v-one", "v-two"], None, "vault")
    t = VaultEntry.__table__
    with ring.engine.begin() as conn:
        blob = conn.execute(select(t.c.ciphertext).where(t.c.token == a)).scalar_one()
        conn.execute(update(VaultEntry).where(VaultEntry.token == b).values(ciphertext=blob))
    with pytest.raises(VaultError, match="does not authenticate"):
        vault.detokenize(b, actor="alice", reason="r")


def test_real_ledger_and_the_operator(ring: KeyRing, url: str) -> None:
    with Ledger.open(url) as ledger:
        vault = TokenVault(ring, ledger=ledger, reveal_allow={"ops"})
        op = build_operator("token:vault", vault=vault)
        assert isinstance(op, TokenOperator) and op.reversible
        token = op.apply(PHONE, "cn_mobile")
        with pytest.raises(VaultPermissionError, match="RevealGrant"):
            op.reverse(token, "cn_mobile")
        before = ledger.size()
        granted = op.with_grant(RevealGrant("ops", "customer asked for a callback"))
        assert granted.reverse(token, "cn_mobile") == PHONE
        assert ledger.size() == before + 1
        with pytest.raises(ValueError, match="'token:nokey'"):
            build_operator("token:nokey", vault=vault)


def test_key_ring_and_vault_on_each_backend(db_url: str) -> None:
    """SQLite and PostgreSQL (conftest's db_url): wrapped keys, JSON kdf, binary ciphertexts."""
    with KeyRing.open(
        db_url, MasterKey.from_passphrase("pw", time_cost=1, memory_cost=8, parallelism=1)
    ) as ring:
        ring.create("v")
        ring.rotate("v")
        vault = TokenVault(ring, ledger=RecordingLedger(), reveal_allow={"a"})
        token = vault.tokenize("张三", "person_name", "v")
        assert vault.tokenize_many(["张三"], "person_name", "v") == [token]
    pw = MasterKey.from_passphrase("pw", time_cost=1, memory_cost=8, parallelism=1)
    with KeyRing.open(db_url, pw) as ring:
        assert [i.version for i in ring.list()] == [1, 2]
        vault = TokenVault(ring, ledger=RecordingLedger(), reveal_allow={"a"})
        assert vault.detokenize(token, actor="a", reason="test") == "张三"
