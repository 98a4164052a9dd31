# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native pattern pass of the detection engine (built by setup.py against Hyperscan's C API).

``PatternPass`` owns one Hyperscan block-mode database compiled from the expressions the engine
builds (``engine._compile``) and runs step 2-3 of ``Detector.find`` without Python per hit: a
C callback collects the hits into an array; delimiters are stripped, hits grouped per type and
start (longest end first), context words indexed per slot, joiners and context windows checked
and character offsets computed in C.  Python is called only per candidate that reaches a
type's ``needs_context`` pattern or its validator (both the engine's own objects, so the cached
validators are shared), and only when the type's native check cannot answer: prechecks (Luhn,
GB 32100) reject on a wrong check character, full checks (18-character resident IDs with
their region codes and birth dates, mainland mobile, IPv4 and the IPv6 colon rule, MAC,
e-mail, waybill) give the validator's answer for ASCII values; every check is tested against
its validator.

``engine._python_candidates`` is the reference: ``tests/test_detect_native.py`` compares the two
on the benchmark corpus and on hypothesis-generated text (same candidates, same scores).
"""

import array

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memchr, memset


cdef extern from "hs/hs.h" nogil:
    ctypedef struct hs_database_t:
        pass
    ctypedef struct hs_scratch_t:
        pass
    ctypedef struct hs_compile_error_t:
        char *message
        int expression
    ctypedef int hs_error_t
    ctypedef int (*match_event_handler)(
        unsigned int id, unsigned long long frm, unsigned long long to, unsigned int flags,
        void *context
    ) noexcept nogil
    hs_error_t hs_compile_multi(
        const char *const *expressions, const unsigned int *flags, const unsigned int *ids,
        unsigned int elements, unsigned int mode, const void *platform, hs_database_t **db,
        hs_compile_error_t **error
    )
    hs_error_t hs_free_compile_error(hs_compile_error_t *error)
    hs_error_t hs_free_database(hs_database_t *db)
    hs_error_t hs_alloc_scratch(const hs_database_t *db, hs_scratch_t **scratch)
    hs_error_t hs_free_scratch(hs_scratch_t *scratch)
    hs_error_t hs_scan(
        const hs_database_t *db, const char *data, unsigned int length, unsigned int flags,
        hs_scratch_t *scratch, match_event_handler onEvent, void *context
    )
    int HS_SUCCESS
    int HS_SCAN_TERMINATED
    int HS_MODE_BLOCK


cdef enum:
    MAX_RULES = 64  # a group key is byte start * 64 + rule index


cdef struct Hit:
    unsigned int id
    int64_t frm
    int64_t to


cdef struct HitBuffer:
    Hit *items
    size_t n
    size_t cap
    int failed


cdef int _on_match(
    unsigned int id, unsigned long long frm, unsigned long long to, unsigned int flags,
    void *context
) noexcept nogil:
    cdef HitBuffer *buf = <HitBuffer *>context
    cdef size_t cap
    cdef Hit *grown
    if buf.n == buf.cap:
        cap = buf.cap * 2 if buf.cap else 256
        grown = <Hit *>realloc(buf.items, cap * sizeof(Hit))
        if grown == NULL:
            buf.failed = 1
            return 1  # stop the scan
        buf.items, buf.cap = grown, cap
    buf.items[buf.n].id = id
    buf.items[buf.n].frm = <int64_t>frm
    buf.items[buf.n].to = <int64_t>to
    buf.n += 1
    return 0


cdef int _cmp_key_desc_end(const void *a, const void *b) noexcept nogil:
    # (key ascending, end descending)
    cdef const int64_t *x = <const int64_t *>a
    cdef const int64_t *y = <const int64_t *>b
    if x[0] != y[0]:
        return -1 if x[0] < y[0] else 1
    if x[1] != y[1]:
        return -1 if x[1] > y[1] else 1
    return 0


cdef int _cmp_int64(const void *a, const void *b) noexcept nogil:
    cdef int64_t x = (<const int64_t *>a)[0], y = (<const int64_t *>b)[0]
    return -1 if x < y else (1 if x > y else 0)


cdef inline Py_ssize_t _bisect_right(const int64_t *a, Py_ssize_t n, int64_t x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline Py_ssize_t _bisect_left(const int64_t *a, Py_ssize_t n, int64_t x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline bint _no_newline(const char *data, int64_t frm, int64_t to) noexcept nogil:
    """``data.find(b"\\n", frm, to) < 0``."""
    if to <= frm:
        return True
    return memchr(data + frm, 10, <size_t>(to - frm)) == NULL


cdef inline bint _alnum(uint8_t b) noexcept nogil:
    return (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122)


cdef inline bint _local_part(uint8_t b) noexcept nogil:
    # engine._LOCAL_PART: letters, digits and "._%+-"
    return _alnum(b) or b == 46 or b == 95 or b == 37 or b == 43 or b == 45


cdef int64_t _email_start(const uint8_t *data, int64_t end) noexcept nogil:
    """``engine._email_start``: the leftmost letter or digit after a non-alphanumeric byte in
    the run of local-part characters before the last "@" before ``end``; ``end`` if none."""
    cdef int64_t at = end - 1, p, run_start
    while at >= 0 and data[at] != 64:
        at -= 1
    if at < 1:
        return end
    run_start = at
    while run_start > 0 and _local_part(data[run_start - 1]):
        run_start -= 1
    p = run_start
    while p < at:
        if _alnum(data[p]) and (p == 0 or not _alnum(data[p - 1])):
            return p
        p += 1
    return end


# Prechecks: necessary conditions of some validators, decided on the bytes.  A candidate that
# fails one is rejected without calling the validator (which would answer False); one that
# passes, or that the precheck cannot judge, goes to the validator as usual.
cdef enum:
    CHECK_NONE = 0
    CHECK_LUHN = 1
    CHECK_USCC = 2
    CHECK_MOD11_2 = 3
    CHECK_CN_MOBILE = 4
    CHECK_IP = 5
    CHECK_MAC = 6
    CHECK_EMAIL = 7
    CHECK_WAYBILL = 8
    CHECK_RESIDENT_ID = 9
    N_CHECKS = 10

PRECHECK_NONE, PRECHECK_LUHN, PRECHECK_USCC, PRECHECK_MOD11_2 = (
    CHECK_NONE, CHECK_LUHN, CHECK_USCC, CHECK_MOD11_2
)
# Full checks: the validator's whole answer for ASCII values (see ``_answer``).
CHECK_CN_MOBILE_OK, CHECK_IP_OK, CHECK_MAC_OK, CHECK_EMAIL_OK, CHECK_WAYBILL_OK = (
    CHECK_CN_MOBILE, CHECK_IP, CHECK_MAC, CHECK_EMAIL, CHECK_WAYBILL
)
CHECK_RESIDENT_ID_OK = CHECK_RESIDENT_ID
cdef const char *_USCC_ALPHABET = b"0123456789ABCDEFGHJKLMNPQRTUWXY"


cdef inline uint8_t _upper(uint8_t b) noexcept nogil:
    return b - 32 if 97 <= b <= 122 else b


cdef bint _rejects(int kind, const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """True when the validator of this precheck kind would answer False for these bytes."""
    cdef Py_ssize_t i, digits = 0
    cdef int total = 0, d, value, check
    cdef int weight
    cdef const char *hit
    if kind == CHECK_LUHN:
        # validators.bank_card_ok: ASCII digits in groups split by spaces or hyphens, Luhn.
        i = n - 1
        while i >= 0:
            if v[i] == 32 or v[i] == 45:
                i -= 1
                continue
            if not 48 <= v[i] <= 57:
                return True
            d = v[i] - 48
            if digits % 2 == 1:
                d = d * 2
                if d > 9:
                    d -= 9
            total += d
            digits += 1
            i -= 1
        return total % 10 != 0
    if kind == CHECK_USCC:
        # validators.cn_uscc_ok: 18 characters of the code alphabet, MOD 31 check character.
        if n != 18:
            for i in range(n):
                if v[i] >= 0x80:
                    return False  # upper() of non-ASCII text may change its length
            return True
        weight = 1
        for i in range(18):
            if v[i] >= 0x80:
                return False
            hit = <const char *>memchr(_USCC_ALPHABET, _upper(v[i]), 31)
            if hit == NULL or _upper(v[i]) == 0:
                return True
            value = <int>(hit - _USCC_ALPHABET)
            if i < 17:
                total += value * weight
                weight = (weight * 3) % 31
            else:
                check = (31 - total % 31) % 31
                return value != check
        return False
    if kind == CHECK_MOD11_2:
        # validators.cn_resident_id_ok, 18-character numbers only: GB 11643 MOD 11-2.
        if n != 18:
            return False  # 15-digit legacy numbers and the rest: the validator decides
        weight = 1  # 2^(17 - i) mod 11, from the last body digit backwards
        i = 16
        while i >= 0:
            if not 48 <= v[i] <= 57:
                return False
            weight = (weight * 2) % 11
            total += (v[i] - 48) * weight
            i -= 1
        check = (12 - total % 11) % 11
        if 48 <= v[17] <= 57:
            return check != v[17] - 48
        if v[17] == 88 or v[17] == 120:  # X or x
            return check != 10
        return False
    return False


cdef enum:
    DEFER = 0
    ACCEPT = 1
    REJECT = 2


cdef inline bint _digit(uint8_t b) noexcept nogil:
    return 48 <= b <= 57


cdef inline bint _hex(uint8_t b) noexcept nogil:
    return _digit(b) or 97 <= b <= 102 or 65 <= b <= 70


cdef inline bint _alpha(uint8_t b) noexcept nogil:
    return 65 <= b <= 90 or 97 <= b <= 122


cdef inline bint _py_space(uint8_t b) noexcept nogil:
    # ASCII characters re's \s matches in a str pattern (str.isspace)
    return b == 32 or 9 <= b <= 13 or 0x1C <= b <= 0x1F


cdef int _cn_mobile(const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """validators.cn_mobile_ok: separators dropped, +86/0086/86 dropped, a current segment."""
    cdef uint8_t buf[64]
    cdef Py_ssize_t m = 0, i, at = 0
    cdef uint8_t a, b
    for i in range(n):
        if v[i] >= 0x80:
            return DEFER  # "·", "•" and other whitespace are separators too: Python decides
        if _py_space(v[i]) or v[i] == 45 or v[i] == 46 or v[i] == 40 or v[i] == 41:
            continue
        if m == 64:
            return REJECT  # far longer than any mobile number with a prefix
        buf[m] = v[i]
        m += 1
    if m >= 3 and buf[0] == 43 and buf[1] == 56 and buf[2] == 54:  # +86
        at = 3
    elif m >= 4 and buf[0] == 48 and buf[1] == 48 and buf[2] == 56 and buf[3] == 54:  # 0086
        at = 4
    elif m >= 2 and buf[0] == 56 and buf[1] == 54:  # 86
        at = 2
    if m - at != 11:
        return REJECT
    for i in range(at, m):
        if not _digit(buf[i]):
            return REJECT
    if buf[at] != 49:
        return REJECT
    a, b = buf[at + 1], buf[at + 2]
    if (a == 51 or a == 56  # 13x, 18x
            or (a == 52 and 53 <= b <= 57)  # 14[5-9]
            or (a == 53 and b != 52)  # 15[0-35-9]
            or (a == 54 and (b == 50 or b == 53 or b == 54 or b == 55))  # 16[2567]
            or (a == 55 and b <= 56)  # 17[0-8]
            or (a == 57 and b != 52)):  # 19[0-35-9]
        return ACCEPT
    return REJECT


cdef int _ipv4_octets(const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """1 when ``v`` is a dotted quad of 0-255 without leading zeros (validators._IPV4)."""
    cdef Py_ssize_t i = 0, parts = 0, start, length
    cdef int value
    while True:
        start = i
        value = 0
        while i < n and _digit(v[i]):
            value = value * 10 + (v[i] - 48) if i - start < 4 else 1000
            i += 1
        length = i - start
        if length == 0 or length > 3 or value > 255 or (length > 1 and v[start] == 48):
            return 0
        parts += 1
        if parts == 4:
            return 1 if i == n else 0
        if i >= n or v[i] != 46:
            return 0
        i += 1


cdef int _ip(const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """validators.ip_address_ok for dotted quads and for the colon rule; IPv6 is left to it."""
    cdef Py_ssize_t i, colons = 0
    cdef bint dot = False, double = False
    for i in range(n):
        if v[i] >= 0x80:
            return DEFER
        if v[i] == 58:
            colons += 1
            if i + 1 < n and v[i + 1] == 58:
                double = True
        elif v[i] == 46:
            dot = True
    if colons and not double and colons != 7 and not dot:
        return REJECT
    if _ipv4_octets(v, n):
        if n == 7 and v[0] == 48 and v[2] == 48 and v[4] == 48 and v[6] == 48:
            return REJECT  # 0.0.0.0
        return ACCEPT
    return DEFER


cdef int _mac(const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """validators.mac_address_ok: colon, hyphen or dotted EUI-48, not all 0 or all f."""
    cdef Py_ssize_t i
    cdef uint8_t sep
    cdef int zeros = 0, effs = 0
    for i in range(n):
        if v[i] >= 0x80:
            return DEFER
    if n == 17:
        sep = v[2]
        if sep != 58 and sep != 45:
            return REJECT
        for i in range(17):
            if i % 3 == 2:
                if v[i] != sep:
                    return REJECT
            elif not _hex(v[i]):
                return REJECT
    elif n == 14:
        for i in range(14):
            if i == 4 or i == 9:
                if v[i] != 46:
                    return REJECT
            elif not _hex(v[i]):
                return REJECT
    else:
        return REJECT
    for i in range(n):
        if _hex(v[i]):
            if v[i] == 48:
                zeros += 1
            elif v[i] == 102 or v[i] == 70:
                effs += 1
    return REJECT if zeros == 12 or effs == 12 else ACCEPT


cdef int _email(const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """validators.email_ok on ASCII text."""
    cdef Py_ssize_t at = -1, i, label_start, labels = 0, length
    for i in range(n):
        if v[i] >= 0x80:
            return DEFER
        if v[i] == 64:
            at = i
    if at <= 0 or at > 64 or n > 254:  # no local part, or one over 64 characters
        return REJECT
    if v[0] == 46 or v[at - 1] == 46:
        return REJECT
    for i in range(at - 1):
        if v[i] == 46 and v[i + 1] == 46:
            return REJECT
    label_start = at + 1
    i = label_start
    while True:
        if i == n or v[i] == 46:
            length = i - label_start
            if length == 0 or length > 63:
                return REJECT
            if v[label_start] == 45 or v[i - 1] == 45:
                return REJECT
            labels += 1
            if i == n:
                break
            label_start = i + 1
        i += 1
    if labels < 2 or n - label_start < 2:
        return REJECT
    for i in range(label_start, n):
        if not _alpha(v[i]):
            return REJECT
    return ACCEPT


cdef int _waybill(const uint8_t *v, Py_ssize_t n) noexcept nogil:
    """validators.express_waybill_ok on ASCII text (upper-cased as it does)."""
    cdef uint8_t u[32]
    cdef Py_ssize_t i, k
    cdef int total, check
    cdef int *weights = [8, 6, 4, 2, 3, 5, 9, 7]
    if n > 32:
        for i in range(n):
            if v[i] >= 0x80:
                return DEFER
        return REJECT
    for i in range(n):
        if v[i] >= 0x80:
            return DEFER
        u[i] = _upper(v[i])
    # UPU S10: two letters, nine digits, two letters; check digit over the first eight digits
    if n == 13 and _alpha(u[0]) and _alpha(u[1]) and _alpha(u[11]) and _alpha(u[12]):
        for i in range(2, 11):
            if not _digit(u[i]):
                break
        else:
            total = 0
            for i in range(8):
                total += (u[2 + i] - 48) * weights[i]
            check = 11 - total % 11
            if check == 10:
                check = 0
            elif check == 11:
                check = 5
            return ACCEPT if u[10] - 48 == check else REJECT
    k = 0  # where the digits start, by carrier prefix
    if n >= 2 and u[0] == 83 and u[1] == 70:  # SF + 12-13 digits
        k = 2
        if not 14 <= n <= 15:
            return REJECT
    elif n >= 2 and u[0] == 74 and u[1] == 68:  # JD + 0-3 letters + 11-15 digits
        k = 2
        while k < n and k < 5 and 65 <= u[k] <= 90:
            k += 1
        if not 11 <= n - k <= 15:
            return REJECT
    elif n >= 2 and (u[0] == 89 or u[0] == 74) and u[1] == 84:  # YT/JT + 13 digits
        k = 2
        if n != 15:
            return REJECT
    elif not 10 <= n <= 15:
        return REJECT
    for i in range(k, n):
        if not _digit(u[i]):
            return REJECT
    return ACCEPT


cdef struct Facts:
    int64_t today  # local date as YYYYMMDD; 0: unknown (date-dependent checks defer)
    const int64_t *regions  # sorted GB/T 2260 codes (validators._region_codes)
    Py_ssize_t n_regions
    const int64_t *permits  # 港澳台 residence-permit codes (validators._PERMIT_REGIONS)
    Py_ssize_t n_permits


cdef bint _has(const int64_t *a, Py_ssize_t n, int64_t x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo < n and a[lo] == x


cdef int _resident_id(const uint8_t *v, Py_ssize_t n, const Facts *facts) noexcept nogil:
    """validators.cn_resident_id_ok for 18 ASCII characters: MOD 11-2, a real birth date from
    1900 to today, a region code in use (or 市辖区 xx01 of one, or a residence-permit code)."""
    cdef Py_ssize_t i
    cdef int64_t year, month, day, code, days
    if _rejects(CHECK_MOD11_2, v, n):
        return REJECT
    if n != 18 or facts.today <= 0:
        return DEFER  # 15-digit legacy numbers and the rest: the validator
    for i in range(18):
        if v[i] >= 0x80:
            return DEFER
    for i in range(17):
        if not _digit(v[i]):
            return REJECT
    if not (_digit(v[17]) or v[17] == 88 or v[17] == 120):
        return REJECT  # the check character is a digit or X
    year = (v[6] - 48) * 1000 + (v[7] - 48) * 100 + (v[8] - 48) * 10 + (v[9] - 48)
    month = (v[10] - 48) * 10 + (v[11] - 48)
    day = (v[12] - 48) * 10 + (v[13] - 48)
    if year < 1900 or not 1 <= month <= 12 or day < 1:
        return REJECT
    if month == 2:
        days = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        days = 30
    else:
        days = 31
    if day > days or year * 10000 + month * 100 + day > facts.today:
        return REJECT
    code = 0
    for i in range(6):
        code = code * 10 + (v[i] - 48)
    if (_has(facts.regions, facts.n_regions, code)
            or _has(facts.permits, facts.n_permits, code)
            or (code % 100 == 1 and _has(facts.regions, facts.n_regions, code - 1))):
        return ACCEPT
    return REJECT


cdef int _answer(int kind, const uint8_t *v, Py_ssize_t n, const Facts *facts) noexcept nogil:
    """ACCEPT or REJECT when this check knows the validator's answer, else DEFER."""
    if kind == CHECK_NONE:
        return DEFER
    if kind == CHECK_RESIDENT_ID:
        return _resident_id(v, n, facts)
    if kind <= CHECK_MOD11_2:
        return REJECT if _rejects(kind, v, n) else DEFER
    if kind == CHECK_CN_MOBILE:
        return _cn_mobile(v, n)
    if kind == CHECK_IP:
        return _ip(v, n)
    if kind == CHECK_MAC:
        return _mac(v, n)
    if kind == CHECK_EMAIL:
        return _email(v, n)
    if kind == CHECK_WAYBILL:
        return _waybill(v, n)
    return DEFER


def native_answer(int kind, bytes value, int64_t today=0, tuple regions=(), tuple permits=()):
    """The native check's answer for ``value`` (UTF-8): True or False when it knows the
    validator's answer, None when the validator must decide (for the tests).  ``today``
    (YYYYMMDD), ``regions`` and ``permits`` (sorted codes) as ``PatternPass`` has them."""
    if not 0 <= kind < N_CHECKS:
        raise ValueError(f"unknown check {kind}")
    cdef Facts facts
    region_arr = _sorted_codes(regions, "regions")
    permit_arr = _sorted_codes(permits, "permits")
    cdef const int64_t[::1] r = region_arr
    cdef const int64_t[::1] p = permit_arr
    facts.today = today
    facts.regions, facts.n_regions = &r[0], len(regions)
    facts.permits, facts.n_permits = &p[0], len(permits)
    cdef int got = _answer(kind, <const uint8_t *>PyBytes_AS_STRING(value), len(value), &facts)
    return None if got == DEFER else got == ACCEPT


def _sorted_codes(tuple codes, str what):
    """An int64 array of ``codes`` (one extra slot so it is never empty); they must ascend."""
    out = array.array("q", codes)
    for i in range(1, len(out)):
        if out[i - 1] >= out[i]:
            raise ValueError(f"{what} must be sorted and distinct")
    out.append(-1)
    return out


def precheck_rejects(int kind, bytes value):
    """Whether the precheck ``kind`` rejects ``value`` (UTF-8): for the tests, which check that
    the validator answers False for every value a precheck rejects."""
    if kind not in (PRECHECK_NONE, PRECHECK_LUHN, PRECHECK_USCC, PRECHECK_MOD11_2):
        raise ValueError(f"unknown precheck {kind}")
    return bool(_rejects(kind, <const uint8_t *>PyBytes_AS_STRING(value), len(value)))


cdef class Scratch:
    """Hyperscan scratch space for one thread (not shareable between threads)."""

    cdef hs_scratch_t *ptr

    def __dealloc__(self):
        if self.ptr != NULL:
            hs_free_scratch(self.ptr)


cdef struct Slot:
    int64_t *ends
    int64_t *starts
    Py_ssize_t n
    Py_ssize_t cap


cdef class PatternPass:
    """The compiled patterns and context words of a selection of types, and the per-type facts
    the candidate loop needs (see the module docstring)."""

    cdef hs_database_t *db
    cdef int n_patterns, n_rules, n_context
    cdef int *pattern_rule
    cdef int *pattern_mode
    cdef int *context_len
    cdef int *context_slot_start  # CSR: context id -> slots
    cdef int *context_slots
    cdef uint8_t *joiners  # n_rules * 256
    cdef uint8_t *has_joiners
    cdef double *score
    cdef uint8_t *strong
    cdef int *precheck
    cdef list needs  # per rule: compiled pattern or None
    cdef list validators  # per rule: callable or None
    cdef int64_t before_bytes, after_bytes, anti_bytes
    cdef double boost
    cdef object _regions, _permits  # int64 arrays behind Facts
    cdef const int64_t *regions
    cdef const int64_t *permits
    cdef Py_ssize_t n_regions, n_permits

    def __cinit__(self):
        self.db = NULL
        self.pattern_rule = NULL
        self.pattern_mode = NULL
        self.context_len = NULL
        self.context_slot_start = NULL
        self.context_slots = NULL
        self.joiners = NULL
        self.has_joiners = NULL
        self.score = NULL
        self.strong = NULL
        self.precheck = NULL

    def __init__(
        self,
        list expressions,
        list flags,
        tuple pattern_rule,
        tuple pattern_mode,
        tuple context_rules,
        tuple context_len,
        list rules,
        tuple windows,
        double boost,
        tuple regions=(),
        tuple permits=(),
    ):
        """``expressions``/``flags``: UTF-8 bytes and Hyperscan flags, patterns first, then
        context words (ids are positions).  ``rules``: per rule, ``(joiners: bytes, needs:
        re.Pattern | None, validator: callable | None, score: float, strong: bool, precheck:
        int)``; joiners only for alnum-bounded types; ``precheck`` a ``PRECHECK_*`` kind (a
        necessary condition of that validator).  ``regions``/``permits``: the sorted codes the
        resident-ID check needs (validators._region_codes and _PERMIT_REGIONS).  ``windows``: the engine's ``(_BEFORE_BYTES,
        _AFTER_BYTES, _ANTI_BYTES)``; ``boost``: its ``CONTEXT_BOOST``."""
        cdef Py_ssize_t n = len(expressions), i, k, total
        cdef const char **exprs = NULL
        cdef unsigned int *cflags = NULL
        cdef unsigned int *ids = NULL
        cdef hs_compile_error_t *error = NULL
        cdef hs_error_t rc
        if n == 0:
            raise ValueError("no expressions to compile")
        if len(flags) != n:
            raise ValueError(f"{n} expressions but {len(flags)} flags")
        if len(pattern_mode) != len(pattern_rule) or len(context_rules) != len(context_len):
            raise ValueError("pattern and context tables differ in length")
        if len(pattern_rule) + len(context_rules) != n:
            raise ValueError("the pattern and context tables do not cover the expressions")
        if len(rules) >= MAX_RULES:
            raise ValueError(f"at most {MAX_RULES - 1} types with patterns, got {len(rules)}")
        self.n_patterns = len(pattern_rule)
        self.n_context = len(context_rules)
        self.n_rules = len(rules)
        self.before_bytes, self.after_bytes, self.anti_bytes = windows
        self.boost = boost
        self._regions = _sorted_codes(regions, "regions")
        self._permits = _sorted_codes(permits, "permits")
        cdef const int64_t[::1] rv = self._regions
        cdef const int64_t[::1] pv = self._permits
        self.regions, self.n_regions = &rv[0], len(regions)
        self.permits, self.n_permits = &pv[0], len(permits)
        try:
            exprs = <const char **>malloc(n * sizeof(char *))
            cflags = <unsigned int *>malloc(n * sizeof(unsigned int))
            ids = <unsigned int *>malloc(n * sizeof(unsigned int))
            if exprs == NULL or cflags == NULL or ids == NULL:
                raise MemoryError()
            for i in range(n):
                exprs[i] = PyBytes_AS_STRING(expressions[i])
                cflags[i] = flags[i]
                ids[i] = <unsigned int>i
            rc = hs_compile_multi(exprs, cflags, ids, <unsigned int>n, HS_MODE_BLOCK, NULL,
                                  &self.db, &error)
            if rc != HS_SUCCESS:
                if error != NULL:
                    message = error.message.decode("utf-8", "replace")
                    where = error.expression
                    hs_free_compile_error(error)
                    raise ValueError(f"Hyperscan cannot compile expression {where}: {message}")
                raise ValueError(f"Hyperscan compile failed with code {rc}")
        finally:
            free(exprs)
            free(cflags)
            free(ids)
        self.pattern_rule = <int *>malloc((self.n_patterns + 1) * sizeof(int))
        self.pattern_mode = <int *>malloc((self.n_patterns + 1) * sizeof(int))
        self.context_len = <int *>malloc((self.n_context + 1) * sizeof(int))
        self.context_slot_start = <int *>malloc((self.n_context + 1) * sizeof(int))
        total = sum(len(s) for s in context_rules)
        self.context_slots = <int *>malloc((total + 1) * sizeof(int))
        self.joiners = <uint8_t *>malloc((self.n_rules * 256 + 1) * sizeof(uint8_t))
        self.has_joiners = <uint8_t *>malloc((self.n_rules + 1) * sizeof(uint8_t))
        self.score = <double *>malloc((self.n_rules + 1) * sizeof(double))
        self.strong = <uint8_t *>malloc((self.n_rules + 1) * sizeof(uint8_t))
        self.precheck = <int *>malloc((self.n_rules + 1) * sizeof(int))
        if (self.pattern_rule == NULL or self.pattern_mode == NULL or self.context_len == NULL
                or self.context_slot_start == NULL or self.context_slots == NULL
                or self.joiners == NULL or self.has_joiners == NULL or self.score == NULL
                or self.strong == NULL or self.precheck == NULL):
            raise MemoryError()
        for i in range(self.n_patterns):
            self.pattern_rule[i] = pattern_rule[i]
            self.pattern_mode[i] = pattern_mode[i]
            if not 0 <= self.pattern_rule[i] < self.n_rules:
                raise ValueError(f"pattern {i} names rule {self.pattern_rule[i]}")
        k = 0
        for i in range(self.n_context):
            self.context_len[i] = context_len[i]
            self.context_slot_start[i] = <int>k
            for slot in context_rules[i]:
                if not 0 <= slot < 2 * self.n_rules:
                    raise ValueError(f"context word {i} names slot {slot}")
                self.context_slots[k] = slot
                k += 1
        self.context_slot_start[self.n_context] = <int>k
        memset(self.joiners, 0, self.n_rules * 256)
        self.needs = []
        self.validators = []
        for i in range(self.n_rules):
            joiners, needs, validator, score, strong, precheck = rules[i]
            if not 0 <= precheck < N_CHECKS:
                raise ValueError(f"rule {i} has an unknown precheck {precheck}")
            if precheck and validator is None:
                raise ValueError(f"rule {i} has a precheck but no validator")
            self.precheck[i] = precheck
            self.has_joiners[i] = 1 if joiners else 0
            for b in joiners:
                self.joiners[i * 256 + b] = 1
            self.needs.append(needs)
            self.validators.append(validator)
            self.score[i] = score
            self.strong[i] = 1 if strong else 0

    def __dealloc__(self):
        if self.db != NULL:
            hs_free_database(self.db)
        free(self.pattern_rule)
        free(self.pattern_mode)
        free(self.context_len)
        free(self.context_slot_start)
        free(self.context_slots)
        free(self.joiners)
        free(self.has_joiners)
        free(self.score)
        free(self.strong)
        free(self.precheck)

    def scratch(self):
        """New scratch space for this database (one per thread)."""
        cdef Scratch s = Scratch.__new__(Scratch)
        if hs_alloc_scratch(self.db, &s.ptr) != HS_SUCCESS:
            raise MemoryError("Hyperscan could not allocate scratch space")
        return s

    def candidates(self, bytes data, Scratch scratch, double min_score, int64_t today=0):
        """Candidates in ``data`` (the folded UTF-8 with a newline on each side) as a list of
        ``(rule index, char start, char end, score, strong)`` sorted by byte start then rule,
        exactly what ``engine._python_candidates`` returns.  ``today``: the local date as
        YYYYMMDD for the birth-date check of resident IDs (0: left to the validator)."""
        cdef const uint8_t *d = <const uint8_t *>PyBytes_AS_STRING(data)
        cdef const char *dc = PyBytes_AS_STRING(data)
        cdef int64_t n_data = PyBytes_GET_SIZE(data)
        cdef HitBuffer buf
        cdef hs_error_t rc
        if n_data >= 0xFFFFFFFF:
            raise ValueError(f"text of {n_data} bytes is too long for one scan (4 GiB at most)")
        if scratch is None or scratch.ptr == NULL:
            raise ValueError("no scratch space")
        buf.items, buf.n, buf.cap, buf.failed = NULL, 0, 0, 0
        with nogil:
            rc = hs_scan(self.db, dc, <unsigned int>n_data, 0, scratch.ptr, _on_match, &buf)
        try:
            if buf.failed:
                raise MemoryError("out of memory collecting pattern hits")
            if rc != HS_SUCCESS:
                raise RuntimeError(f"Hyperscan scan failed with code {rc}")
            if buf.n == 0:
                return []
            return self._candidates(d, n_data, buf.items, buf.n, min_score, today)
        finally:
            free(buf.items)

    cdef list _candidates(
        self, const uint8_t *d, int64_t n_data, Hit *hits, size_t n_hits, double min_score,
        int64_t today,
    ):
        cdef int n_slots = 2 * self.n_rules
        cdef Slot *slots = NULL
        cdef int64_t *groups = NULL  # pairs (key, end)
        cdef int64_t *acc = NULL  # quadruples (rule, bstart, bend, needs)
        cdef int64_t *value_ends = NULL
        cdef int64_t *value_starts = NULL
        cdef int64_t *chars = NULL
        cdef Py_ssize_t n_groups = 0, n_acc = 0, i, j, k, m
        cdef size_t h
        cdef unsigned int pid
        cdef int64_t frm, to, key, bstart, bend, lo, hi, last_key
        cdef int mode, rule, slot, cid, length, answer
        cdef uint8_t lead
        cdef const uint8_t *jt
        cdef Slot *sl
        cdef Slot *anti
        cdef bint needs, has_context, accepted_key
        cdef double score
        cdef list out = []
        cdef Facts facts
        facts.today = today
        facts.regions, facts.n_regions = self.regions, self.n_regions
        facts.permits, facts.n_permits = self.permits, self.n_permits
        try:
            slots = <Slot *>malloc(n_slots * sizeof(Slot))
            groups = <int64_t *>malloc(2 * n_hits * sizeof(int64_t))
            if slots == NULL or groups == NULL:
                raise MemoryError()
            memset(slots, 0, n_slots * sizeof(Slot))
            # 1. hits -> groups (patterns) and slot word lists (context words)
            for h in range(n_hits):
                pid = hits[h].id
                frm = hits[h].frm
                to = hits[h].to
                if pid >= <unsigned int>self.n_patterns:
                    cid = pid - self.n_patterns
                    length = self.context_len[cid]
                    for k in range(self.context_slot_start[cid], self.context_slot_start[cid + 1]):
                        sl = &slots[self.context_slots[k]]
                        if sl.n == sl.cap:
                            sl.cap = sl.cap * 2 if sl.cap else 16
                            sl.ends = <int64_t *>realloc(sl.ends, sl.cap * sizeof(int64_t))
                            sl.starts = <int64_t *>realloc(sl.starts, sl.cap * sizeof(int64_t))
                            if sl.ends == NULL or sl.starts == NULL:
                                raise MemoryError()
                        sl.ends[sl.n] = to
                        sl.starts[sl.n] = to - length
                        sl.n += 1
                    continue
                mode = self.pattern_mode[pid]
                if mode:
                    to -= 1
                    while 0x80 <= d[to] <= 0xBF:
                        to -= 1
                    if mode == 1:
                        lead = d[frm]
                        frm += 1 if lead < 0x80 else (2 if lead < 0xE0 else (3 if lead < 0xF0 else 4))
                    else:
                        frm = _email_start(d, to)
                if to > frm:
                    groups[2 * n_groups] = frm * MAX_RULES + self.pattern_rule[pid]
                    groups[2 * n_groups + 1] = to
                    n_groups += 1
            if n_groups == 0:
                return out
            for slot in range(n_slots):
                if slots[slot].n > 1:
                    qsort(slots[slot].ends, slots[slot].n, sizeof(int64_t), _cmp_int64)
                    qsort(slots[slot].starts, slots[slot].n, sizeof(int64_t), _cmp_int64)
            qsort(groups, n_groups, 2 * sizeof(int64_t), _cmp_key_desc_end)
            # 2. per type and start, the longest end that is bounded, in context if it must
            #    be, and valid
            acc = <int64_t *>malloc(4 * n_groups * sizeof(int64_t))
            if acc == NULL:
                raise MemoryError()
            i = 0
            while i < n_groups:
                key = groups[2 * i]
                bstart = key // MAX_RULES
                rule = <int>(key - bstart * MAX_RULES)
                jt = self.joiners + rule * 256
                accepted_key = False
                bend = -1
                while i < n_groups and groups[2 * i] == key:
                    if accepted_key or groups[2 * i + 1] == bend:  # done, or a duplicate end
                        i += 1
                        continue
                    bend = groups[2 * i + 1]
                    i += 1
                    if self.has_joiners[rule] and (
                        (bstart >= 1 and jt[d[bstart - 1]] and bstart >= 2
                         and _alnum(d[bstart - 2]))
                        or (bend < n_data and jt[d[bend]] and bend + 1 < n_data
                            and _alnum(d[bend + 1]))
                    ):
                        continue
                    needs = False
                    needs_re = self.needs[rule]
                    validator = self.validators[rule]
                    value = None
                    if needs_re is not None:
                        value = PyUnicode_DecodeUTF8(
                            <const char *>d + bstart, bend - bstart, NULL
                        )
                        needs = needs_re.fullmatch(value) is not None
                    if needs and not (
                        self._before(&slots[rule], d, bstart - self.before_bytes, bstart)
                        or self._after(&slots[rule], d, bend, bend + self.after_bytes)
                    ):
                        continue
                    # the native check's answer, else the validator's (value decoded for it)
                    answer = (
                        _answer(self.precheck[rule], d + bstart, bend - bstart, &facts)
                        if validator is not None else ACCEPT
                    )
                    if answer == DEFER:
                        if value is None:
                            value = PyUnicode_DecodeUTF8(
                                <const char *>d + bstart, bend - bstart, NULL
                            )
                        answer = ACCEPT if validator(value) else REJECT
                    if answer == ACCEPT:
                        acc[4 * n_acc] = rule
                        acc[4 * n_acc + 1] = bstart
                        acc[4 * n_acc + 2] = bend
                        acc[4 * n_acc + 3] = needs
                        n_acc += 1
                        accepted_key = True
            if n_acc == 0:
                return out
            # 3. character offsets: chars[b] = characters in d[1:b]
            chars = <int64_t *>malloc((n_data + 1) * sizeof(int64_t))
            value_ends = <int64_t *>malloc(n_acc * sizeof(int64_t))
            value_starts = <int64_t *>malloc(n_acc * sizeof(int64_t))
            if chars == NULL or value_ends == NULL or value_starts == NULL:
                raise MemoryError()
            chars[0] = -1
            chars[1] = 0
            for m in range(1, n_data):
                chars[m + 1] = chars[m] + (0 if 0x80 <= d[m] <= 0xBF else 1)
            for m in range(n_acc):
                value_starts[m] = acc[4 * m + 1]  # ascending: groups are sorted by start
                value_ends[m] = acc[4 * m + 2]
            qsort(value_ends, n_acc, sizeof(int64_t), _cmp_int64)
            # 4. context: a word of the type within reach, on the same line, with no other
            #    value in between; anti-context words; the score
            for m in range(n_acc):
                rule = <int>acc[4 * m]
                bstart = acc[4 * m + 1]
                bend = acc[4 * m + 2]
                needs = acc[4 * m + 3] != 0
                j = _bisect_right(value_ends, n_acc, bstart) - 1
                lo = value_ends[j] if j >= 0 else 0
                has_context = False
                sl = &slots[rule]
                if sl.n:
                    k = _bisect_right(sl.ends, sl.n, bstart) - 1
                    has_context = (
                        k >= 0
                        and sl.ends[k] >= max(lo, bstart - self.before_bytes)
                        and _no_newline(<const char *>d, sl.ends[k], bstart)
                    )
                    if not has_context:
                        j = _bisect_left(value_starts, n_acc, bend)
                        hi = value_starts[j] if j < n_acc else n_data
                        k = _bisect_left(sl.starts, sl.n, bend)
                        has_context = (
                            k < sl.n
                            and sl.starts[k] <= min(hi, bend + self.after_bytes)
                            and _no_newline(<const char *>d, bend, sl.starts[k])
                        )
                if needs and not has_context:
                    continue
                if not has_context:
                    anti = &slots[self.n_rules + rule]
                    if anti.n:
                        k = _bisect_right(anti.ends, anti.n, bstart) - 1
                        if (
                            k >= 0
                            and anti.ends[k] >= max(lo, bstart - self.anti_bytes)
                            and _no_newline(<const char *>d, anti.ends[k], bstart)
                        ):
                            continue
                score = self.score[rule]
                if has_context:
                    score = min(1.0, score + self.boost)
                if score < min_score:
                    continue
                out.append(
                    (rule, chars[bstart], chars[bend], score,
                     bool(self.strong[rule]) and not needs)
                )
            return out
        finally:
            if slots != NULL:
                for slot in range(n_slots):
                    free(slots[slot].ends)
                    free(slots[slot].starts)
                free(slots)
            free(groups)
            free(acc)
            free(value_ends)
            free(value_starts)
            free(chars)

    cdef bint _before(self, Slot *sl, const uint8_t *d, int64_t lo, int64_t bstart):
        cdef Py_ssize_t i
        if sl.n == 0:
            return False
        i = _bisect_right(sl.ends, sl.n, bstart) - 1
        return i >= 0 and sl.ends[i] >= lo and _no_newline(<const char *>d, sl.ends[i], bstart)

    cdef bint _after(self, Slot *sl, const uint8_t *d, int64_t bend, int64_t hi):
        cdef Py_ssize_t j
        if sl.n == 0:
            return False
        j = _bisect_left(sl.starts, sl.n, bend)
        return j < sl.n and sl.starts[j] <= hi and _no_newline(<const char *>d, bend, sl.starts[j])
