"""The key ring: wrapping, versions, rotation, master keys from passphrase/file/env, and no key
material in any repr, str or error message."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leakwarden.protect.keys import DataKey, KeyRing, KeyRingError, MasterKey
from leakwarden.protect.pseudonym import normalize_for_mac
from leakwarden.protect.registry import build_operator

# cheap argon2id costs for tests (the defaults take ~0.1 s and 64 MiB)
FAST = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def _secret_forms(material: bytes) -> list[str]:
    return [material.hex(), base64.b64encode(material).decode(), repr(material)]


def test_create_rotate_and_read_old_versions(url: str) -> None:
    master = MasterKey.generate()
    with KeyRing.open(url, master) as ring:
        k1 = ring.create("customers")
        assert (k1.name, k1.version) == ("customers", 1)
        k2 = ring.rotate("customers")
        assert k2.version == 2
        assert ring.current("customers").version == 2
        old_sub = k1.derive("hmac")
    with KeyRing.open(url, master) as ring:  # a fresh process: keys come from the store
        assert ring.get("customers", 1).derive("hmac") == old_sub
        assert ring.get("customers", 2).derive("hmac") != old_sub
        infos = ring.list()
        assert [(i.name, i.version, i.current) for i in infos] == [
            ("customers", 1, False),
            ("customers", 2, True),
        ]
        with pytest.raises(KeyRingError, match="exists"):
            ring.create("customers")
        with pytest.raises(KeyRingError, match="no key named 'nope'"):
            ring.rotate("nope")
        with pytest.raises(KeyRingError, match="version 7"):
            ring.get("customers", 7)
        with pytest.raises(KeyRingError, match="not valid"):
            ring.create("bad name!")


def test_subkeys_differ_per_purpose(url: str) -> None:
    with KeyRing.open(url, MasterKey.generate()) as ring:
        k = ring.create("k")
        assert len({k.derive("hmac"), k.derive("ff1"), k.derive("vault")}) == 3


def test_wrong_master_key_is_refused(url: str) -> None:
    with KeyRing.open(url, MasterKey.generate()) as ring:
        ring.create("k")
    with pytest.raises(KeyRingError, match="does not open this key ring"):
        KeyRing.open(url, MasterKey.generate())


def test_passphrase_salt_is_stored_and_reused(url: str) -> None:
    with KeyRing.open(url, MasterKey.from_passphrase("correct horse", **FAST)) as ring:
        sub = ring.create("k").derive("x")
    with KeyRing.open(url, MasterKey.from_passphrase("correct horse", **FAST)) as ring:
        assert ring.current("k").derive("x") == sub
    with pytest.raises(KeyRingError, match="wrong passphrase"):
        KeyRing.open(url, MasterKey.from_passphrase("wrong horse", **FAST))


def test_tampered_wrapped_key_does_not_unwrap(url: str) -> None:
    from sqlalchemy import update

    from leakwarden.store.protect_tables import ProtectKey

    with KeyRing.open(url, MasterKey.generate()) as ring:
        ring.create("a")
        ring.create("b")
        with ring.engine.begin() as conn:  # move a's wrapped key onto b: the AAD binds the name
            wrapped = (
                conn.execute(ProtectKey.__table__.select().where(ProtectKey.name == "a"))
                .one()
                .wrapped
            )
            conn.execute(update(ProtectKey).where(ProtectKey.name == "b").values(wrapped=wrapped))
        ring._cache.clear()
        with pytest.raises(KeyRingError, match="'b' version 1 does not unwrap"):
            ring.current("b")


def test_master_key_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "master.key"
    made = MasterKey.write_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert MasterKey.from_file(path).fingerprint() == made.fingerprint()
    with pytest.raises(KeyRingError, match="exists"):
        MasterKey.write_file(path)
    path.chmod(0o644)
    with pytest.raises(KeyRingError, match="readable by group or others"):
        MasterKey.from_file(path)
    text = path.read_text().strip()
    monkeypatch.setenv("LW_TEST_MASTER", text)
    assert MasterKey.from_env("LW_TEST_MASTER").fingerprint() == made.fingerprint()
    monkeypatch.setenv("LW_TEST_MASTER", "c2hvcnQ=")  # base64 of b"short"
    with pytest.raises(KeyRingError) as err:
        MasterKey.from_env("LW_TEST_MASTER")
    assert "LW_TEST_MASTER" in str(err.value) and "c2hvcnQ" not in str(err.value)
    monkeypatch.delenv("LW_TEST_MASTER")
    with pytest.raises(KeyRingError, match="LW_TEST_MASTER is not set"):
        MasterKey.from_env("LW_TEST_MASTER")


def test_no_key_material_in_reprs_or_errors(url: str) -> None:
    raw = os.urandom(32)
    master = MasterKey(raw)
    material = os.urandom(32)
    key = DataKey("k", 3, material)
    texts = [repr(master), str(master), repr(key), str(key)]
    pw = MasterKey.from_passphrase("hunter2-secret", **FAST)
    texts += [repr(pw), str(pw)]
    with KeyRing.open(url, master) as ring:
        texts.append(repr(ring))
        texts += [repr(i) for i in (ring.create("k"), *ring.list())]
        op = build_operator("hmac:k", keys=ring)
        texts.append(repr(op))
    try:
        MasterKey(b"\x01" * 31)
    except KeyRingError as exc:
        texts.append(str(exc))
    blob = "\n".join(texts)
    for secret in (*_secret_forms(raw), *_secret_forms(material), "hunter2-secret"):
        assert secret not in blob
    assert "version=3" in repr(key)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(key)


def test_hmac_pseudonym_format_and_stability(url: str) -> None:
    with KeyRing.open(url, MasterKey.generate()) as ring:
        key = ring.create("customers")
        op = build_operator("hmac:customers", keys=ring)
        p = op.apply("13812345678", "cn_mobile")
        # recompute by hand: HMAC-SHA-256 under the "hmac" subkey, base32, 26 characters
        mac = hmac.new(key.derive("hmac"), b"13812345678", hashlib.sha256).digest()
        assert p == "cn_mobile:1:" + base64.b32encode(mac).decode()[:26]
        assert op.apply("138 1234 5678", "cn_mobile") == p  # spellings of one number join
        assert build_operator("hmac:customers", keys=ring).apply("13812345678", "cn_mobile") == p
        ring.rotate("customers")
        p2 = build_operator("hmac:customers", keys=ring).apply("13812345678", "cn_mobile")
        assert p2.startswith("cn_mobile:2:") and p2 != p
        with pytest.raises(ValueError, match="'hmac:missing'"):
            build_operator("hmac:missing", keys=ring)


@given(st.binary(min_size=32, max_size=32), st.text(max_size=30))
def test_pseudonym_text_is_rfc4648_base32_of_the_mac(key: bytes, value: str) -> None:
    from leakwarden.protect.pseudonym import pseudonym

    mac = hmac.new(key, normalize_for_mac(value, None).encode(), hashlib.sha256).digest()
    assert pseudonym(key, 3, value, None) == "value:3:" + base64.b32encode(mac).decode()[:26]


def test_normalisation() -> None:
    assert normalize_for_mac("11010519491231002x", "cn_resident_id") == "11010519491231002X"
    assert normalize_for_mac(" Zhang@Example.COM ", "email") == "zhang@example.com"


def test_keys_cli(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from leakwarden.protect.keys_command import keys_app

    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    key_file = tmp_path / "master.key"
    r = runner.invoke(keys_app, ["master-file", str(key_file)])
    assert r.exit_code == 0, r.output
    secret = key_file.read_text().strip()
    common = ["--db", db, "--master-file", str(key_file)]
    assert runner.invoke(keys_app, ["create", "customers", *common]).exit_code == 0
    r = runner.invoke(keys_app, ["rotate", "customers", *common])
    assert r.exit_code == 0 and "version 2" in r.output
    r = runner.invoke(keys_app, ["list", "--json", *common])
    assert r.exit_code == 0
    rows = json.loads(r.output)
    assert [(x["name"], x["version"], x["current"]) for x in rows] == [
        ("customers", 1, False),
        ("customers", 2, True),
    ]
    r = runner.invoke(keys_app, ["list", *common])
    assert "customers" in r.output and secret not in r.output
    r = runner.invoke(keys_app, ["rotate", "nope", *common])
    assert r.exit_code == 2 and "no key named 'nope'" in r.output
    other = tmp_path / "other.key"
    MasterKey.write_file(other)
    r = runner.invoke(keys_app, ["list", "--db", db, "--master-file", str(other)])
    assert r.exit_code == 2 and "does not open this key ring" in r.output
    assert secret not in r.output


class FakeKms:
    """A stand-in for a KMS/HSM adapter: the master key never leaves this object."""

    source = "kms test-key"

    def __init__(self) -> None:
        self._inner = MasterKey.generate()
        self.calls = 0

    def fingerprint(self) -> str:
        return "kms:test-key"

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        self.calls += 1
        return self._inner.wrap(data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        self.calls += 1
        return self._inner.unwrap(wrapped, aad)


def test_a_kms_plugs_in_as_master_key_provider(url: str) -> None:
    from leakwarden.protect.keys import MasterKeyProvider

    kms = FakeKms()
    assert isinstance(kms, MasterKeyProvider)
    with KeyRing.open(url, kms) as ring:
        sub = ring.create("k").derive("x")
    with KeyRing.open(url, kms) as ring:
        assert ring.current("k").derive("x") == sub
        assert ring.list()[0].master == "kms:test-key"
    assert kms.calls == 2  # one wrap, one unwrap


def test_keys_cli_prompts_twice_for_a_new_ring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from leakwarden.protect.keys_command import MASTER_ENV, keys_app

    monkeypatch.delenv(MASTER_ENV, raising=False)
    original = MasterKey.from_passphrase

    def fast(phrase: str, salt: bytes | None = None, **_: int) -> object:
        return original(phrase, salt, **FAST)

    monkeypatch.setattr(MasterKey, "from_passphrase", staticmethod(fast))
    db = f"sqlite:///{tmp_path / 'p.db'}"
    runner = CliRunner()
    r = runner.invoke(keys_app, ["create", "k", "--db", db], input="s3cret\ns3cret\n")
    assert r.exit_code == 0, r.output
    assert "New key ring passphrase" in r.output and "s3cret" not in r.output
    assert KeyRing.exists(db)
    r = runner.invoke(keys_app, ["list", "--json", "--db", db], input="s3cret\n")
    assert r.exit_code == 0 and '"name": "k"' in r.output
    r = runner.invoke(keys_app, ["list", "--db", db], input="wrong\n")
    assert r.exit_code == 2 and "wrong passphrase" in r.output
