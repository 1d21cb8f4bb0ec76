# Low-level helpers of the codec core (included by codec.pyx): a per-record
# arena, UTF-8 validation, MurmurHash3 x64 128, integer formatting, timestamps
# and canonical paths. Everything here is noexcept nogil and bounds-checked:
# no helper reads outside [ptr, ptr + len).

# -- arena: scratch bytes for one record (unescaped strings, composed values) ------------------
# Blocks are never moved (no realloc), so Str pointers into the arena stay valid
# until arena_reset(), which the decoder calls before each record / S3 item.

cdef enum:
    ARENA_BLOCK = 65536


cdef struct Arena:
    char** blocks
    Py_ssize_t n_blocks
    Py_ssize_t cap_blocks
    char* cur
    Py_ssize_t used
    Py_ssize_t cap
    Py_ssize_t first_cap


cdef char* arena_alloc(Arena* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t size
    cdef char* b
    cdef char** bl
    if n <= 0:
        n = 1
    if a.cur != NULL and n <= a.cap - a.used:
        b = a.cur + a.used
        a.used += n
        return b
    size = n if n > ARENA_BLOCK else ARENA_BLOCK
    b = <char*>malloc(<size_t>size)
    if b == NULL:
        return NULL
    if a.n_blocks == a.cap_blocks:
        bl = <char**>realloc(a.blocks, <size_t>(a.cap_blocks * 2 + 4) * sizeof(char*))
        if bl == NULL:
            free(b)
            return NULL
        a.blocks = bl
        a.cap_blocks = a.cap_blocks * 2 + 4
    a.blocks[a.n_blocks] = b
    if a.n_blocks == 0:
        a.first_cap = size
    a.n_blocks += 1
    a.cur = b
    a.used = n
    a.cap = size
    return b


cdef void arena_reset(Arena* a) noexcept nogil:
    cdef Py_ssize_t i
    if a.n_blocks == 0:
        return
    for i in range(1, a.n_blocks):
        free(a.blocks[i])
    a.n_blocks = 1
    a.cur = a.blocks[0]
    a.used = 0
    a.cap = a.first_cap


cdef void arena_free(Arena* a) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(a.n_blocks):
        free(a.blocks[i])
    free(a.blocks)
    a.blocks = NULL
    a.n_blocks = a.cap_blocks = 0
    a.cur = NULL
    a.used = a.cap = 0


# -- UTF-8 (RFC 3629; as strict as Python's decoder: no overlongs, surrogates, > U+10FFFF) -----

cdef inline Py_ssize_t utf8_seq(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Length of the valid multi-byte sequence starting at s[i] (s[i] >= 0x80), else 0."""
    cdef unsigned char c = s[i]
    cdef unsigned char c1
    if c < 0xC2:
        return 0
    if c < 0xE0:
        if i + 1 < n and (s[i + 1] & 0xC0) == 0x80:
            return 2
        return 0
    if c < 0xF0:
        if i + 2 >= n:
            return 0
        c1 = s[i + 1]
        if c == 0xE0:
            if c1 < 0xA0 or c1 > 0xBF:
                return 0
        elif c == 0xED:
            if c1 < 0x80 or c1 > 0x9F:
                return 0
        elif (c1 & 0xC0) != 0x80:
            return 0
        if (s[i + 2] & 0xC0) != 0x80:
            return 0
        return 3
    if c < 0xF5:
        if i + 3 >= n:
            return 0
        c1 = s[i + 1]
        if c == 0xF0:
            if c1 < 0x90 or c1 > 0xBF:
                return 0
        elif c == 0xF4:
            if c1 < 0x80 or c1 > 0x8F:
                return 0
        elif (c1 & 0xC0) != 0x80:
            return 0
        if (s[i + 2] & 0xC0) != 0x80 or (s[i + 3] & 0xC0) != 0x80:
            return 0
        return 4
    return 0


cdef inline uint64_t load64(const unsigned char* p) noexcept nogil:
    cdef uint64_t w
    memcpy(&w, p, 8)
    return w


cdef bint utf8_valid(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t k
    while i < n:
        # ASCII fast path, 8 bytes at a time
        while i + 8 <= n and (load64(s + i) & 0x8080808080808080ULL) == 0:
            i += 8
        if i >= n:
            break
        if s[i] < 0x80:
            i += 1
            continue
        k = utf8_seq(s, i, n)
        if k == 0:
            return False
        i += k
    return True


# -- MurmurHash3 x64 128 (public domain, Austin Appleby) ----------------------------------------

cdef inline uint64_t rotl64(uint64_t x, int r) noexcept nogil:
    return (x << r) | (x >> (64 - r))


cdef inline uint64_t fmix64(uint64_t k) noexcept nogil:
    k ^= k >> 33
    k *= 0xFF51AFD7ED558CCDULL
    k ^= k >> 33
    k *= 0xC4CEB9FE1A85EC53ULL
    k ^= k >> 33
    return k


cdef extern from *:
    """
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define FASTEV_LITTLE_ENDIAN 1
    #else
    #define FASTEV_LITTLE_ENDIAN 0
    #endif
    """
    const bint FASTEV_LITTLE_ENDIAN


cdef inline uint64_t le64(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Little-endian load of n <= 8 bytes, host independent."""
    cdef uint64_t v = 0
    cdef Py_ssize_t i
    if FASTEV_LITTLE_ENDIAN and n == 8:
        memcpy(&v, p, 8)
        return v
    for i in range(n - 1, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef void murmur3_128(const unsigned char* data, Py_ssize_t n, uint32_t seed,
                      uint64_t* out1, uint64_t* out2) noexcept nogil:
    cdef uint64_t h1 = seed
    cdef uint64_t h2 = seed
    cdef uint64_t c1 = 0x87C37B91114253D5ULL
    cdef uint64_t c2 = 0x4CF5AD432745937FULL
    cdef uint64_t k1, k2
    cdef Py_ssize_t nblocks = n // 16
    cdef Py_ssize_t i, t
    cdef const unsigned char* tail
    for i in range(nblocks):
        k1 = le64(data + 16 * i, 8)
        k2 = le64(data + 16 * i + 8, 8)
        k1 *= c1
        k1 = rotl64(k1, 31)
        k1 *= c2
        h1 ^= k1
        h1 = rotl64(h1, 27)
        h1 += h2
        h1 = h1 * 5 + 0x52DCE729
        k2 *= c2
        k2 = rotl64(k2, 33)
        k2 *= c1
        h2 ^= k2
        h2 = rotl64(h2, 31)
        h2 += h1
        h2 = h2 * 5 + 0x38495AB5
    tail = data + 16 * nblocks
    t = n - 16 * nblocks
    if t > 8:
        k2 = le64(tail + 8, t - 8)
        k2 *= c2
        k2 = rotl64(k2, 33)
        k2 *= c1
        h2 ^= k2
    if t > 0:
        k1 = le64(tail, t if t < 8 else 8)
        k1 *= c1
        k1 = rotl64(k1, 31)
        k1 *= c2
        h1 ^= k1
    h1 ^= <uint64_t>n
    h2 ^= <uint64_t>n
    h1 += h2
    h2 += h1
    h1 = fmix64(h1)
    h2 = fmix64(h2)
    h1 += h2
    h2 += h1
    out1[0] = h1
    out2[0] = h2


cdef const char* HEXDIGITS = b"0123456789abcdef"

# docs/formats.md §1 / _ref/eventid.py: id = hex(h1) + hex(h2) of MurmurHash3_x64_128 over the raw
# record, seed = source ordinal * 2**24 + index (low 32 bits used, as the reference).
cdef void make_event_id(char* out, int source, const unsigned char* raw, Py_ssize_t n,
                        Py_ssize_t index) noexcept nogil:
    cdef uint64_t h1, h2
    cdef int i
    cdef uint64_t seed = <uint64_t>source * (1 << 24) + <uint64_t>(index % (1 << 24))
    murmur3_128(raw, n, <uint32_t>(seed & 0xFFFFFFFFULL), &h1, &h2)
    for i in range(16):
        out[15 - i] = HEXDIGITS[h1 & 0xF]
        h1 >>= 4
        out[31 - i] = HEXDIGITS[h2 & 0xF]
        h2 >>= 4


# S3 record ids (_ref/eventid.py, docs/formats.md §1): the message is hashed once, seed
# ordinal * 2**24, into 16 bytes (h1 then h2, little-endian); Records[i]'s id is make_event_id over
# those 16 bytes with index i. Hashing the message per record would cost quadratic CPU.
cdef void message_digest(unsigned char* out, int source, const unsigned char* raw, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h1, h2
    cdef int i
    murmur3_128(raw, n, <uint32_t>((<uint64_t>source * (1 << 24)) & 0xFFFFFFFFULL), &h1, &h2)
    for i in range(8):
        out[i] = <unsigned char>(h1 & 0xFF)
        out[8 + i] = <unsigned char>(h2 & 0xFF)
        h1 >>= 8
        h2 >>= 8


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


# -- timestamps (_ref/timeparse.py; docs/formats.md §3.1, §3.3) -------------------------------------

cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = floor_div(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline bint digits_at(const unsigned char* s, Py_ssize_t i, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(i, i + k):
        if not is_digit(s[j]):
            return False
    return True


cdef inline int num_at(const unsigned char* s, Py_ssize_t i, Py_ssize_t k) noexcept nogil:
    cdef int v = 0
    cdef Py_ssize_t j
    for j in range(i, i + k):
        v = v * 10 + (s[j] - 48)
    return v


# _ref/timeparse.MIN_SECONDS / END_SECONDS: the UTC instant must be in the years 0001-9999.
cdef enum:
    TIME_MIN_DAYS = -719162    # days_from_civil(1, 1, 1)
    TIME_END_DAYS = 2932897    # days_from_civil(10000, 1, 1)

cdef int DAYS_IN_MONTH[12]
DAYS_IN_MONTH[:] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef bint parse_time(const char* text, Py_ssize_t n, bint gpfs, int64_t* out) noexcept nogil:
    """ISO-8601 ``YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)``; GPFS: ``_`` instead of ``T`` and
    ``±HH[:]MM``. Same acceptance as the reference regexes; False means ``bad-time``."""
    cdef const unsigned char* s = <const unsigned char*>text
    cdef Py_ssize_t i, k, j
    cdef int y, mo, d, hh, mi, ss, us, oh, om, dim, sign
    cdef int64_t secs
    if n < 20:
        return False
    if not (digits_at(s, 0, 4) and s[4] == b'-' and digits_at(s, 5, 2) and s[7] == b'-'
            and digits_at(s, 8, 2) and s[10] == (95 if gpfs else 84) and digits_at(s, 11, 2)
            and s[13] == b':' and digits_at(s, 14, 2) and s[16] == b':' and digits_at(s, 17, 2)):
        return False
    y = num_at(s, 0, 4)
    mo = num_at(s, 5, 2)
    d = num_at(s, 8, 2)
    hh = num_at(s, 11, 2)
    mi = num_at(s, 14, 2)
    ss = num_at(s, 17, 2)
    i = 19
    us = 0
    if s[i] == b'.':
        k = 0
        while i + 1 + k < n and is_digit(s[i + 1 + k]):
            k += 1
        if k < 1 or k > 9:
            return False
        for j in range(6):
            us = us * 10 + ((s[i + 1 + j] - 48) if j < k else 0)
        i += 1 + k
    if i >= n:
        return False
    oh = om = 0
    sign = 1
    if s[i] == b'Z':
        if i + 1 != n:
            return False
    elif s[i] == b'+' or s[i] == b'-':
        sign = 1 if s[i] == b'+' else -1
        if i + 3 > n or not digits_at(s, i + 1, 2):
            return False
        oh = num_at(s, i + 1, 2)
        i += 3
        if i < n and s[i] == b':':
            i += 1
        elif not gpfs:
            return False
        if i + 2 != n or not digits_at(s, i, 2):
            return False
        om = num_at(s, i, 2)
    else:
        return False
    if mo < 1 or mo > 12 or d < 1 or hh > 23 or mi > 59 or ss > 59:
        return False
    dim = DAYS_IN_MONTH[mo - 1]
    if mo == 2 and (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        dim = 29
    if d > dim:
        return False
    if oh > 23 or om > 59:
        return False
    secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - sign * (oh * 3600 + om * 60)
    if secs < <int64_t>TIME_MIN_DAYS * 86400 or secs >= <int64_t>TIME_END_DAYS * 86400:
        return False
    out[0] = secs * 1000000 + us
    return True


# -- canonical paths (docs/formats.md §2, _ref/paths.py) --------------------------------------------

cdef int canon_path(Arena* a, Str p, Str* out) noexcept nogil:
    """1 = canonical form in *out (pointing into p when p is already canonical), 0 = refused,
    -1 = out of memory."""
    cdef const char* s = p.ptr
    cdef Py_ssize_t n = p.len
    cdef Py_ssize_t i, j, k
    cdef bint clean = True
    cdef char* buf
    if n <= 0 or s[0] != b'/':
        return 0
    if memchr(s, 0, <size_t>n) != NULL:
        return 0
    # components: refuse "." and ".."; note empty ones (runs of "/", trailing "/")
    i = 1
    while i <= n:
        j = i
        while j < n and s[j] != b'/':
            j += 1
        k = j - i
        if k == 0:
            if not (n == 1):
                clean = False
        elif k == 1 and s[i] == b'.':
            return 0
        elif k == 2 and s[i] == b'.' and s[i + 1] == b'.':
            return 0
        i = j + 1
    if clean:
        out[0] = p
        return 1
    buf = arena_alloc(a, n + 1)
    if buf == NULL:
        return -1
    k = 0
    i = 0
    while i < n:
        if s[i] == b'/':
            while i < n and s[i] == b'/':
                i += 1
            if i < n:
                buf[k] = b'/'
                k += 1
        else:
            buf[k] = s[i]
            k += 1
            i += 1
    if k == 0:
        buf[0] = b'/'
        k = 1
    out.ptr = buf
    out.len = k
    return 1
