"""Stand-alone verifier of leakwarden audit proofs, for an outside auditor.

One file, depending only on Python's standard library and ``cryptography``: copy it anywhere and
run ::

    python standalone.py proof.json --key ledger.pub [--key witness.pub]
    python -m leakwarden.audit.standalone proof.json --key ledger.pub

``proof.json`` is what ``leakwarden audit prove`` or ``leakwarden audit consistency`` prints.  The
verifier checks each checkpoint's Ed25519 signature (C2SP signed-note; every ``--key`` given must
have signed it), then the RFC 9162 inclusion proof (the event's canonical bytes are hashed here,
not taken on trust) or consistency proof against the signed roots.  Exit status 0: valid; 1: not
valid (the reason is printed); 2: the input cannot be read.

What it implements (and the rest of leakwarden reuses, so there is one definition of each):

- RFC 9162 section 2.1.1 hashing: leaf ``SHA-256(0x00 || data)``, node ``SHA-256(0x01 || l || r)``.
- RFC 9162 section 2.1.3.2 (inclusion) and 2.1.4.2 (consistency) proof verification.
- C2SP signed-note: Ed25519 key IDs ``SHA-256(name || 0x0A || 0x01 || pubkey)[:4]``, verifier keys
  ``name+hex(id)+base64(0x01 || pubkey)``, signature lines ``— name base64(id || signature)``.
- C2SP tlog-checkpoint bodies: origin, decimal tree size, base64 root hash, extension lines.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALG_ED25519 = 0x01
EM_DASH = "\u2014"


class VerificationError(Exception):
    """A proof, checkpoint or signature does not verify; the message says which and why."""


# ---------------------------------------------------------------- RFC 9162 hashing and proofs


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2: raise :class:`VerificationError` unless ``proof`` shows that
    the leaf hash ``leaf`` is at ``index`` of the tree of ``size`` leaves with ``root``."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise VerificationError(
            f"inclusion proof of leaf {index} leads to root {r.hex()}, "
            f"not the expected {root.hex()} (tree size {size})"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2: raise :class:`VerificationError` unless ``proof`` shows that
    the tree of ``old_size`` leaves with ``old_root`` is a prefix of the one of ``new_size``."""
    if old_size < 0 or new_size < old_size:
        raise VerificationError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise VerificationError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise VerificationError(
                f"two different roots for the same size {old_size}: "
                f"{old_root.hex()} and {new_root.hex()} (a fork)"
            )
        return
    if old_size == 0:
        if proof:
            raise VerificationError("a proof from the empty tree must be empty")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        raise VerificationError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than expected")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than expected")
    if fr != old_root:
        raise VerificationError(
            f"the log of size {new_size} is not consistent with the old root of size {old_size}: "
            f"the proof gives {fr.hex()}, the old root is {old_root.hex()}"
        )
    if sr != new_root:
        raise VerificationError(
            f"consistency proof leads to root {sr.hex()} for size {new_size}, "
            f"not the expected {new_root.hex()}"
        )


# ---------------------------------------------------------------- C2SP signed notes


def key_id(name: str, public_key: bytes, alg: int = ALG_ED25519) -> bytes:
    """C2SP signed-note key ID: the first four bytes of SHA-256(name || 0x0A || alg || key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_key_name(name: str) -> None:
    if not name or any(c in name for c in "+ \n\t") or not name.isprintable():
        raise VerificationError(f"key name {name!r} is empty or holds '+', spaces or controls")


@dataclass(frozen=True)
class VerifierKey:
    """An Ed25519 signed-note verifier key."""

    name: str
    public_key: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def encode(self) -> str:
        """``name+hexid+base64(0x01 || key)``, the note verifier-key text."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.id.hex()}+{blob}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # the base64 key may hold "+"
        if len(parts) != 3:
            raise VerificationError("a verifier key reads name+hexid+base64key")
        name, hex_id, blob = parts
        _check_key_name(name)
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise VerificationError(f"verifier key {name!r}: key is not base64") from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise VerificationError(f"verifier key {name!r}: not an Ed25519 key (type 0x01)")
        key = cls(name, raw[1:])
        if key.id.hex() != hex_id.lower():
            raise VerificationError(
                f"verifier key {name!r}: key ID {hex_id} does not match the key ({key.id.hex()})"
            )
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A signed note: its text (ending in a newline) and signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, message: str) -> Note:
        if "\n\n" not in message:
            raise VerificationError("a signed note needs a blank line before its signatures")
        cut = message.rindex("\n\n")
        text, sigblock = message[: cut + 1], message[cut + 2 :]
        if any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in text):
            raise VerificationError("a note's text may not hold control characters")
        if not sigblock.endswith("\n"):
            raise VerificationError("a signed note must end with a newline")
        sigs = []
        for lineno, line in enumerate(sigblock[:-1].split("\n"), 1):
            prefix = EM_DASH + " "
            if not line.startswith(prefix):
                raise VerificationError(f"signature line {lineno} does not start with '— '")
            name, sep, blob = line[len(prefix) :].partition(" ")
            if not sep:
                raise VerificationError(f"signature line {lineno} has no signature")
            try:
                raw = base64.b64decode(blob, validate=True)
            except binascii.Error:
                raise VerificationError(f"signature line {lineno} is not base64") from None
            if len(raw) < 5:
                raise VerificationError(f"signature line {lineno} is too short")
            sigs.append(NoteSignature(name, raw[:4], raw[4:]))
        return cls(text, tuple(sigs))

    def verified_by(self, key: VerifierKey) -> bool:
        """Does a signature line by ``key`` (name and key ID) verify over the text?"""
        for sig in self.signatures:
            mine = sig.name == key.name and sig.key_id == key.id
            if mine and key.verify(self.text.encode(), sig.signature):
                return True
        return False

    def encode(self) -> str:
        lines = "".join(
            f"{EM_DASH} {s.name} {base64.b64encode(s.key_id + s.signature).decode()}\n"
            for s in self.signatures
        )
        return self.text + "\n" + lines


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise VerificationError("a checkpoint has an origin, a size and a root hash line")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin:
            raise VerificationError("checkpoint origin line is empty")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise VerificationError(f"checkpoint size {size_text!r} is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise VerificationError("checkpoint root hash is not base64") from None
        if len(root) != 32:
            raise VerificationError("checkpoint root hash is not 32 bytes")
        return cls(origin, int(size_text), root, tuple(lines[3:-1]))


def open_checkpoint(message: str, keys: Sequence[VerifierKey]) -> tuple[Note, Checkpoint]:
    """Parse a signed checkpoint and require a valid signature by every key in ``keys``."""
    note = Note.parse(message)
    for key in keys:
        if not note.verified_by(key):
            raise VerificationError(
                f"checkpoint is not validly signed by {key.name} (key ID {key.id.hex()})"
            )
    return note, Checkpoint.parse(note.text)


# ---------------------------------------------------------------- proof files


def _b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error:
        raise VerificationError(f"{what} is not base64") from None


def verify_proof_document(doc: dict[str, Any], keys: Sequence[VerifierKey]) -> str:
    """Check a proof document (``audit prove`` / ``audit consistency`` output); return a
    one-line summary of what was proven, or raise :class:`VerificationError`."""
    kind = doc.get("type")
    if kind == "inclusion":
        _, cp = open_checkpoint(doc["checkpoint"], keys)
        event = str(doc["event"]).encode()
        lh = leaf_hash(event)
        if "leaf_hash" in doc and _b64(doc["leaf_hash"], "leaf_hash") != lh:
            raise VerificationError("leaf_hash does not match the hash of the event's bytes")
        index, size = int(doc["leaf_index"]), int(doc["tree_size"])
        if size != cp.size:
            raise VerificationError(f"proof is for size {size}, the checkpoint has {cp.size}")
        proof = [_b64(p, f"proof[{i}]") for i, p in enumerate(doc["proof"])]
        verify_inclusion(lh, index, size, proof, cp.root)
        return f"event {index} is in {cp.origin} at size {cp.size}"
    if kind == "consistency":
        _, old = open_checkpoint(doc["old_checkpoint"], keys)
        _, new = open_checkpoint(doc["new_checkpoint"], keys)
        if old.origin != new.origin:
            raise VerificationError(f"origins differ: {old.origin!r} and {new.origin!r}")
        proof = [_b64(p, f"proof[{i}]") for i, p in enumerate(doc["proof"])]
        verify_consistency(old.size, new.size, old.root, new.root, proof)
        return f"{new.origin} at size {new.size} extends size {old.size}"
    raise VerificationError(f"unknown proof type {kind!r} (expected inclusion or consistency)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m leakwarden.audit.standalone",
        description="Verify a leakwarden audit proof (inclusion or consistency) on its own.",
    )
    parser.add_argument("proof", type=Path, help="proof JSON from 'leakwarden audit prove'")
    parser.add_argument(
        "--key",
        type=Path,
        action="append",
        required=True,
        help="verifier key file (name+id+key); give it again for each witness that must sign",
    )
    args = parser.parse_args(argv)
    try:
        doc = json.loads(args.proof.read_text(encoding="utf-8"))
        keys = [VerifierKey.parse(p.read_text(encoding="utf-8")) for p in args.key]
    except (OSError, ValueError, VerificationError) as exc:
        print(f"error: cannot read the proof or a key: {exc}", file=sys.stderr)
        return 2
    try:
        summary = verify_proof_document(doc, keys)
    except (VerificationError, KeyError, TypeError, ValueError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        print(f"NOT VALID: {what}")
        return 1
    print(f"VALID: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
