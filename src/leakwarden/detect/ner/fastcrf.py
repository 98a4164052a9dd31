"""A NumPy decoder for the shipped name/address CRF: crfsuite's labels, without crfsuite.

``FastCRF`` reads the weights of a crfsuite model (the binary ``lCRF``/``FOMC`` file, parsed here
so the weights are exact doubles: ``pycrfsuite.Tagger().info()`` goes through a text dump with six
decimals) and compiles every attribute the :class:`~leakwarden.detect.ner.features.Featurizer`
emits into one sorted table of integer keys.  For a batch of segments it then computes, with
whole-array operations and no Python loop per character:

* the key of each of the nine attributes of each character (code points from UTF-32, the
  featurizer's own translate tables for normal form, class and marker, its compound-surname
  regex and gazetteer marks), looked up with one ``np.searchsorted``;
* the emission scores, summed attribute by attribute in the featurizer's order, which is the
  order crfsuite adds them in, so they are bit for bit crfsuite's;
* Viterbi over all segments at once (padded, bucketed by length: the Python loop runs once per
  position of the longest segment of a bucket), with crfsuite's tie rule (first best label);
* per-position marginal probabilities by a scaled forward-backward, for segments with a span.

The equality with crfsuite is checked by ``tests/test_ner_fastcrf.py`` on held-out corpora.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leakwarden.detect.ner import features as _features
from leakwarden.detect.ner.features import Featurizer

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Attribute templates, in the order Featurizer.features() emits them (and crfsuite sums them).
# (prefix, number of characters after the prefix)
TEMPLATES: tuple[tuple[str, int], ...] = (
    ("c", 1),
    ("l", 1),
    ("r", 1),
    ("lb", 2),
    ("rb", 2),
    ("LB", 2),
    ("RB", 2),
    ("K", 5),
    ("m", 4),
)
_TEMPLATE_OF = {(p, n): k for k, (p, n) in enumerate(TEMPLATES)}
_TEMPLATE_SHIFT = 44  # template id above 2 x 21 bits of code points
_CP_BITS = 21
_ASCII_BITS = 7
_BUCKET_RATIO = 1.5  # longest / shortest segment within one Viterbi bucket


class ModelFormatError(ValueError):
    """The crfsuite model file cannot be read or holds attributes this decoder does not know."""


@dataclass(frozen=True, slots=True)
class CRFWeights:
    """Everything a crfsuite CRF1d model holds: labels, attributes, state and transition weights."""

    labels: tuple[str, ...]
    attributes: tuple[str, ...]
    state_attr: IntArray  # (F,) attribute id of each state feature
    state_label: IntArray  # (F,) label id
    state_weight: FloatArray  # (F,)
    transitions: FloatArray  # (L, L) [from, to]


def _cqdb_strings(buf: bytes, off: int, count: int, what: str) -> tuple[str, ...]:
    """Strings 0..count-1 of the CQDB chunk at ``off`` (via its backward id -> record array)."""
    if buf[off : off + 4] != b"CQDB":
        raise ModelFormatError(f"{what} dictionary at byte {off}: no CQDB chunk")
    _size, _flag, _order, bwd_size, bwd_offset = struct.unpack_from("<5I", buf, off + 4)
    if bwd_size < count:
        raise ModelFormatError(f"{what} dictionary at byte {off}: {bwd_size} ids, need {count}")
    out: list[str] = []
    bwd = struct.unpack_from(f"<{count}I", buf, off + bwd_offset)
    for i, rec in enumerate(bwd):
        if rec == 0:
            raise ModelFormatError(f"{what} dictionary at byte {off}: id {i} has no string")
        p = off + rec
        rid, ksize = struct.unpack_from("<2I", buf, p)
        if rid != i or ksize == 0:
            raise ModelFormatError(f"{what} dictionary: record at byte {p} is not id {i}")
        out.append(buf[p + 8 : p + 8 + ksize - 1].decode("utf-8"))  # ksize counts the NUL
    return tuple(out)


def read_model(model: bytes) -> CRFWeights:
    """Parse a crfsuite CRF1d model file (format of crfsuite's ``crf1d_model.c``)."""
    if len(model) < 48 or model[:4] != b"lCRF" or model[8:12] != b"FOMC":
        raise ModelFormatError("not a crfsuite CRF1d model (magic 'lCRF'/'FOMC' missing)")
    header = struct.unpack_from("<9I", model, 12)
    n_labels, n_attrs, off_feat, off_labels, off_attrs = header[2:7]
    if model[off_feat : off_feat + 4] != b"FEAT":
        raise ModelFormatError(f"feature chunk missing at byte {off_feat}")
    (n_features,) = struct.unpack_from("<I", model, off_feat + 8)
    dtype = np.dtype([("type", "<u4"), ("src", "<u4"), ("dst", "<u4"), ("weight", "<f8")])
    feats = np.frombuffer(model, dtype=dtype, count=n_features, offset=off_feat + 12)
    labels = _cqdb_strings(model, off_labels, n_labels, "label")
    attributes = _cqdb_strings(model, off_attrs, n_attrs, "attribute")
    if np.any(feats["type"] > 1):
        raise ModelFormatError("unknown feature type in the model (expected 0 state, 1 transition)")
    state = feats[feats["type"] == 0]
    trans = feats[feats["type"] == 1]
    if np.any(state["src"] >= n_attrs) or np.any(feats["dst"] >= n_labels):
        raise ModelFormatError("feature refers to an attribute or label beyond the dictionaries")
    if np.any(trans["src"] >= n_labels):
        raise ModelFormatError("transition refers to a label beyond the dictionary")
    transitions = np.zeros((n_labels, n_labels))
    transitions[trans["src"].astype(np.int64), trans["dst"].astype(np.int64)] = trans["weight"]
    return CRFWeights(
        labels=labels,
        attributes=attributes,
        state_attr=state["src"].astype(np.int64),
        state_label=state["dst"].astype(np.int64),
        state_weight=state["weight"].astype(np.float64),
        transitions=transitions,
    )


def _attribute_key(attr: str) -> int | None:
    """The integer key of a model attribute, ``None`` when no template produces it."""
    for k, (prefix, width) in enumerate(TEMPLATES):
        if len(attr) == len(prefix) + width and attr.startswith(prefix):
            body = [ord(ch) for ch in attr[len(prefix) :]]
            if width <= 2:
                return _key1(k, body)
            if any(cp >= 1 << _ASCII_BITS for cp in body):
                return None
            return _key_ascii(k, body)
    return None


def _key1(template: int, body: list[int]) -> int:
    key = 0
    for cp in body:
        key = (key << _CP_BITS) | cp
    return (template << _TEMPLATE_SHIFT) | key


def _key_ascii(template: int, body: list[int]) -> int:
    key = 0
    for cp in body:
        key = (key << _ASCII_BITS) | cp
    return (template << _TEMPLATE_SHIFT) | key


@dataclass(slots=True)
class Decoded:
    """One segment's Viterbi labels and, when any label is not ``O``, its (n, L) marginals."""

    labels: tuple[str, ...]
    label_ids: IntArray
    marginals: FloatArray | None

    @property
    def tags(self) -> list[str]:
        """The label of each character (crfsuite's ``Tagger.tag`` answer)."""
        return [self.labels[i] for i in self.label_ids.tolist()]

    def marginal(self, label: str, pos: int) -> float:
        """P(label at ``pos`` | segment), as crfsuite's ``Tagger.marginal``."""
        if self.marginals is None:
            raise ValueError("marginals are only computed for segments with a non-O label")
        return float(self.marginals[pos, self.labels.index(label)])


class FastCRF:
    """Vectorised Viterbi + marginals over a crfsuite model and the featurizer that trained it."""

    def __init__(self, model: bytes, featurizer: Featurizer) -> None:
        w = read_model(model)
        self.labels = w.labels
        n_labels = len(w.labels)
        if "O" not in self.labels:
            raise ModelFormatError(f"model labels {self.labels} lack 'O'")
        self._outside = self.labels.index("O")
        keys = np.array(
            [_attribute_key(a) if _attribute_key(a) is not None else -1 for a in w.attributes],
            dtype=np.int64,
        )
        unknown = [a for a, k in zip(w.attributes, keys.tolist(), strict=True) if k < 0]
        if unknown:
            raise ModelFormatError(
                f"{len(unknown)} model attributes match no feature template, e.g. {unknown[0]!r}"
            )
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        if np.any(self._keys[1:] == self._keys[:-1]):
            raise ModelFormatError("two model attributes map to the same key")
        # Row i of the weight table belongs to self._keys[i]; the extra last row is all zeros
        # (an attribute the model does not know contributes nothing, as in crfsuite).
        rank = np.empty(len(keys), dtype=np.int64)
        rank[order] = np.arange(len(keys))
        table = np.zeros((len(keys) + 1, n_labels))
        table[rank[w.state_attr], w.state_label] = w.state_weight
        self._table = table
        self._missing = len(keys)
        self._trans = w.transitions
        self._exp_trans = np.exp(w.transitions)
        self._featurizer = featurizer
        # Per-BMP-character tables taken from the featurizer itself (one definition of them).
        code_table: list[str] = featurizer._code_table
        self._class_tab = np.array([ord(c[0]) for c in code_table], dtype=np.int64)
        self._mark_tab = np.array([ord(c[1]) for c in code_table], dtype=np.int64)
        self._norm_tab = np.array(
            [ord(_features._norm_char(cp)) for cp in range(len(code_table))],
            dtype=np.int64,
        )
        self._bmp = len(code_table)

    # -- emissions ------------------------------------------------------------------------

    def attribute_keys(self, text: str) -> IntArray:
        """(9, n) integer keys of the nine attributes of every character of ``text``."""
        n = len(text)
        cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
        bmp = cps < self._bmp
        inside = np.where(bmp, cps, 0)
        norm = np.where(bmp, self._norm_tab[inside], cps)
        replacement = 0xFFFD  # the featurizer codes characters beyond the BMP as U+FFFD
        coded = np.where(bmp, cps, replacement)
        cls = self._class_tab[coded]
        mark = self._mark_tab[coded]
        fz = self._featurizer
        compound_re = fz._compound_re
        if compound_re is not None:
            hits = np.fromiter((m.start() for m in compound_re.finditer(text)), dtype=np.int64)
            if hits.size:
                mark[hits] = ord("y")
                mark[hits + 1] = ord("z")
        gaz = np.frombuffer(fz._gazetteer_marks(text).encode("ascii"), dtype=np.uint8)

        pad_l, pad_r = ord(_features._PAD_L[0]), ord(_features._PAD_R[0])
        t = np.concatenate(([pad_l, pad_l], norm, [pad_r, pad_r]))  # position i at t[i + 2]
        under = ord("_")
        k = np.concatenate(([under, under], cls, [under, under]))
        mk = np.concatenate(([ord("^")], mark, [ord("$")]))  # position i at mk[i + 1]

        out = np.empty((len(TEMPLATES), n), dtype=np.int64)
        cb, ab = _CP_BITS, _ASCII_BITS
        bg = (t[:-1] << cb) | t[1:]  # bg[j] = t[j] t[j+1]
        out[0] = t[2:-2]
        out[1] = t[1:-3]
        out[2] = t[3:-1]
        out[3] = bg[1 : n + 1]
        out[4] = bg[2 : n + 2]
        out[5] = bg[0:n]
        out[6] = bg[3 : n + 3]
        out[7] = (
            (k[:-4] << 4 * ab) | (k[1:-3] << 3 * ab) | (k[2:-2] << 2 * ab) | (k[3:-1] << ab) | k[4:]
        )
        out[8] = (mk[:-2] << 3 * ab) | (mk[1:-1] << 2 * ab) | (mk[2:] << ab) | gaz
        out |= (np.arange(len(TEMPLATES), dtype=np.int64) << _TEMPLATE_SHIFT)[:, None]
        return out

    def emissions(self, text: str) -> FloatArray:
        """(n, L) state scores of ``text``: crfsuite's, summed in the same order."""
        keys = self.attribute_keys(text)
        keys_flat = keys.ravel()
        idx = np.searchsorted(self._keys, keys_flat)
        idx[idx == len(self._keys)] = self._missing
        found = self._keys[np.minimum(idx, len(self._keys) - 1)] == keys_flat
        idx[~found] = self._missing
        rows = self._table[idx.reshape(keys.shape)]  # (9, n, L)
        acc: FloatArray = rows[0].copy()
        for k in range(1, len(TEMPLATES)):
            acc += rows[k]
        return acc

    # -- decoding -------------------------------------------------------------------------

    def decode(self, segments: Sequence[str]) -> list[Decoded]:
        """Labels (and marginals where a label is not ``O``) of each segment.

        The segments are featurised together, joined with the featurizer's separator exactly as
        :meth:`Featurizer.features_many` does, so each one's attributes are its own.
        """
        out: list[Decoded | None] = [None] * len(segments)
        lengths = np.array([len(s) for s in segments], dtype=np.int64)
        nonempty = np.flatnonzero(lengths)
        for i in np.flatnonzero(lengths == 0).tolist():
            out[i] = Decoded(self.labels, np.zeros(0, dtype=np.int64), None)
        if nonempty.size == 0:
            return [d for d in out if d is not None]
        sep = _features._SEPARATOR
        emis = self.emissions(sep.join(segments[i] for i in nonempty.tolist()))
        lens = lengths[nonempty]
        starts = np.zeros(len(lens), dtype=np.int64)
        starts[1:] = np.cumsum(lens + len(sep))[:-1]
        order = np.argsort(lens, kind="stable")
        for group in _buckets(lens[order]):
            members = order[group]
            labels, margs = self._decode_padded(emis, starts[members], lens[members])
            for row, m in enumerate(members.tolist()):
                n = int(lens[m])
                out[int(nonempty[m])] = Decoded(
                    self.labels,
                    labels[row, :n],
                    None if margs is None or margs[row] is None else margs[row],
                )
        return [d for d in out if d is not None]

    def _decode_padded(
        self, emis: FloatArray, starts: IntArray, lens: IntArray
    ) -> tuple[IntArray, list[FloatArray | None] | None]:
        b = len(lens)
        t_max = int(lens.max())
        steps = np.arange(t_max, dtype=np.int64)
        pos = starts[:, None] + np.minimum(steps[None, :], lens[:, None] - 1)
        e = emis[pos]  # (B, T, L); positions past a segment's end repeat its last row (unused)
        labels = self._viterbi(e, lens)
        valid = steps[None, :] < lens[:, None]
        tagged = np.any((labels != self._outside) & valid, axis=1)
        if not tagged.any():
            return labels, None
        sel = np.flatnonzero(tagged)
        margs = self._marginals(e[sel], lens[sel])
        per_row: list[FloatArray | None] = [None] * b
        for j, r in enumerate(sel.tolist()):
            per_row[r] = margs[j, : int(lens[r])]
        return labels, per_row

    def _viterbi(self, e: FloatArray, lens: IntArray) -> IntArray:
        b, t_max, n_labels = e.shape
        trans = self._trans[None, :, :]
        back = np.zeros((b, t_max, n_labels), dtype=np.intp)
        score = e[:, 0, :].copy()
        best_last = np.zeros(b, dtype=np.intp)
        ends = lens - 1
        rows = np.arange(b)
        # crfsuite: curr[j] = max_i(prev[i] + trans[i][j]) + state[j], first i on ties.
        at_end = ends == 0
        if at_end.any():
            best_last[at_end] = score[at_end].argmax(axis=1)
        for t in range(1, t_max):
            cand = score[:, :, None] + trans
            back[:, t] = cand.argmax(axis=1)
            score = cand.max(axis=1) + e[:, t]
            at_end = ends == t
            if at_end.any():
                best_last[at_end] = score[at_end].argmax(axis=1)
        labels = np.zeros((b, t_max), dtype=np.int64)
        cur = best_last.copy()
        for t in range(t_max - 1, -1, -1):
            here = np.where(ends == t, best_last, cur)
            labels[:, t] = here
            if t:
                cur = back[rows, t, here]
        return labels

    def _marginals(self, e: FloatArray, lens: IntArray) -> FloatArray:
        """(B, T, L) P(label at t); scaled forward-backward (each step renormalised)."""
        b, t_max, n_labels = e.shape
        ex = np.exp(e - e.max(axis=2, keepdims=True))
        et = self._exp_trans
        alpha = np.empty_like(ex)
        a = ex[:, 0, :] / ex[:, 0, :].sum(axis=1, keepdims=True)
        alpha[:, 0] = a
        for t in range(1, t_max):
            a = (a @ et) * ex[:, t]
            a /= a.sum(axis=1, keepdims=True)
            alpha[:, t] = a
        beta = np.empty_like(ex)
        ends = lens - 1
        ones = np.full((b, n_labels), 1.0 / n_labels)
        bt = ones
        for t in range(t_max - 1, -1, -1):
            if t < t_max - 1:
                bt = (ex[:, t + 1] * bt) @ et.T
                bt /= bt.sum(axis=1, keepdims=True)
            bt = np.where((ends <= t)[:, None], ones, bt)
            beta[:, t] = bt
        p: FloatArray = alpha * beta
        p /= p.sum(axis=2, keepdims=True)
        return p


def _buckets(sorted_lens: IntArray) -> list[slice]:
    """Slices of ascending lengths whose longest is at most ``_BUCKET_RATIO`` x the shortest."""
    out: list[slice] = []
    start = 0
    n = len(sorted_lens)
    while start < n:
        limit = max(int(sorted_lens[start] * _BUCKET_RATIO), int(sorted_lens[start]) + 8)
        end = int(np.searchsorted(sorted_lens, limit, side="right"))
        out.append(slice(start, max(end, start + 1)))
        start = max(end, start + 1)
    return out
