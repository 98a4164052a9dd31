# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loops of :class:`leakwarden.detect.ner.fastcrf.FastCRF` (built by setup.py).

Three loops the NumPy reference (``FastCRF(..., backend="numpy")``) runs as whole-array steps:

* ``emissions``: the sum of the nine attribute weight rows of every character, added in the
  same order (so the same doubles, bit for bit);
* ``viterbi``: crfsuite's Viterbi per segment, ``curr[j] = max_i(prev[i] + trans[i][j]) +
  state[j]`` with the first ``i`` on ties and the first best label at the end;
* ``marginals``: forward-backward on ``exp(state - max)`` rescaled at every position (the
  scale cancels in alpha * beta / sum), for the segments that need them.

Two more replace the NumPy featurising steps of ``FastCRF.attribute_ids`` (the reference):

* ``char_codes``: code point, normal form, class and marker code of every character, read
  straight from the ``str``;
* ``window_ids``: the nine attribute ids of every position from those codes (unigram and
  bigram hash probes, class and marker windows) in one loop instead of a dozen whole-array
  temporaries.

And two take the tagger's per-segment Python away: ``segments`` (the CJK-bearing segments of a
text, ``tagger._segments``'s regular expressions being the reference) and ``spans`` (the name and
address spans of every decoded segment with their smallest marginal, as
``corpora.spans_from_codes`` finds them per segment).

Compiled without contraction of multiply-adds (``-ffp-contract=off``) so the sums are IEEE
double sums in source order; ``tests/test_ner_crfc.py`` checks every function against the
NumPy reference.
"""

from libc.math cimport exp
from cpython.bytes cimport PyBytes_AS_STRING
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_KIND, PyUnicode_READ
from libc.stdint cimport int32_t, int64_t, uint64_t

import numpy as np


def emissions(const int64_t[:, ::1] idx, const double[:, ::1] table):
    """(n, L) scores: table[idx[0, i]] + table[idx[1, i]] + ... + table[idx[K-1, i]]."""
    cdef Py_ssize_t k_n = idx.shape[0], n = idx.shape[1], n_labels = table.shape[1]
    cdef Py_ssize_t rows = table.shape[0]
    cdef Py_ssize_t i, k, j, r
    out_arr = np.empty((n, n_labels), dtype=np.float64)
    cdef double[:, ::1] out = out_arr
    for k in range(k_n):
        for i in range(n):
            r = idx[k, i]
            if r < 0 or r >= rows:
                raise IndexError(f"attribute row {r} outside the weight table of {rows} rows")
    with nogil:
        for i in range(n):
            r = idx[0, i]
            for j in range(n_labels):
                out[i, j] = table[r, j]
            for k in range(1, k_n):
                r = idx[k, i]
                for j in range(n_labels):
                    out[i, j] = out[i, j] + table[r, j]
    return out_arr


def viterbi(
    const double[:, ::1] emis,
    const int64_t[::1] starts,
    const int64_t[::1] lens,
    const double[:, ::1] trans,
):
    """Labels of every segment (segment s is emis[starts[s] : starts[s] + lens[s]]), written
    one after the other into one int64 array of sum(lens) entries."""
    cdef Py_ssize_t n_seg = starts.shape[0], n_labels = trans.shape[0]
    cdef Py_ssize_t s, t, i, j, n, base, total = 0, at = 0, longest = 0
    for s in range(n_seg):
        if lens[s] < 0 or starts[s] < 0 or starts[s] + lens[s] > emis.shape[0]:
            raise IndexError(f"segment {s} lies outside the emission rows")
        total += lens[s]
        if lens[s] > longest:
            longest = lens[s]
    if emis.shape[1] != n_labels or trans.shape[1] != n_labels:
        raise ValueError("emission and transition tables disagree on the number of labels")
    labels_arr = np.zeros(total, dtype=np.int64)
    cdef int64_t[::1] labels = labels_arr
    back_arr = np.zeros((max(longest, 1), n_labels), dtype=np.int64)
    cdef int64_t[:, ::1] back = back_arr
    score_arr = np.zeros((2, n_labels), dtype=np.float64)
    cdef double[:, ::1] score = score_arr
    cdef double best, v
    cdef Py_ssize_t arg, cur, prev_row, cur_row
    with nogil:
        for s in range(n_seg):
            n = lens[s]
            base = starts[s]
            if n == 0:
                continue
            for j in range(n_labels):
                score[0, j] = emis[base, j]
            for t in range(1, n):
                prev_row = (t - 1) & 1
                cur_row = t & 1
                for j in range(n_labels):
                    best = score[prev_row, 0] + trans[0, j]
                    arg = 0
                    for i in range(1, n_labels):
                        v = score[prev_row, i] + trans[i, j]
                        if v > best:
                            best = v
                            arg = i
                    score[cur_row, j] = best + emis[base + t, j]
                    back[t, j] = arg
            cur_row = (n - 1) & 1
            cur = 0
            best = score[cur_row, 0]
            for j in range(1, n_labels):
                if score[cur_row, j] > best:
                    best = score[cur_row, j]
                    cur = j
            labels[at + n - 1] = cur
            for t in range(n - 1, 0, -1):
                cur = back[t, cur]
                labels[at + t - 1] = cur
            at += n
    return labels_arr


def marginals_many(
    const double[:, ::1] emis,
    const int64_t[::1] starts,
    const int64_t[::1] lens,
    const unsigned char[::1] wanted,
    const double[:, ::1] exp_trans,
):
    """(sum(lens), L) P(label at t | segment) of every segment s with wanted[s] (segment s is
    emis[starts[s] : starts[s] + lens[s]]; its rows come one after the other, as ``viterbi``
    writes labels); the rows of the other segments are left at zero."""
    cdef Py_ssize_t n_seg = starts.shape[0], n_labels = exp_trans.shape[0]
    cdef Py_ssize_t s, total = 0, at = 0, longest = 0
    if lens.shape[0] != n_seg or wanted.shape[0] != n_seg:
        raise ValueError("starts, lens and wanted differ in length")
    if emis.shape[1] != n_labels or exp_trans.shape[1] != n_labels:
        raise ValueError("emission and transition tables disagree on the number of labels")
    for s in range(n_seg):
        if lens[s] < 0 or starts[s] < 0 or starts[s] + lens[s] > emis.shape[0]:
            raise IndexError(f"segment {s} lies outside the emission rows")
        total += lens[s]
        if lens[s] > longest:
            longest = lens[s]
    out_arr = np.zeros((total, n_labels), dtype=np.float64)
    cdef double[:, ::1] out = out_arr
    beta_arr = np.empty((max(longest, 1), n_labels), dtype=np.float64)
    ex_arr = np.empty((max(longest, 1), n_labels), dtype=np.float64)
    cdef double[:, ::1] beta = beta_arr
    cdef double[:, ::1] ex = ex_arr
    with nogil:
        for s in range(n_seg):
            if wanted[s] and lens[s] > 0:
                _marginals(emis, starts[s], lens[s], exp_trans, out, at, beta, ex)
            at += lens[s]
    return out_arr


cdef void _marginals(
    const double[:, ::1] emis,
    Py_ssize_t start,
    Py_ssize_t n,
    const double[:, ::1] exp_trans,
    double[:, ::1] alpha,
    Py_ssize_t at,
    double[:, ::1] beta,
    double[:, ::1] ex,
) noexcept nogil:
    """Marginals of emis[start : start + n] into alpha[at : at + n] (beta, ex: scratch)."""
    cdef Py_ssize_t n_labels = exp_trans.shape[0]
    cdef Py_ssize_t t, i, j
    cdef double m, total, acc
    for t in range(n):
        m = emis[start + t, 0]
        for j in range(1, n_labels):
            if emis[start + t, j] > m:
                m = emis[start + t, j]
        for j in range(n_labels):
            ex[t, j] = exp(emis[start + t, j] - m)
    total = 0.0
    for j in range(n_labels):
        alpha[at, j] = ex[0, j]
        total = total + alpha[at, j]
    for j in range(n_labels):
        alpha[at, j] = alpha[at, j] / total
    for t in range(1, n):
        total = 0.0
        for j in range(n_labels):
            acc = 0.0
            for i in range(n_labels):
                acc = acc + alpha[at + t - 1, i] * exp_trans[i, j]
            alpha[at + t, j] = acc * ex[t, j]
            total = total + alpha[at + t, j]
        for j in range(n_labels):
            alpha[at + t, j] = alpha[at + t, j] / total
    for j in range(n_labels):
        beta[n - 1, j] = 1.0
    for t in range(n - 2, -1, -1):
        total = 0.0
        for i in range(n_labels):
            acc = 0.0
            for j in range(n_labels):
                acc = acc + exp_trans[i, j] * ex[t + 1, j] * beta[t + 1, j]
            beta[t, i] = acc
            total = total + acc
        for i in range(n_labels):
            beta[t, i] = beta[t, i] / total
    for t in range(n):
        total = 0.0
        for j in range(n_labels):
            alpha[at + t, j] = alpha[at + t, j] * beta[t, j]
            total = total + alpha[at + t, j]
        for j in range(n_labels):
            alpha[at + t, j] = alpha[at + t, j] / total


def hash_rows(
    const int64_t[::1] keys,
    const int64_t[::1] slot_keys,
    const int32_t[::1] slot_rows,
    int bits,
    int32_t missing,
):
    """Row of each key in an open-addressing table (``fastcrf._HashTable``: Fibonacci hash to
    ``bits`` bits, linear probing, empty slots hold key -1); ``missing`` for unknown keys."""
    cdef Py_ssize_t n = keys.shape[0], i
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef int shift = 64 - bits
    cdef uint64_t h
    cdef int64_t k, s
    if bits < 1 or bits > 62 or slot_keys.shape[0] != (<Py_ssize_t>1 << bits):
        raise ValueError("hash table size is not 2**bits")
    if slot_rows.shape[0] != slot_keys.shape[0]:
        raise ValueError("hash table keys and rows differ in length")
    out_arr = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] out = out_arr
    with nogil:
        for i in range(n):
            k = keys[i]
            h = (<uint64_t>k * <uint64_t>0x9E3779B97F4A7C15) >> shift
            while True:
                s = slot_keys[h]
                if s == k:
                    out[i] = slot_rows[h]
                    break
                if s == -1:
                    out[i] = missing
                    break
                h = (h + 1) & mask
    return out_arr


cdef inline int64_t _probe(
    int64_t k, const int64_t *slot_keys, const int32_t *slot_rows, int bits, int32_t missing
) noexcept nogil:
    """``hash_rows`` for one key."""
    cdef uint64_t mask = (<uint64_t>1 << bits) - 1
    cdef uint64_t h = (<uint64_t>k * <uint64_t>0x9E3779B97F4A7C15) >> (64 - bits)
    cdef int64_t s
    while True:
        s = slot_keys[h]
        if s == k:
            return slot_rows[h]
        if s == -1:
            return missing
        h = (h + 1) & mask


def window_ids(
    const int64_t[::1] norm,
    const int64_t[::1] cls,
    const int64_t[::1] mark,
    const int64_t[::1] gaz,
    tuple codes,
    const int64_t[:, ::1] dense_uni,
    tuple by_key,
    tuple by_bigram,
    const int64_t[::1] dense_k,
    const int64_t[::1] dense_m,
    const double[:, ::1] table=None,
):
    """(9, n) attribute ids from per-character arrays, ``FastCRF.attribute_ids``'s windowed
    steps in one loop (the NumPy code there is the reference); with ``table`` (the weight rows
    of ``emissions``), the (n, L) state scores instead: ``emissions`` of those ids, the same
    sums in the same order, without the ids array.

    ``norm``: normal-form code point of each character; ``cls``, ``mark``, ``gaz``: class,
    marker and gazetteer codes (positions in their alphabets).  ``codes``: ``(pad_l, pad_r,
    under, caret, dollar, n_cls, n_mark, n_gaz, template_shift, cp_bits)``.  ``dense_uni``:
    (3, bmp) unigram ids; ``by_key`` / ``by_bigram``: ``(slot_keys, slot_rows, bits, values)``
    of the two hash tables (values (rows + 1, 1) and (rows + 1, 4), the last row ``missing``).
    """
    cdef Py_ssize_t n = norm.shape[0], i, j
    cdef int64_t pad_l, pad_r, under, caret, dollar, n_cls, n_mark, n_gaz, tshift, cp_bits
    pad_l, pad_r, under, caret, dollar, n_cls, n_mark, n_gaz, tshift, cp_bits = codes
    if cls.shape[0] != n or mark.shape[0] != n or gaz.shape[0] != n:
        raise ValueError("per-character arrays differ in length")
    cdef const int64_t[::1] uk = by_key[0]
    cdef const int32_t[::1] ur = by_key[1]
    cdef int ubits = by_key[2]
    cdef const int64_t[:, ::1] uv = by_key[3]
    cdef const int64_t[::1] bk = by_bigram[0]
    cdef const int32_t[::1] br = by_bigram[1]
    cdef int bbits = by_bigram[2]
    cdef const int64_t[:, ::1] bv = by_bigram[3]
    cdef Py_ssize_t bmp = dense_uni.shape[1]
    if dense_uni.shape[0] != 3 or bv.shape[1] != 4 or uv.shape[1] != 1:
        raise ValueError("unexpected table shapes")
    if uk.shape[0] != (<Py_ssize_t>1 << ubits) or bk.shape[0] != (<Py_ssize_t>1 << bbits):
        raise ValueError("hash table size is not 2**bits")
    cdef int32_t umiss = uv.shape[0] - 1, bmiss = bv.shape[0] - 1
    cdef Py_ssize_t n_k = dense_k.shape[0], n_m = dense_m.shape[0]
    if n_k != n_cls ** 5 or n_m != n_mark ** 3 * n_gaz:
        raise ValueError("dense window tables do not match the alphabets")
    for i in range(n):
        if not (0 <= cls[i] < n_cls and 0 <= mark[i] < n_mark and 0 <= gaz[i] < n_gaz):
            raise IndexError(f"character {i} has a code outside its alphabet")
        if norm[i] < 0:
            raise IndexError(f"character {i} has a negative code point")
    cdef bint scores = table is not None
    cdef Py_ssize_t rows = table.shape[0] if scores else 0
    cdef Py_ssize_t n_labels = table.shape[1] if scores else 0
    cdef int64_t ids[9]
    cdef int64_t r
    cdef bint bad_row = False
    cdef Py_ssize_t q
    if scores:
        emis_arr = np.empty((n, n_labels), dtype=np.float64)
        out_arr = np.empty((9, 0), dtype=np.int64)
    else:
        emis_arr = np.empty((0, 0), dtype=np.float64)
        out_arr = np.empty((9, n), dtype=np.int64)
    cdef double[:, ::1] emis = emis_arr
    cdef int64_t[:, ::1] out = out_arr
    t_arr = np.empty(n + 4, dtype=np.int64)
    bg_arr = np.empty(n + 3, dtype=np.int64)
    k_arr = np.empty(n + 4, dtype=np.int64)
    mk_arr = np.empty(n + 2, dtype=np.int64)
    cdef int64_t[::1] t = t_arr, bg = bg_arr, k = k_arr, mk = mk_arr
    cdef int64_t c, key
    with nogil:
        t[0] = pad_l
        t[1] = pad_l
        t[n + 2] = pad_r
        t[n + 3] = pad_r
        k[0] = under
        k[1] = under
        k[n + 2] = under
        k[n + 3] = under
        mk[0] = caret
        mk[n + 1] = dollar
        for i in range(n):
            t[i + 2] = norm[i]
            k[i + 2] = cls[i]
            mk[i + 1] = mark[i]
        for j in range(n + 3):  # bg[j]: the bigram t[j] t[j + 1]
            bg[j] = _probe((t[j] << cp_bits) | t[j + 1], &bk[0], &br[0], bbits, bmiss)
        for i in range(n):
            for j in range(3):  # c, l, r: t[i + 2], t[i + 1], t[i + 3]
                c = t[i + 2] if j == 0 else (t[i + 1] if j == 1 else t[i + 3])
                if c < bmp:
                    ids[j] = dense_uni[j, c]
                else:
                    key = (<int64_t>j << tshift) | c
                    ids[j] = uv[_probe(key, &uk[0], &ur[0], ubits, umiss), 0]
            ids[3] = bv[bg[i + 1], 0]
            ids[4] = bv[bg[i + 2], 1]
            ids[5] = bv[bg[i], 2]
            ids[6] = bv[bg[i + 3], 3]
            ids[7] = dense_k[
                (((k[i] * n_cls + k[i + 1]) * n_cls + k[i + 2]) * n_cls + k[i + 3]) * n_cls
                + k[i + 4]
            ]
            ids[8] = dense_m[((mk[i] * n_mark + mk[i + 1]) * n_mark + mk[i + 2]) * n_gaz + gaz[i]]
            if not scores:
                for j in range(9):
                    out[j, i] = ids[j]
                continue
            for j in range(9):
                if ids[j] < 0 or ids[j] >= rows:
                    bad_row = True
                    ids[j] = 0
            # emissions(): row of the first attribute, then the others added in template order
            r = ids[0]
            for q in range(n_labels):
                emis[i, q] = table[r, q]
            for j in range(1, 9):
                r = ids[j]
                for q in range(n_labels):
                    emis[i, q] = emis[i, q] + table[r, q]
    if bad_row:
        raise IndexError(f"an attribute row lies outside the weight table of {rows} rows")
    return emis_arr if scores else out_arr


def char_codes(
    str text,
    const int64_t[::1] norm_tab,
    const int64_t[::1] cls_tab,
    const int64_t[::1] mark_tab,
):
    """(code points, normal forms, class codes, marker codes) of the characters of ``text``,
    as int64 arrays: ``FastCRF.attribute_ids``'s table lookups (its NumPy lines are the
    reference).  The tables cover the BMP; a character beyond it keeps its code point as normal
    form and takes U+FFFD's class and marker, as the featurizer codes it."""
    cdef Py_ssize_t n = len(text), i, bmp = norm_tab.shape[0]
    if cls_tab.shape[0] != bmp or mark_tab.shape[0] != bmp or bmp <= 0xFFFD:
        raise ValueError("character tables must cover the BMP")
    cps_arr = np.empty(n, dtype=np.int64)
    norm_arr = np.empty(n, dtype=np.int64)
    cls_arr = np.empty(n, dtype=np.int64)
    mark_arr = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] cps = cps_arr, norm = norm_arr, cls = cls_arr, mark = mark_arr
    cdef int kind = PyUnicode_KIND(text)
    cdef const void *data = PyUnicode_DATA(text)
    cdef int64_t c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        cps[i] = c
        if c < bmp:
            norm[i] = norm_tab[c]
            cls[i] = cls_tab[c]
            mark[i] = mark_tab[c]
        else:
            norm[i] = c
            cls[i] = cls_tab[0xFFFD]
            mark[i] = mark_tab[0xFFFD]
    return cps_arr, norm_arr, cls_arr, mark_arr


cdef inline bint _is_cjk(Py_UCS4 c) noexcept nogil:
    # features._CJK_RE: U+3400-4DBF, U+4E00-9FFF, U+F900-FAFF
    return (0x3400 <= c <= 0x4DBF) or (0x4E00 <= c <= 0x9FFF) or (0xF900 <= c <= 0xFAFF)


cdef inline bint _is_terminator(Py_UCS4 c) noexcept nogil:
    # tagger._SEGMENT_RE's terminators: \n \r 。 ！ ？ ! ? ； ;
    return (c == 10 or c == 13 or c == 0x3002 or c == 0xFF01 or c == 0xFF1F or c == 33
            or c == 63 or c == 0xFF1B or c == 59)


cdef inline bint _is_soft_break(Py_UCS4 c) noexcept nogil:
    # tagger._SOFT_BREAK_RE: ， , \t space 、
    return c == 0xFF0C or c == 44 or c == 9 or c == 32 or c == 0x3001


def segments(str text, Py_ssize_t max_segment):
    """(starts, ends) of the CJK-bearing segments of ``text``, what ``tagger._segments`` yields
    (its regular expressions are the reference): pieces between line breaks and sentence-final
    punctuation (kept with the piece before), longer ones cut after the last soft break in
    [max_segment // 2, max_segment) or at max_segment."""
    cdef Py_ssize_t n = len(text), pos = 0, end, start, cut, k, j, seg_end
    cdef int kind = PyUnicode_KIND(text)
    cdef const void *data = PyUnicode_DATA(text)
    cdef bint cjk
    if max_segment < 2:
        raise ValueError("max_segment must be at least 2")
    starts: list = []
    ends: list = []
    while pos < n:
        end = pos
        cjk = False
        while end < n and not _is_terminator(PyUnicode_READ(kind, data, end)):
            if not cjk and _is_cjk(PyUnicode_READ(kind, data, end)):
                cjk = True
            end += 1
        if end < n:
            end += 1  # the terminator stays with the segment
        if cjk:
            start = pos
            while end - start > max_segment:
                cut = max_segment
                j = max_segment // 2
                while j < max_segment:  # the last soft break before max_segment
                    if _is_soft_break(PyUnicode_READ(kind, data, start + j)):
                        cut = j + 1
                    j += 1
                starts.append(start)
                ends.append(start + cut)
                start += cut
            if start < end:
                cjk = False
                for k in range(start, end):
                    if _is_cjk(PyUnicode_READ(kind, data, k)):
                        cjk = True
                        break
                if cjk:
                    starts.append(start)
                    ends.append(end)
        pos = end
    return starts, ends


def spans(
    const int64_t[::1] labels,
    const int64_t[::1] bounds,
    const double[::1] chosen,
    bytes codes,
):
    """Spans of every segment from its label ids, what ``corpora.spans_from_codes`` finds in
    each segment's code string (``Pp*|Aa*|p+|a+``; "P"/"p" a name, "A"/"a" an address), as
    lists (segment, start, end, code of the span's first label, smallest ``chosen`` over the
    span); segment s holds labels[bounds[s]:bounds[s + 1]], start and end count from there."""
    cdef Py_ssize_t n_seg = bounds.shape[0] - 1, s, i, j, hi, n_codes = len(codes)
    cdef const unsigned char *code = <const unsigned char *>PyBytes_AS_STRING(codes)
    cdef unsigned char c, follow
    cdef double low
    if n_seg < 0 or chosen.shape[0] != labels.shape[0]:
        raise ValueError("labels, chosen and bounds disagree")
    if n_seg >= 0 and (bounds[0] != 0 or bounds[n_seg] != labels.shape[0]):
        raise ValueError("bounds do not cover the labels")
    for i in range(labels.shape[0]):
        if not 0 <= labels[i] < n_codes:
            raise IndexError(f"label id {labels[i]} at {i} has no code")
    out_seg: list = []
    out_start: list = []
    out_end: list = []
    out_code: list = []
    out_score: list = []
    for s in range(n_seg):
        if bounds[s + 1] < bounds[s]:
            raise ValueError(f"segment {s} has negative length")
        i = bounds[s]
        hi = bounds[s + 1]
        while i < hi:
            c = code[labels[i]]
            if c == 79:  # O
                i += 1
                continue
            follow = c + 32 if c == 80 or c == 65 else c  # P -> p, A -> a; p and a repeat
            j = i + 1
            low = chosen[i]
            while j < hi and code[labels[j]] == follow:
                if chosen[j] < low:
                    low = chosen[j]
                j += 1
            out_seg.append(s)
            out_start.append(i - bounds[s])
            out_end.append(j - bounds[s])
            out_code.append(chr(c))
            out_score.append(low)
            i = j
    return out_seg, out_start, out_end, out_code, out_score
