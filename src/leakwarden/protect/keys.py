"""The key ring: named, versioned data keys, wrapped by a master key, kept in the store.

Envelope encryption.  A *data key* is 32 random bytes (``os.urandom``); the store holds it only
wrapped (AES-256-GCM, 96-bit random nonce, associated data ``leakwarden-key|<name>|<version>`` so
a wrapped key cannot be moved to another name or version).  The *master key* that wraps them is
never stored; it comes from

- a passphrase: argon2id (argon2-cffi's ``hash_secret_raw``), with the salt and cost parameters
  stored in the key ring so the same passphrase derives the same master key later;
- a file holding 32 random bytes in base64 (mode 0600; a group- or world-readable file is refused);
- an environment variable holding the same base64 text;
- or any :class:`MasterKeyProvider` (``wrap``/``unwrap``/``fingerprint``): the place a real KMS or
  HSM plugs in, the data keys then never meet the master key in this process.

The key ring records the master key's *fingerprint* (HMAC-SHA-256 of a fixed label under the
master key, 16 hex digits; one-way) and refuses to open with another master key.

Rotation adds a version; older versions stay readable, and every ciphertext names the version
that made it.  Operators do not use a data key directly: :meth:`DataKey.derive` gives a subkey
per purpose (HKDF-SHA-256, ``info`` = purpose), so the HMAC key, the FF1 key and the vault's
AES-GCM key of one named key are independent.

No key material ever reaches a ``repr``, ``str``, log line or exception message: key objects
print their name and version only, errors name the key, the file or the variable, never bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "KEY_BYTES",
    "DataKey",
    "KeyInfo",
    "KeyRing",
    "KeyRingError",
    "MasterKey",
    "MasterKeyProvider",
    "PassphraseMasterKey",
]

KEY_BYTES = 32
_NONCE = 12
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FINGERPRINT_LABEL = b"leakwarden master key fingerprint v1"

#: argon2id costs for a new passphrase key ring (RFC 9106's second recommended option:
#: 64 MiB, 3 passes, 4 lanes).
ARGON2_DEFAULTS: dict[str, int] = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}


class KeyRingError(Exception):
    """A key ring problem (unknown key, wrong master key, unreadable key file).  Names keys,
    files and variables, never key material."""


def _aad(name: str, version: int) -> bytes:
    return f"leakwarden-key|{name}|{version}".encode()


def check_key_name(name: str) -> str:
    """``name`` when it is a valid key name (letters, digits, ``_.-``, at most 64)."""
    if not _NAME.fullmatch(name):
        raise KeyRingError(
            f"key name {name!r} is not valid: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


@runtime_checkable
class MasterKeyProvider(Protocol):
    """What wraps and unwraps data keys.  A KMS/HSM adapter implements these three methods
    (e.g. AWS KMS ``Encrypt``/``Decrypt`` with ``aad`` as encryption context)."""

    #: Short description for people: ``"passphrase (argon2id)"``, ``"file /etc/lw/master.key"``.
    source: str

    def fingerprint(self) -> str:
        """A stable, one-way identifier of the master key (never the key)."""
        ...

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """Encrypt ``data_key``, bound to ``aad``."""
        ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Decrypt what :meth:`wrap` made with the same ``aad``; :class:`KeyRingError` if it
        does not authenticate."""
        ...


class MasterKey:
    """A local master key (32 bytes) wrapping data keys with AES-256-GCM."""

    def __init__(self, key: bytes, source: str = "bytes") -> None:
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"a master key is {KEY_BYTES} bytes, this one has {len(key)}")
        self.__key = key
        self.source = source

    def __repr__(self) -> str:
        return f"MasterKey(source={self.source!r}, fingerprint={self.fingerprint()!r})"

    __str__ = __repr__

    # --- where master keys come from -------------------------------------------------------

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_BYTES), "generated")

    @staticmethod
    def _decode(text: str, where: str) -> bytes:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyRingError(f"{where} does not hold base64 text") from None
        if len(raw) != KEY_BYTES:
            raise KeyRingError(
                f"{where} holds {len(raw)} bytes after base64 decoding; a master key is "
                f"{KEY_BYTES} (make one with `leakwarden keys master-file`)"
            )
        return raw

    @classmethod
    def from_env(cls, var: str) -> MasterKey:
        """The base64 master key in environment variable ``var``."""
        text = os.environ.get(var)
        if not text:
            raise KeyRingError(f"environment variable {var} is not set or empty")
        return cls(cls._decode(text, f"environment variable {var}"), f"environment {var}")

    @classmethod
    def from_file(cls, path: str | Path) -> MasterKey:
        """The base64 master key in ``path``; the file must not be readable by group or
        others (mode 0600 or 0400)."""
        p = Path(path)
        try:
            st = p.stat()
        except OSError as exc:
            raise KeyRingError(f"cannot read master key file {p}: {exc.strerror}") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyRingError(
                f"master key file {p} is readable by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); chmod 600 it"
            )
        return cls(
            cls._decode(p.read_text(encoding="ascii", errors="replace"), f"file {p}"), f"file {p}"
        )

    @classmethod
    def write_file(cls, path: str | Path) -> MasterKey:
        """Make a new random master key in a new file ``path`` (mode 0600, refused if it
        exists) and return it."""
        p = Path(path)
        key = os.urandom(KEY_BYTES)
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyRingError(f"master key file {p} exists; not overwritten") from None
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(base64.b64encode(key).decode("ascii") + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return cls(key, f"file {p}")

    @staticmethod
    def from_passphrase(
        passphrase: str,
        salt: bytes | None = None,
        *,
        time_cost: int = ARGON2_DEFAULTS["time_cost"],
        memory_cost: int = ARGON2_DEFAULTS["memory_cost"],
        parallelism: int = ARGON2_DEFAULTS["parallelism"],
    ) -> PassphraseMasterKey:
        """A master key derived from ``passphrase`` with argon2id.  Without ``salt`` the key ring
        supplies it: the one stored when the ring was made, or a new random one."""
        return PassphraseMasterKey(
            passphrase,
            salt,
            {"time_cost": time_cost, "memory_cost": memory_cost, "parallelism": parallelism},
        )

    # --- MasterKeyProvider -----------------------------------------------------------------

    def fingerprint(self) -> str:
        return hmac.new(self.__key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.__key).encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        try:
            return AESGCM(self.__key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
        except InvalidTag:
            raise KeyRingError(
                "a wrapped data key does not authenticate under this master key"
            ) from None


class PassphraseMasterKey:
    """A passphrase waiting for its salt and argon2id parameters (stored in the key ring)."""

    source = "passphrase (argon2id)"

    def __init__(self, passphrase: str, salt: bytes | None, params: dict[str, int]) -> None:
        if not passphrase:
            raise KeyRingError("the passphrase is empty")
        self.__passphrase = passphrase
        self.salt = salt
        self.params = dict(params)

    def __repr__(self) -> str:
        return f"PassphraseMasterKey(params={self.params!r})"

    __str__ = __repr__

    def derive(self, salt: bytes, params: dict[str, int]) -> MasterKey:
        from argon2.low_level import Type, hash_secret_raw

        key = hash_secret_raw(
            self.__passphrase.encode("utf-8"),
            salt,
            time_cost=params["time_cost"],
            memory_cost=params["memory_cost"],
            parallelism=params["parallelism"],
            hash_len=KEY_BYTES,
            type=Type.ID,
        )
        return MasterKey(key, self.source)


class DataKey:
    """One version of a named data key, unwrapped, in memory only."""

    __slots__ = ("__material", "name", "version")

    def __init__(self, name: str, version: int, material: bytes) -> None:
        self.name = name
        self.version = version
        self.__material = material

    def __repr__(self) -> str:
        return f"DataKey(name={self.name!r}, version={self.version})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("data keys are not pickled")

    def derive(self, purpose: str, length: int = KEY_BYTES) -> bytes:
        """The subkey of this key for ``purpose`` (HKDF-SHA-256, no salt, ``info`` names the
        key, its version and the purpose)."""
        info = f"leakwarden|{self.name}|{self.version}|{purpose}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
            self.__material
        )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What :meth:`KeyRing.list` shows about one key version (no material)."""

    name: str
    version: int
    purpose: str
    created_at: datetime
    current: bool
    master: str  # fingerprint of the master key that wraps it


class KeyRing:
    """Named, versioned data keys in the store (tables ``protect_master``, ``protect_keys``)."""

    def __init__(self, engine: Engine, master: MasterKeyProvider, *, owns_engine: bool) -> None:
        self._engine = engine
        self._master = master
        self._owns_engine = owns_engine
        self._cache: dict[tuple[str, int], DataKey] = {}

    def __repr__(self) -> str:
        return f"KeyRing(master={self._master.source!r})"

    @classmethod
    def open(cls, url: str | None, master: MasterKeyProvider | PassphraseMasterKey) -> KeyRing:
        """Open the key ring in the store at ``url`` (``None``: the default store), migrating it
        to the newest schema.  The first open records the master key's fingerprint (and, for a
        passphrase, the argon2id salt and costs); later opens refuse another master key."""
        from leakwarden.store.db import make_engine, upgrade

        engine = make_engine(url)
        try:
            upgrade(engine)
            ring = cls(engine, cls._bind_master(engine, master), owns_engine=True)
        except BaseException:
            engine.dispose()
            raise
        return ring

    @staticmethod
    def exists(url: str | None) -> bool:
        """Whether the store at ``url`` already holds a key ring (a master key was bound)."""
        from sqlalchemy import inspect, select

        from leakwarden.store.db import current_revision, make_engine
        from leakwarden.store.protect_tables import ProtectMaster

        if current_revision(url) is None:
            return False
        engine = make_engine(url)
        try:
            if not inspect(engine).has_table(ProtectMaster.__tablename__):
                return False
            with engine.connect() as conn:
                return conn.execute(select(ProtectMaster.id)).first() is not None
        finally:
            engine.dispose()

    @classmethod
    def on_engine(cls, engine: Engine, master: MasterKeyProvider | PassphraseMasterKey) -> KeyRing:
        """A key ring on an engine the caller owns (already migrated)."""
        return cls(engine, cls._bind_master(engine, master), owns_engine=False)

    @staticmethod
    def _bind_master(
        engine: Engine, master: MasterKeyProvider | PassphraseMasterKey
    ) -> MasterKeyProvider:
        from sqlalchemy import insert, select

        from leakwarden.store.protect_tables import ProtectMaster

        with engine.begin() as conn:
            row = conn.execute(select(ProtectMaster.__table__).where(ProtectMaster.id == 1)).first()
            if isinstance(master, PassphraseMasterKey):
                if row is not None and row.kdf:
                    salt = base64.b64decode(row.kdf["salt"])
                    params = {k: int(row.kdf[k]) for k in ARGON2_DEFAULTS}
                elif row is not None:
                    raise KeyRingError(
                        f"this key ring's master key is not a passphrase ({row.source}); "
                        "open it with the same kind of master key"
                    )
                else:
                    salt = master.salt or os.urandom(16)
                    params = master.params
                provider: MasterKeyProvider = master.derive(salt, params)
                kdf: dict[str, Any] | None = {
                    "algorithm": "argon2id",
                    "salt": base64.b64encode(salt).decode("ascii"),
                    **params,
                }
            else:
                provider = master
                kdf = None
            fp = provider.fingerprint()
            if row is None:
                conn.execute(
                    insert(ProtectMaster).values(
                        id=1,
                        fingerprint=fp,
                        source=provider.source.split(" ")[0],
                        kdf=kdf,
                        created_at=datetime.now(UTC),
                    )
                )
            elif row.fingerprint != fp:
                raise KeyRingError(
                    f"this master key (fingerprint {fp}) does not open this key ring (made with "
                    f"fingerprint {row.fingerprint}): wrong passphrase, file or variable"
                )
        return provider

    def close(self) -> None:
        self._cache.clear()
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> KeyRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def master_fingerprint(self) -> str:
        return self._master.fingerprint()

    # --- keys ------------------------------------------------------------------------------

    def _add_version(self, name: str, purpose: str, *, new: bool) -> DataKey:
        from sqlalchemy.exc import IntegrityError

        check_key_name(name)
        try:
            return self._insert_version(name, purpose, new=new)
        except IntegrityError:
            raise KeyRingError(
                f"key {name!r} was changed by another process at the same moment; retry"
            ) from None

    def _insert_version(self, name: str, purpose: str, *, new: bool) -> DataKey:
        from sqlalchemy import func, insert, select

        from leakwarden.store.protect_tables import ProtectKey

        t = ProtectKey.__table__
        with self._engine.begin() as conn:
            last = conn.execute(select(func.max(t.c.version)).where(t.c.name == name)).scalar()
            if new and last is not None:
                raise KeyRingError(f"key {name!r} exists (version {last}); rotate it instead")
            if not new and last is None:
                raise KeyRingError(f"no key named {name!r}; create it first")
            if not new:
                purpose = conn.execute(
                    select(t.c.purpose).where(t.c.name == name, t.c.version == last)
                ).scalar_one()
            version = (last or 0) + 1
            material = os.urandom(KEY_BYTES)
            conn.execute(
                insert(ProtectKey).values(
                    name=name,
                    version=version,
                    purpose=purpose,
                    wrapped=self._master.wrap(material, _aad(name, version)),
                    master_fingerprint=self._master.fingerprint(),
                    created_at=datetime.now(UTC),
                )
            )
        key = DataKey(name, version, material)
        self._cache[(name, version)] = key
        self._cache.pop((name, 0), None)
        return key

    def create(self, name: str, purpose: str = "any") -> DataKey:
        """A new key ``name`` at version 1; :class:`KeyRingError` if the name is taken."""
        return self._add_version(name, purpose, new=True)

    def rotate(self, name: str) -> DataKey:
        """A new version of ``name``, which becomes current; older versions still decrypt."""
        return self._add_version(name, "", new=False)

    def ensure(self, name: str, purpose: str = "any") -> DataKey:
        """The current version of ``name``, creating version 1 if there is none."""
        try:
            return self.current(name)
        except KeyRingError:
            return self.create(name, purpose)

    def current(self, name: str) -> DataKey:
        """The newest version of ``name``."""
        return self._load(name, None)

    def get(self, name: str, version: int) -> DataKey:
        """Version ``version`` of ``name`` (to decrypt what it made)."""
        return self._load(name, version)

    def _load(self, name: str, version: int | None) -> DataKey:
        from sqlalchemy import select

        from leakwarden.store.protect_tables import ProtectKey

        cached = self._cache.get((name, version or 0))
        if cached is not None:
            return cached
        t = ProtectKey.__table__
        q = select(t.c.version, t.c.wrapped).where(t.c.name == name)
        q = q.where(t.c.version == version) if version else q.order_by(t.c.version.desc())
        with self._engine.connect() as conn:
            row = conn.execute(q.limit(1)).first()
        if row is None:
            what = f"version {version} of key {name!r}" if version else f"key {name!r}"
            raise KeyRingError(f"no {what} in this key ring")
        try:
            material = self._master.unwrap(bytes(row.wrapped), _aad(name, row.version))
        except KeyRingError:
            raise KeyRingError(
                f"key {name!r} version {row.version} does not unwrap under this master key "
                "(tampered row or a different master key)"
            ) from None
        key = DataKey(name, row.version, material)
        self._cache[(name, row.version)] = key
        if not version:
            self._cache[(name, 0)] = key
        return key

    def list(self) -> list[KeyInfo]:
        """Every key version, by name then version."""
        from sqlalchemy import select

        from leakwarden.store.protect_tables import ProtectKey

        t = ProtectKey.__table__
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.c.name, t.c.version, t.c.purpose, t.c.created_at, t.c.master_fingerprint
                ).order_by(t.c.name, t.c.version)
            ).all()
        newest: dict[str, int] = {}
        for r in rows:
            newest[r.name] = max(newest.get(r.name, 0), r.version)
        return [
            KeyInfo(
                r.name,
                r.version,
                r.purpose,
                r.created_at,
                r.version == newest[r.name],
                r.master_fingerprint,
            )
            for r in rows
        ]
