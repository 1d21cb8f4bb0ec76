# Small string helpers and integer formatting/parsing (included by codec.pyx). Separate: the
# text primitives every decoder uses, with no knowledge of a format.

# -- small string helpers -------------------------------------------------------------------------

cdef inline bint str_eq(Str s, const char* lit, Py_ssize_t n) noexcept nogil:
    return s.len == n and memcmp(s.ptr, lit, <size_t>n) == 0


cdef inline bint str_same(Str a, Str b) noexcept nogil:
    return a.len == b.len and (a.len <= 0 or memcmp(a.ptr, b.ptr, <size_t>a.len) == 0)


cdef inline Str mkstr(const char* p, Py_ssize_t n) noexcept nogil:
    cdef Str s
    s.ptr = p
    s.len = n
    return s


cdef inline Str null_str() noexcept nogil:
    cdef Str s
    s.ptr = NULL
    s.len = -1
    return s


cdef Py_ssize_t fmt_int64(char* out, int64_t v) noexcept nogil:
    """Decimal text of v (as Python's str(int)); out needs 20 bytes."""
    cdef char tmp[24]
    cdef Py_ssize_t k = 0
    cdef Py_ssize_t i
    cdef Py_ssize_t n = 0
    cdef uint64_t u
    if v < 0:
        out[0] = b'-'
        n = 1
        u = <uint64_t>0 - <uint64_t>v
    else:
        u = <uint64_t>v
    while True:
        tmp[k] = <char>(48 + u % 10)
        k += 1
        u //= 10
        if u == 0:
            break
    for i in range(k):
        out[n + i] = tmp[k - 1 - i]
    return n + k


cdef inline bint is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef enum:
    INT_OK = 0
    INT_SYNTAX = 1      # not -?[0-9]+
    INT_OVERFLOW = 2    # outside int64


cdef int parse_int(const char* p, Py_ssize_t n, bint allow_minus, int64_t* out) noexcept nogil:
    """[-]?[0-9]+ (Python int() of it) into int64; leading zeros allowed."""
    cdef Py_ssize_t i = 0
    cdef bint neg = False
    cdef uint64_t mag = 0
    cdef bint over = False
    cdef unsigned char c
    if allow_minus and n > 0 and p[0] == b'-':
        neg = True
        i = 1
    if i >= n:
        return INT_SYNTAX
    while i < n:
        c = <unsigned char>p[i]
        if not is_digit(c):
            return INT_SYNTAX
        if not over:
            if mag > 922337203685477580ULL or (mag == 922337203685477580ULL and c - 48 > 8):
                over = True   # magnitude > 2**63 - 1 + 1 is never in range
            else:
                mag = mag * 10 + (c - 48)
        i += 1
    if over:
        return INT_OVERFLOW
    if neg:
        out[0] = -<int64_t>mag if mag <= 9223372036854775807ULL else INT64_MIN
    else:
        if mag > 9223372036854775807ULL:
            return INT_OVERFLOW
        out[0] = <int64_t>mag
    return INT_OK
