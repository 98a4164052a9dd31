"""Ed25519 signing keys for checkpoints, in the signed-note key formats of golang.org/x/mod's
``sumdb/note`` (which the C2SP signed-note spec describes):

- private key file: ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>``, written
  with mode 0600 and never printed or logged;
- public (verifier) key file: ``<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>``.

Parsing, verification and the checkpoint body format are in :mod:`leakwarden.audit.standalone`.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from leakwarden.audit.standalone import (
    ALG_ED25519,
    Checkpoint,
    Note,
    NoteSignature,
    VerificationError,
    VerifierKey,
    key_id,
    open_checkpoint,
)

__all__ = [
    "Checkpoint",
    "KeyFileError",
    "Note",
    "Signer",
    "VerificationError",
    "VerifierKey",
    "generate_keys",
    "open_checkpoint",
]

_PRIVATE_PREFIX = "PRIVATE+KEY+"


class KeyFileError(Exception):
    """A key file cannot be read or is not a signed-note key; the message never holds the key."""


@dataclass(frozen=True)
class Signer:
    """An Ed25519 signed-note signer (the private seed stays inside; ``repr`` hides it)."""

    name: str
    _seed: bytes

    def __repr__(self) -> str:
        return f"Signer(name={self.name!r}, key_id={self.verifier.id.hex()})"

    @property
    def verifier(self) -> VerifierKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        public = Ed25519PrivateKey.from_private_bytes(self._seed).public_key()
        return VerifierKey(self.name, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def signature(self, text: str) -> NoteSignature:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        sig = Ed25519PrivateKey.from_private_bytes(self._seed).sign(text.encode())
        return NoteSignature(self.name, self.verifier.id, sig)

    def sign(self, text: str) -> Note:
        """A note of ``text`` (which must end in a newline) signed by this key."""
        if not text.endswith("\n"):
            raise ValueError("a note's text must end with a newline")
        return Note(text, (self.signature(text),))

    def cosign(self, note: Note) -> Note:
        """``note`` with this key's signature added (a witness co-signature)."""
        kept = tuple(s for s in note.signatures if s.key_id != self.verifier.id)
        return Note(note.text, (*kept, self.signature(note.text)))

    def encode(self) -> str:
        blob = base64.b64encode(bytes([ALG_ED25519]) + self._seed).decode()
        return f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.id.hex()}+{blob}"

    @classmethod
    def parse(cls, text: str) -> Signer:
        text = text.strip()
        if not text.startswith(_PRIVATE_PREFIX):
            raise KeyFileError("not a signed-note private key (PRIVATE+KEY+name+id+key)")
        parts = text[len(_PRIVATE_PREFIX) :].split("+", 2)  # base64 may hold "+"
        if len(parts) != 3:
            raise KeyFileError("a private key reads PRIVATE+KEY+name+hexid+base64key")
        name, hex_id, blob = parts
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise KeyFileError(f"private key {name!r}: key part is not base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise KeyFileError(f"private key {name!r}: not an Ed25519 key (type 0x01)")
        signer = cls(name, raw[1:])
        if signer.verifier.id.hex() != hex_id.lower():
            raise KeyFileError(f"private key {name!r}: key ID {hex_id} does not match the key")
        return signer

    @classmethod
    def load(cls, path: str | Path) -> Signer:
        p = Path(path)
        try:
            mode = p.stat().st_mode & 0o777
            text = p.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read private key file {p}: {exc}") from None
        if mode & 0o077:
            raise KeyFileError(
                f"private key file {p} is readable by others (mode {mode:o}); chmod 600 it"
            )
        try:
            return cls.parse(text)
        except KeyFileError as exc:
            raise KeyFileError(f"{p}: {exc}") from None


def load_verifier(path: str | Path) -> VerifierKey:
    p = Path(path)
    try:
        return VerifierKey.parse(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read verifier key file {p}: {exc}") from None
    except VerificationError as exc:
        raise KeyFileError(f"{p}: {exc}") from None


def generate_keys(name: str, private_path: str | Path, public_path: str | Path) -> VerifierKey:
    """A new Ed25519 key pair: the private key file is created with mode 0600 (and must not
    exist yet), the verifier key file beside it.  Returns the verifier key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from leakwarden.fileio import write_atomic

    if not name or any(c in name for c in "+ \n\t") or not name.isprintable():
        raise ValueError(f"key name {name!r} must be non-empty, without '+', spaces or controls")
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    signer = Signer(name, seed)
    priv = Path(private_path)
    priv.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{priv} exists already; not overwriting a key") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(signer.encode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(priv, 0o600)
    verifier = signer.verifier
    write_atomic(public_path, verifier.encode() + "\n")
    assert key_id(name, verifier.public_key) == verifier.id
    return verifier
