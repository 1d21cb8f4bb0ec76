# Canonical paths (included by codec.pyx), docs/formats.md §2. Separate: one normalisation rule for
# every source, mirroring fastev/paths.py.

# -- canonical paths (docs/formats.md §2, fastev/paths.py) ------------------------------------------

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
