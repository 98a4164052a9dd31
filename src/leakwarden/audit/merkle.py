"""RFC 9162 Merkle trees: roots of leaf-hash lists and inclusion / consistency proofs over any
source of subtree hashes (an in-memory list or the ledger's store).

Hashing and proof *verification* live in :mod:`leakwarden.audit.standalone` (the auditor's one
file) and are re-exported here.  Proof *generation* follows RFC 9162 section 2.1.3.1 (PATH) and
2.1.4.1 (PROOF / SUBPROOF); every subtree the recursion asks for starts at a multiple of its own
largest power of two, so a store that keeps hashes of complete aligned subtrees answers it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from leakwarden.audit.standalone import (
    VerificationError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "VerificationError",
    "consistency_proof",
    "fold_pieces",
    "inclusion_proof",
    "leaf_hash",
    "level_up",
    "node_hash",
    "perfect_pieces",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeHash = Callable[[int, int], bytes]


def level_up(hashes: Sequence[bytes]) -> list[bytes]:
    """One level of the tree: pairs hashed, an odd last node carried up unchanged."""
    sha = hashlib.sha256
    out = [sha(b"\x01" + hashes[i] + hashes[i + 1]).digest() for i in range(0, len(hashes) - 1, 2)]
    if len(hashes) % 2:
        out.append(hashes[-1])
    return out


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (RFC 9162 2.1.1), level by level: carrying an odd node up unchanged
    gives the same tree as the RFC's split at the largest power of two below n."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        level = level_up(level)
    return level[0]


def largest_power_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut into complete subtrees, largest first: (start, size) pairs."""
    pieces = []
    n = end - start
    for bit in range(n.bit_length() - 1, -1, -1):
        if n >> bit & 1:
            pieces.append((start, 1 << bit))
            start += 1 << bit
    return pieces


def fold_pieces(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its complete pieces' hashes (largest first): folded from the right."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """RFC 9162 PATH(index, D[0:size]); ``subtree(start, end)`` gives MTH(D[start:end])."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_below(hi - lo)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(old: int, new: int, subtree: SubtreeHash) -> list[bytes]:
    """RFC 9162 PROOF(old, D[0:new]) (empty when old is 0 or equals new)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old == 0 or old == new:
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new, old, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                proof.append(subtree(lo, hi))
            break
        k = largest_power_below(n)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def memory_subtree(leaf_hashes: Sequence[bytes]) -> SubtreeHash:
    """A subtree-hash source over an in-memory list of leaf hashes (tests, small trees)."""

    def subtree(start: int, end: int) -> bytes:
        return root_of(leaf_hashes[start:end])

    return subtree
