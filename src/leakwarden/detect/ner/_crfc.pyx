# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loops of :class:`leakwarden.detect.ner.fastcrf.FastCRF` (built by setup.py).

Three loops the NumPy reference (``FastCRF(..., backend="numpy")``) runs as whole-array steps:

* ``emissions``: the sum of the nine attribute weight rows of every character, added in the
  same order (so the same doubles, bit for bit);
* ``viterbi``: crfsuite's Viterbi per segment, ``curr[j] = max_i(prev[i] + trans[i][j]) +
  state[j]`` with the first ``i`` on ties and the first best label at the end;
* ``marginals``: forward-backward on ``exp(state - max)`` rescaled at every position (the
  scale cancels in alpha * beta / sum), for the segments that need them.

Compiled without contraction of multiply-adds (``-ffp-contract=off``) so the sums are IEEE
double sums in source order; ``tests/test_ner_crfc.py`` checks every function against the
NumPy reference.
"""

from libc.math cimport exp
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
