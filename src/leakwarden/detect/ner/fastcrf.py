"""Our decoder for the shipped name/address CRF: crfsuite's labels, without crfsuite.

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

The per-position loops (emission sums, Viterbi, forward-backward) and the hash lookups run in the
Cython module ``_crfc`` (built at install; ``backend="compiled"``, the default); the whole-array
NumPy code described above is ``backend="numpy"``, the reference ``tests/test_ner_crfc.py``
compares the compiled loops with.  The equality with crfsuite is checked by
``tests/test_ner_fastcrf.py`` on held-out corpora.
"""

from __future__ import annotations

import importlib
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from leakwarden.detect.ner import features as _features
from leakwarden.detect.ner.corpora import tag_codes
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
_BUCKET_RATIO = 1.5  # longest / shortest segment within one first-cut Viterbi bucket
_STEP_COST = 1.0  # cost model of one padded bucket: fixed cost of one position step ...
_ROW_COST = 0.02  # ... and the cost of one more segment in that step
_GAZ_ALPHA = "BEIO"  # gazetteer marks: begin, end, inside, outside
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing of attribute keys
_POLY = np.uint64(0x100000001B3)  # polynomial hash of gazetteer windows (verified exactly)


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
    try:
        return _read_model(model)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"crfsuite model is truncated or corrupt: {exc}") from exc


def _read_model(model: bytes) -> CRFWeights:
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
    k = _TEMPLATE_OF.get((attr[:2], len(attr) - 2), _TEMPLATE_OF.get((attr[:1], len(attr) - 1)))
    if k is None:
        return None
    body = attr[len(TEMPLATES[k][0]) :]
    if len(body) <= 2:
        key = 0
        for ch in body:
            key = (key << _CP_BITS) | ord(ch)
        return (k << _TEMPLATE_SHIFT) | key
    if not body.isascii():
        return None
    key = 0
    for ch in body:
        key = (key << _ASCII_BITS) | ord(ch)
    return (k << _TEMPLATE_SHIFT) | key


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


BACKENDS = ("compiled", "numpy")


def _compiled_module() -> Any:
    """The compiled loops (``_crfc``, built by setup.py at install time)."""
    try:
        return importlib.import_module("leakwarden.detect.ner._crfc")
    except ImportError as exc:
        raise ImportError(
            "leakwarden's compiled CRF decoder (leakwarden.detect.ner._crfc) is not built: "
            "reinstall the package (pip install -e .) with a C compiler and Python headers, "
            "or pass backend='numpy' for the slow reference decoder"
        ) from exc


class FastCRF:
    """Viterbi + marginals over a crfsuite model and the featurizer that trained it.

    ``backend="compiled"`` (the default) runs the per-position loops in the Cython module
    ``_crfc``; ``backend="numpy"`` is the whole-array NumPy reference they are tested against.
    Both give crfsuite's labels."""

    def __init__(self, model: bytes, featurizer: Featurizer, backend: str = "compiled") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown CRF backend {backend!r}; use one of {BACKENDS}")
        self._c: Any = _compiled_module() if backend == "compiled" else None
        self.backend = backend
        w = read_model(model)
        self.labels = w.labels
        n_labels = len(w.labels)
        if "O" not in self.labels:
            raise ModelFormatError(f"model labels {self.labels} lack 'O'")
        self._outside = self.labels.index("O")
        self._label_codes = tag_codes(self.labels)  # label id -> "O"/"P"/"p"/"A"/"a"
        keys = np.array([-1 if k is None else k for k in map(_attribute_key, w.attributes)])
        unknown = [a for a, k in zip(w.attributes, keys.tolist(), strict=True) if k < 0]
        if unknown:
            raise ModelFormatError(
                f"{len(unknown)} model attributes match no feature template, e.g. {unknown[0]!r}"
            )
        if len(np.unique(keys)) != len(keys):
            raise ModelFormatError("two model attributes map to the same key")
        # Row a of the weight table belongs to attribute a; the extra last row is all zeros
        # (an attribute the model does not know contributes nothing, as in crfsuite).
        table = np.zeros((len(keys) + 1, n_labels))
        table[w.state_attr, w.state_label] = w.state_weight
        self._table = table
        self._missing = len(keys)
        self._attr_id = {a: i for i, a in enumerate(w.attributes)}
        self._by_key = _HashTable(keys, np.arange(len(keys))[:, None], self._missing, self._c)
        # One probe per bigram gives its attribute ids under all four bigram templates.
        bigram = (keys >> _TEMPLATE_SHIFT >= 3) & (keys >> _TEMPLATE_SHIFT <= 6)
        body = keys & ((1 << _TEMPLATE_SHIFT) - 1)
        uniq, inverse = np.unique(body[bigram], return_inverse=True)
        ids = np.full((len(uniq), 4), self._missing, dtype=np.int64)
        ids[inverse, (keys[bigram] >> _TEMPLATE_SHIFT) - 3] = np.flatnonzero(bigram)
        self._by_bigram = _HashTable(uniq, ids, self._missing, self._c)
        self._trans = w.transitions
        self._exp_trans = np.exp(w.transitions)
        self._exp_trans_t = np.ascontiguousarray(self._exp_trans.T)
        self._trans_to_from = np.ascontiguousarray(w.transitions.T)[:, :, None]
        # Forward-backward rescales every `renorm` steps: one step changes a column's mass by at
        # most this factor either way (log), so 120 / it steps stay far from over/underflow.
        spread = float(np.log(n_labels) + w.transitions.max() - 2 * w.transitions.min())
        self._renorm = max(1, min(8, int(120 / max(spread, 1.0))))
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
        self._build_dense()
        self._build_gazetteer()

    def lookup(self, keys: IntArray) -> IntArray:
        """Attribute id of each key (any shape); ``len(attributes)`` (a zero row) when unknown."""
        ids: IntArray = self._by_key.lookup(keys.ravel())[:, 0].reshape(keys.shape)
        return ids

    # -- emissions ------------------------------------------------------------------------

    def _build_dense(self) -> None:
        """Direct tables (no hashing) for the templates with small key spaces: the unigrams over
        the BMP, the class window and the marker window (built through :meth:`lookup`)."""
        bmp = np.arange(self._bmp, dtype=np.int64)
        self._dense_uni = [self.lookup((k << _TEMPLATE_SHIFT) | bmp) for k in range(3)]
        ab = _ASCII_BITS
        cls_alpha = sorted({chr(c) for c in self._class_tab.tolist()} | {"_"})
        mark_alpha = sorted({chr(c) for c in self._mark_tab.tolist()} | set("^$yz"))
        self._n_cls, self._n_mark = len(cls_alpha), len(mark_alpha)
        self._cls_code = _code_table(cls_alpha)
        self._mark_code = _code_table(mark_alpha)
        self._gaz_code = _code_table(_GAZ_ALPHA)
        cls_ord = np.array([ord(c) for c in cls_alpha], dtype=np.int64)
        c = cls_ord[np.indices((self._n_cls,) * 5).reshape(5, -1)]
        k_keys = (c[0] << 4 * ab) | (c[1] << 3 * ab) | (c[2] << 2 * ab) | (c[3] << ab) | c[4]
        self._dense_k = self.lookup((7 << _TEMPLATE_SHIFT) | k_keys)
        mark_ord = np.array([ord(c) for c in mark_alpha], dtype=np.int64)
        gaz_ord = np.array([ord(c) for c in _GAZ_ALPHA], dtype=np.int64)
        idx = np.indices((self._n_mark, self._n_mark, self._n_mark, len(_GAZ_ALPHA))).reshape(4, -1)
        m0, m1, m2, g = mark_ord[idx[0]], mark_ord[idx[1]], mark_ord[idx[2]], gaz_ord[idx[3]]
        m_keys = (m0 << 3 * ab) | (m1 << 2 * ab) | (m2 << ab) | g
        self._dense_m = self.lookup((8 << _TEMPLATE_SHIFT) | m_keys)
        self._dense_uni_table = np.ascontiguousarray(np.stack(self._dense_uni))
        # class and marker tables straight to alphabet positions (for ``_crfc.char_codes``)
        self._cls_idx_tab = np.ascontiguousarray(self._cls_code[self._class_tab])
        self._mark_idx_tab = np.ascontiguousarray(self._mark_code[self._mark_tab])
        self._window_codes = (
            ord(_features._PAD_L[0]),
            ord(_features._PAD_R[0]),
            int(self._cls_code[ord("_")]),
            int(self._mark_code[ord("^")]),
            int(self._mark_code[ord("$")]),
            self._n_cls,
            self._n_mark,
            len(_GAZ_ALPHA),
            _TEMPLATE_SHIFT,
            _CP_BITS,
        )

    def _build_gazetteer(self) -> None:
        """Polynomial hashes of the place names, per length (matches are verified exactly)."""
        places = sorted(self._featurizer.places)
        self._place_end: npt.NDArray[np.bool_] | None = np.zeros(self._bmp, dtype=bool)
        if not places or any(ord(ch) >= self._bmp or ch == "\ufffd" for p in places for ch in p):
            self._place_end = None  # the featurizer's own loop handles such lists
            return
        hashes = []
        for place in places:
            self._place_end[ord(place[-1])] = True
            hashes.append(_poly_hash(place))
        unique = np.unique(np.array(hashes, dtype=np.uint64).view(np.int64))
        if np.any(unique == -1):  # the hash table's empty-slot marker (odds 2**-64 a place)
            self._place_end = None
            return
        self._place_set = _HashTable(unique, np.zeros((len(unique), 1), dtype=np.int64), 1, self._c)
        self._place_maxlen = max(len(p) for p in places)
        powers = [pow(_POLY_INT, k, 1 << 64) for k in range(self._place_maxlen)]
        self._place_powers = np.array(powers, dtype=np.uint64)

    def gazetteer_marks(self, text: str) -> str:
        """``Featurizer._gazetteer_marks(text)`` (B/I/E/O per character), vectorised."""
        cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
        return self._gazetteer_bytes(text, cps).decode("ascii")

    def _gazetteer_bytes(self, text: str, cps: IntArray) -> bytes:
        if self._place_end is None:
            return self._featurizer._gazetteer_marks(text).encode("ascii")
        marks = bytearray(b"O" * len(text))
        ends = np.flatnonzero(self._place_end[np.minimum(cps, self._bmp - 1)] & (cps < self._bmp))
        if not ends.size:
            return bytes(marks)
        # h[:, k] = hash of the k + 1 characters ending at each place-end character
        back = ends[:, None] - np.arange(self._place_maxlen)[None, :]
        h = np.cumsum(cps[np.maximum(back, 0)].view(np.uint64) * self._place_powers, axis=1)
        hv = h[:, 1:].view(np.int64)  # windows of 2.. characters (uint64 arithmetic wraps)
        known = self._place_set.lookup(hv.ravel())[:, 0].reshape(hv.shape) == 0
        row, col = np.nonzero(known & (back[:, 1:] >= 0))
        if not row.size:
            return bytes(marks)
        end_at = ends[row]
        lengths = col + 2
        order = np.lexsort((-lengths, end_at))  # by end, then longest first: the featurizer's
        places = self._featurizer.places
        covered = last = -1
        for j, length in zip(end_at[order].tolist(), lengths[order].tolist(), strict=True):
            start = j - length + 1
            if j != last and start > covered and text[start : j + 1] in places:
                marks[start] = 66  # B
                marks[start + 1 : j] = b"I" * (length - 2)
                marks[j] = 69  # E
                covered = last = j
        return bytes(marks)

    def _unigram_ids(self, template: int, cps: IntArray) -> IntArray:
        ids = self._dense_uni[template][np.minimum(cps, self._bmp - 1)]
        beyond = cps >= self._bmp
        if beyond.any():
            ids[beyond] = self.lookup((template << _TEMPLATE_SHIFT) | cps[beyond])
        return ids

    def _char_arrays(self, text: str) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """(normal form, class code, marker code, gazetteer code) of every character."""
        if self._c is not None:
            cps, norm, cls, mark = self._c.char_codes(
                text, self._norm_tab, self._cls_idx_tab, self._mark_idx_tab
            )
        else:
            cps = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
            bmp = cps < self._bmp
            coded = np.where(bmp, cps, 0xFFFD)  # the featurizer codes astral characters as FFFD
            norm = self._norm_tab[coded]
            if not bmp.all():
                norm[~bmp] = cps[~bmp]  # ... but leaves them as they are in the normal form
            cls = self._cls_code[self._class_tab[coded]]
            mark = self._mark_code[self._mark_tab[coded]]
        fz = self._featurizer
        compound_re = fz._compound_re
        if compound_re is not None:
            hits = np.fromiter((m.start() for m in compound_re.finditer(text)), dtype=np.int64)
            if hits.size:
                mark[hits] = self._mark_code[ord("y")]
                mark[hits + 1] = self._mark_code[ord("z")]
        gaz_marks = np.frombuffer(self._gazetteer_bytes(text, cps), dtype=np.uint8)
        return norm, cls, mark, self._gaz_code[gaz_marks]

    def _window_args(self) -> tuple[Any, ...]:
        return (
            self._window_codes,
            self._dense_uni_table,
            self._by_key.parts(),
            self._by_bigram.parts(),
            self._dense_k,
            self._dense_m,
        )

    def attribute_ids(self, text: str) -> IntArray:
        """(9, n) model attribute ids of the nine attributes of every character of ``text``
        (``len(attributes)``, a zero row, where the model lacks the attribute)."""
        norm, cls, mark, gaz = self._char_arrays(text)
        if self._c is not None:
            out: IntArray = self._c.window_ids(norm, cls, mark, gaz, *self._window_args())
        else:
            out = self._window_ids(norm, cls, mark, gaz)
        nul = np.flatnonzero(norm == 0)
        if nul.size:
            pad_l, pad_r = ord(_features._PAD_L[0]), ord(_features._PAD_R[0])
            self._nul_attributes(out, np.concatenate(([pad_l, pad_l], norm, [pad_r, pad_r])), nul)
        return out

    def _window_ids(self, norm: IntArray, cls: IntArray, mark: IntArray, gaz: IntArray) -> IntArray:
        """The windowed steps of :meth:`attribute_ids` in NumPy (the reference of
        ``_crfc.window_ids``)."""
        n = len(norm)
        pad_l, pad_r = ord(_features._PAD_L[0]), ord(_features._PAD_R[0])
        t = np.concatenate(([pad_l, pad_l], norm, [pad_r, pad_r]))  # position i at t[i + 2]
        under = self._cls_code[ord("_")]
        k = np.concatenate(([under, under], cls, [under, under]))
        mk = np.concatenate(
            ([self._mark_code[ord("^")]], mark, [self._mark_code[ord("$")]])
        )  # position i at mk[i + 1]

        out = np.empty((len(TEMPLATES), n), dtype=np.int64)
        out[0] = self._unigram_ids(0, t[2:-2])
        out[1] = self._unigram_ids(1, t[1:-3])
        out[2] = self._unigram_ids(2, t[3:-1])
        bg = self._by_bigram.lookup((t[:-1] << _CP_BITS) | t[1:])  # bg[j]: t[j] t[j+1]
        out[3] = bg[1 : n + 1, 0]  # lb: characters i-1, i
        out[4] = bg[2 : n + 2, 1]  # rb: i, i+1
        out[5] = bg[0:n, 2]  # LB: i-2, i-1
        out[6] = bg[3 : n + 3, 3]  # RB: i+1, i+2
        nc, nm = self._n_cls, self._n_mark
        out[7] = self._dense_k[
            (((k[:-4] * nc + k[1:-3]) * nc + k[2:-2]) * nc + k[3:-1]) * nc + k[4:]
        ]
        out[8] = self._dense_m[((mk[:-2] * nm + mk[1:-1]) * nm + mk[2:]) * len(_GAZ_ALPHA) + gaz]
        return out

    def _nul_attributes(self, out: IntArray, t: IntArray, nul: IntArray) -> None:
        """crfsuite reads attributes as C strings, cut at the first NUL ("rb" + NUL + "x" is
        the attribute "rb", the right neighbour "b"): redo the windows around NULs that way."""
        n = out.shape[1]
        near = np.unique(np.clip(nul[:, None] + np.arange(-2, 3)[None, :], 0, n - 1))
        # template -> offsets into t of its characters (position i sits at t[i + 2])
        windows: tuple[tuple[int, tuple[int, ...]], ...] = (
            (0, (2,)),
            (1, (1,)),
            (2, (3,)),
            (3, (1, 2)),
            (4, (2, 3)),
            (5, (0, 1)),
            (6, (3, 4)),
        )
        for i in near.tolist():
            for k, offsets in windows:
                attr = TEMPLATES[k][0] + "".join(chr(t[i + o]) for o in offsets)
                out[k, i] = self._attr_id.get(attr.split("\x00", 1)[0], self._missing)

    def emissions(self, text: str) -> FloatArray:
        """(n, L) state scores of ``text``: crfsuite's, summed in the same order."""
        if self._c is not None and "\x00" not in text:
            # ids and sums in one compiled loop (NULs need _nul_attributes between the two)
            norm, cls, mark, gaz = self._char_arrays(text)
            fused: FloatArray = self._c.window_ids(
                norm, cls, mark, gaz, *self._window_args(), self._table
            )
            return fused
        idx = self.attribute_ids(text)
        if self._c is not None:
            out: FloatArray = self._c.emissions(idx, self._table)
            return out
        rows = np.take(self._table, idx, axis=0)  # (9, n, L)
        acc: FloatArray = rows[0].copy()
        for k in range(1, len(TEMPLATES)):  # crfsuite's order: c l r lb rb LB RB K m
            acc += rows[k]
        return acc

    # -- decoding -------------------------------------------------------------------------

    def decode(self, segments: Sequence[str]) -> list[Decoded]:
        """Labels (and marginals where a label is not ``O``) of each segment.

        The segments are featurised together, joined with the featurizer's separator exactly as
        :meth:`Featurizer.features_many` does, so each one's attributes are its own.
        """
        return [d for d in self._decode(segments, tagged_only=False) if d is not None]

    def decode_tagged(self, segments: Sequence[str]) -> list[tuple[int, Decoded]]:
        """(index, decoding) of the segments with a label other than ``O``, in order: what
        :meth:`decode` gives them, without building an answer for every all-``O`` segment."""
        out = self._decode(segments, tagged_only=True)
        return [(i, d) for i, d in enumerate(out) if d is not None and d.marginals is not None]

    def decode_spans(
        self, segments: Sequence[str]
    ) -> tuple[list[int], list[int], list[int], list[str], list[float]]:
        """The spans of every segment without an object per segment (compiled backend): lists
        (segment index, start, end, code of the first label: "P"/"p" a name, "A"/"a" an
        address, the smallest marginal of the span's labels), in order.  The same spans and
        scores as :meth:`decode_tagged` + ``corpora.spans_from_codes`` per segment."""
        if self._c is None:
            raise ValueError("decode_spans needs the compiled backend")
        lengths = np.array([len(s) for s in segments], dtype=np.int64)
        bounds = np.zeros(len(segments) + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        if not bounds[-1]:
            return [], [], [], [], []
        lens = lengths[lengths > 0]
        sep = _features._SEPARATOR
        emis = self.emissions(sep.join(s for s in segments if s))
        starts = np.zeros(len(lens), dtype=np.int64)
        starts[1:] = np.cumsum(lens + len(sep))[:-1]
        c = self._c
        labels = c.viterbi(emis, starts, lens, self._trans)
        tagged = np.zeros(len(labels) + 1, dtype=np.int64)
        np.cumsum(labels != self._outside, out=tagged[1:])
        ends = np.cumsum(lens)
        any_tag = (tagged[ends] - tagged[ends - lens]) > 0
        if not any_tag.any():
            return [], [], [], [], []
        margs = c.marginals_many(emis, starts, lens, any_tag.view(np.uint8), self._exp_trans)
        chosen = np.ascontiguousarray(margs[np.arange(len(labels)), labels])
        spans: tuple[list[int], list[int], list[int], list[str], list[float]]
        spans = c.spans(labels, bounds, chosen, self._label_codes)
        return spans

    def _decode(self, segments: Sequence[str], tagged_only: bool) -> list[Decoded | None]:
        out: list[Decoded | None] = [None] * len(segments)
        lengths = np.array([len(s) for s in segments], dtype=np.int64)
        nonempty = np.flatnonzero(lengths)
        for i in np.flatnonzero(lengths == 0).tolist():
            out[i] = Decoded(self.labels, np.zeros(0, dtype=np.int64), None)
        if nonempty.size == 0:
            return out
        sep = _features._SEPARATOR
        emis = self.emissions(sep.join(segments[i] for i in nonempty.tolist()))
        lens = lengths[nonempty]
        starts = np.zeros(len(lens), dtype=np.int64)
        starts[1:] = np.cumsum(lens + len(sep))[:-1]
        if self._c is not None:
            self._decode_compiled(emis, starts, lens, nonempty, out, tagged_only)
            return out
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
        return out

    def _decode_compiled(
        self,
        emis: FloatArray,
        starts: IntArray,
        lens: IntArray,
        nonempty: IntArray,
        out: list[Decoded | None],
        tagged_only: bool,
    ) -> None:
        """Viterbi for every segment, marginals for those with a label other than ``O``
        (``tagged_only``: answers for those segments alone)."""
        c = self._c
        labels = c.viterbi(emis, starts, lens, self._trans)
        bounds = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=bounds[1:])
        tagged = np.zeros(len(labels) + 1, dtype=np.int64)
        np.cumsum(labels != self._outside, out=tagged[1:])
        any_tag = (tagged[bounds[1:]] - tagged[bounds[:-1]]) > 0
        margs = c.marginals_many(emis, starts, lens, any_tag.view(np.uint8), self._exp_trans)
        los, his, where = bounds[:-1].tolist(), bounds[1:].tolist(), nonempty.tolist()
        if tagged_only:
            for m in np.flatnonzero(any_tag).tolist():
                lo, hi = los[m], his[m]
                out[where[m]] = Decoded(self.labels, labels[lo:hi], margs[lo:hi])
            return
        for m, has in enumerate(any_tag.tolist()):
            lo, hi = los[m], his[m]
            out[where[m]] = Decoded(self.labels, labels[lo:hi], margs[lo:hi] if has else None)

    def _decode_padded(
        self, emis: FloatArray, starts: IntArray, lens: IntArray
    ) -> tuple[IntArray, list[FloatArray | None] | None]:
        """Labels (B, T) and per-row marginals of segments padded to the longest, T."""
        steps = np.arange(int(lens.max()), dtype=np.int64)
        pos = starts[None, :] + np.minimum(steps[:, None], lens[None, :] - 1)  # (T, B)
        # (T, L, B): label rows contiguous over the batch; positions past a segment's end repeat
        # its last row and are never read back.
        e = np.ascontiguousarray(emis[pos].transpose(0, 2, 1))
        labels, margs = self._forward_backward(e, lens, self._renorm)
        if margs is not None and not np.isfinite(margs).all():  # scaling was not enough
            labels, margs = self._forward_backward(e, lens, 1)
        valid = steps[None, :] < lens[:, None]
        tagged = np.any((labels != self._outside) & valid, axis=1)
        if margs is None or not tagged.any():
            return labels, None
        per_row: list[FloatArray | None] = [None] * len(lens)
        for r in np.flatnonzero(tagged).tolist():
            per_row[r] = np.ascontiguousarray(margs[: int(lens[r]), :, r])
        return labels, per_row

    def _forward_backward(
        self, e: FloatArray, lens: IntArray, renorm: int
    ) -> tuple[IntArray, FloatArray | None]:
        """Viterbi labels (B, T) and marginals (T, L, B) from (T, L, B) state scores.

        Viterbi is crfsuite's: curr[j] = max_i(prev[i] + trans[i][j]) + state[j], the first
        ``i`` on ties, the first best label at the end; the forward pass keeps only the scores
        and the back pointers of the chosen path are recomputed while tracing back (the same
        sums, so the same choices).  The marginals come from forward-backward on
        ``exp(state - max)``, rescaled every ``renorm`` steps (a per-position scale cancels in
        alpha * beta / sum)."""
        t_max, _, b = e.shape
        ends_at = _rows_by_value(lens - 1)
        trans_to_from = self._trans_to_from
        et, et_t = self._exp_trans, self._exp_trans_t
        ex = np.exp(e - e.max(axis=1, keepdims=True))
        hist = np.empty_like(e)
        hist[0] = e[0]
        alpha = np.empty_like(e)
        alpha[0] = ex[0]
        best_last = np.zeros(b, dtype=np.int64)
        cand = np.empty((e.shape[1], e.shape[1], b))  # (to, from, B), reused every step
        # per-position views, made once (list indexing is cheaper than array indexing)
        es, exs, hs, als = list(e), list(ex), list(hist), list(alpha)
        hs3 = list(hist[:, None, :, :])
        add, maxreduce, dot = np.add, np.maximum.reduce, np.dot
        for t in range(t_max):
            if t:
                add(hs3[t - 1], trans_to_from, out=cand)
                h = hs[t]
                maxreduce(cand, axis=1, out=h)
                h += es[t]
                a = als[t]
                dot(et_t, als[t - 1], out=a)
                a *= exs[t]
                if t % renorm == 0:
                    a /= a.sum(axis=0)
            rows = ends_at.get(t)
            if rows is not None:
                best_last[rows] = hs[t][:, rows].argmax(axis=0)
        path: list[IntArray] = []
        cur = np.zeros(b, dtype=np.int64)
        beta = np.empty_like(e)
        bes = list(beta)
        step = np.empty_like(e[0])
        take = self._trans.take
        for t in range(t_max - 1, -1, -1):
            rows = ends_at.get(t)
            if rows is not None:
                cur[rows] = best_last[rows]
            path.append(cur)
            bt = bes[t]
            if t == t_max - 1:
                bt.fill(1.0)
            else:
                np.multiply(exs[t + 1], bes[t + 1], out=step)
                dot(et, step, out=bt)
                if t % renorm == 0:
                    bt /= bt.sum(axis=0)
                if rows is not None:  # a segment's last position starts its backward pass
                    bt[:, rows] = 1.0
            if t:
                add(hs[t - 1], take(cur, axis=1), out=step)
                cur = step.argmax(axis=0)
        labels = np.stack(path[::-1], axis=1)
        if not np.any(labels != self._outside):
            return labels, None
        margs: FloatArray = alpha * beta
        margs /= margs.sum(axis=1, keepdims=True)
        return labels, margs


def _buckets(sorted_lens: IntArray) -> list[slice]:
    """Slices of ascending lengths to pad and decode together.

    A bucket costs about (longest length) x (fixed per-step cost + per-row cost x rows): start
    with buckets whose longest is at most ``_BUCKET_RATIO`` x the shortest, then merge
    neighbours while that lowers the estimate (few segments: one bucket, many: several)."""
    groups: list[list[int]] = []  # [start, end, longest]
    start = 0
    n = len(sorted_lens)
    while start < n:
        limit = max(int(sorted_lens[start] * _BUCKET_RATIO), int(sorted_lens[start]) + 8)
        end = max(int(np.searchsorted(sorted_lens, limit, side="right")), start + 1)
        groups.append([start, end, int(sorted_lens[end - 1])])
        start = end

    def cost(g: list[int]) -> float:
        return g[2] * (_STEP_COST + _ROW_COST * (g[1] - g[0]))

    while len(groups) > 1:
        gains = [
            cost(a) + cost(b) - cost([a[0], b[1], b[2]]) for a, b in itertools.pairwise(groups)
        ]
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        a, b = groups[best], groups[best + 1]
        groups[best : best + 2] = [[a[0], b[1], b[2]]]
    return [slice(g[0], g[1]) for g in groups]


class _HashTable:
    """Open addressing (linear probing, load <= 1/2) from int64 keys to rows of int64 values.

    The slots hold a row number (int32) into the compact value table, whose extra last row is
    ``missing``: small arrays, so lookups mostly hit the cache."""

    def __init__(
        self, keys: IntArray, values: IntArray, missing: int, compiled: Any = None
    ) -> None:
        bits = max(10, len(keys).bit_length() + 1)
        self._bits = bits
        self._c = compiled
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._keys = np.full(1 << bits, -1, dtype=np.int64)
        self._rows = np.full(1 << bits, len(keys), dtype=np.int32)
        self._values = np.vstack([values, np.full((1, values.shape[1]), missing)]).astype(np.int64)
        for row, h in enumerate(self._hash(keys).tolist()):
            while self._keys[h] != -1:
                h = (h + 1) & self._mask
            self._keys[h] = keys[row]
            self._rows[h] = row

    def parts(self) -> tuple[IntArray, npt.NDArray[np.int32], int, IntArray]:
        """(slot keys, slot rows, bits, values): the table as ``_crfc.window_ids`` reads it."""
        return self._keys, self._rows, self._bits, self._values

    def _hash(self, keys: IntArray) -> IntArray:
        return ((keys.view(np.uint64) * _HASH_MULT) >> self._shift).view(np.int64)

    def lookup(self, keys: IntArray) -> IntArray:
        """(len(keys), width) values; ``missing`` in every column of an unknown key."""
        if self._c is not None:
            found = self._c.hash_rows(
                np.ascontiguousarray(keys, dtype=np.int64),
                self._keys,
                self._rows,
                self._bits,
                len(self._values) - 1,
            )
            by_row: IntArray = self._values[found]
            return by_row
        pos = self._hash(keys)
        slot = self._keys[pos]
        rows = self._rows[pos]  # empty slots point at the ``missing`` row
        probe = np.flatnonzero((slot != keys) & (slot != -1))  # collisions: probe on
        rows[probe] = len(self._values) - 1
        at = pos[probe]
        while probe.size:
            at = (at + 1) & self._mask
            slot = self._keys[at]
            hit = slot == keys[probe]
            rows[probe[hit]] = self._rows[at[hit]]
            more = ~hit & (slot != -1)
            probe, at = probe[more], at[more]
        out: IntArray = self._values[rows]
        return out


_U64 = (1 << 64) - 1
_POLY_INT = int(_POLY)


def _poly_hash(s: str) -> int:
    """sum(ord(s[-1 - k]) * P**k) mod 2**64, as ``_gazetteer_bytes`` builds it per window."""
    h = 0
    for k, ch in enumerate(reversed(s)):
        h = (h + ord(ch) * pow(_POLY_INT, k, 1 << 64)) & _U64
    return h


def _code_table(alphabet: Sequence[str]) -> IntArray:
    """ASCII/Latin-1 code -> position in ``alphabet`` (-1 elsewhere: such codes never occur)."""
    table = np.full(256, -1, dtype=np.int64)
    for i, ch in enumerate(alphabet):
        table[ord(ch)] = i
    return table


def _rows_by_value(values: IntArray) -> dict[int, IntArray]:
    """{value: indices holding it}."""
    order = np.argsort(values, kind="stable")
    uniq, first = np.unique(values[order], return_index=True)
    return dict(zip(uniq.tolist(), np.split(order, first[1:]), strict=True))
