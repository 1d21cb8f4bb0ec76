# Strict UTF-8 validation (included by codec.pyx), as Python's decoder. Separate: a self-contained
# primitive, noexcept nogil and bounds-checked like every helper of the codec.

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
