# Timestamp parsing to UTC microseconds (included by codec.pyx), docs/formats.md §3.1, §3.3.
# Separate: the accepted time forms and the year range are one rule shared by every decoder.

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
