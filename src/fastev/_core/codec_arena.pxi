# The per-record arena (included by codec.pyx): scratch bytes for unescaped strings and composed
# values. Separate: the one allocator of the decoders, with its own lifetime rule (reset per record).

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
