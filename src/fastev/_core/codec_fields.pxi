# Typed field access on scanned slots (included by codec.pyx); mirrors _ref/fields.py.
# Each accessor returns 0 or a reason code; on a reason, c.err_field names the slot.
# Empty text counts as absent (docs/formats.md §1); JSON null is absent too.

cdef enum:
    R_OK = 0
    R_TOO_LARGE = 1
    R_INVALID_UTF8 = 2
    R_INVALID_JSON = 3
    R_TOO_DEEP = 4
    R_NOT_AN_OBJECT = 5
    R_DUPLICATE = 6
    R_MISSING = 7
    R_WRONG_TYPE = 8
    R_OUT_OF_RANGE = 9
    R_BAD_TIME = 10
    R_NON_CANONICAL = 11
    R_UNKNOWN_SUB = 12
    R_UNKNOWN_FORMAT = 13
    R_SKIP = 100          # the record carries no file event
    R_LOSS = 101          # a loss signal (IN_Q_OVERFLOW, EVENT_LOSS)
    R_NOMEM = 102         # arena exhausted: MemoryError

cdef enum:
    MAX_ATTRS = 32
    FIELD_RECORD = -2     # S3: the Records[i] item itself


cdef struct Ctx:
    Scan sc
    Arena arena
    EventRec ev
    Attr attrs[MAX_ATTRS]
    Str* groups
    int cap_groups
    int err_field
    int pseudo_kind       # the decoded kind before pairing (may be MOVED_FROM / MOVED_TO)
    Str cookie            # rename cookie (scalar text) or null


cdef Str STR_TRUE
STR_TRUE.ptr = b"true"
STR_TRUE.len = 4
cdef Str STR_FALSE
STR_FALSE.ptr = b"false"
STR_FALSE.len = 5


cdef inline int slot_text(Ctx* c, const Slot* sl, Str* out) noexcept nogil:
    """The decoded text of a string slot (unescaped into the arena only when needed)."""
    cdef char* buf
    if not sl.esc:
        out.ptr = <const char*>(c.sc.s + sl.start)
        out.len = sl.end - sl.start
        return R_OK
    buf = arena_alloc(&c.arena, sl.end - sl.start)
    if buf == NULL:
        return R_NOMEM
    out.ptr = buf
    out.len = unescape(c.sc.s, sl.start, sl.end, buf)
    return R_OK


cdef inline bint slot_absent(const Slot* sl) noexcept nogil:
    return sl.type == J_ABSENT or sl.type == J_NULL


cdef int get_text(Ctx* c, int slot, bint required, Str* out) noexcept nogil:
    cdef const Slot* sl = &c.sc.slots[slot]
    if slot_absent(sl) or (sl.type == J_STR and sl.start == sl.end):
        if required:
            c.err_field = slot
            return R_MISSING
        out.ptr = NULL
        out.len = -1
        return R_OK
    if sl.type != J_STR:
        c.err_field = slot
        return R_WRONG_TYPE
    return slot_text(c, sl, out)


cdef int get_bool(Ctx* c, int slot, int* out) noexcept nogil:
    """*out = -1 absent, 0 false, 1 true."""
    cdef const Slot* sl = &c.sc.slots[slot]
    if slot_absent(sl):
        out[0] = -1
        return R_OK
    if sl.type == J_TRUE:
        out[0] = 1
        return R_OK
    if sl.type == J_FALSE:
        out[0] = 0
        return R_OK
    c.err_field = slot
    return R_WRONG_TYPE


cdef int get_obj(Ctx* c, int slot, bint* present) noexcept nogil:
    cdef const Slot* sl = &c.sc.slots[slot]
    if slot_absent(sl):
        present[0] = False
        return R_OK
    if sl.type != J_OBJ:
        c.err_field = slot
        return R_WRONG_TYPE
    present[0] = True
    return R_OK


cdef int get_int(Ctx* c, int slot, int64_t lo, int64_t hi, bint text_ok, bint* present,
                 int64_t* out) noexcept nogil:
    """An integer as a JSON number without fraction/exponent (or, text_ok, decimal text)."""
    cdef const Slot* sl = &c.sc.slots[slot]
    cdef Str t
    cdef int rc
    present[0] = False
    if slot_absent(sl):
        return R_OK
    if sl.type == J_NUM:
        rc = parse_int(<const char*>(c.sc.s + sl.start), sl.end - sl.start, True, out)
    elif text_ok and sl.type == J_STR:
        if sl.start == sl.end:
            return R_OK
        rc = slot_text(c, sl, &t)
        if rc:
            return rc
        rc = parse_int(t.ptr, t.len, True, out)
    else:
        c.err_field = slot
        return R_WRONG_TYPE
    if rc == INT_SYNTAX:
        c.err_field = slot
        return R_WRONG_TYPE
    if rc == INT_OVERFLOW or out[0] < lo or out[0] > hi:
        c.err_field = slot
        return R_OUT_OF_RANGE
    present[0] = True
    return R_OK


cdef int get_scalar(Ctx* c, int slot, Str* out) noexcept nogil:
    """Any scalar as text for attrs: numbers keep their literal, booleans are true/false."""
    cdef const Slot* sl = &c.sc.slots[slot]
    out.ptr = NULL
    out.len = -1
    if slot_absent(sl) or (sl.type == J_STR and sl.start == sl.end):
        return R_OK
    if sl.type == J_STR:
        return slot_text(c, sl, out)
    if sl.type == J_NUM:
        out.ptr = <const char*>(c.sc.s + sl.start)
        out.len = sl.end - sl.start
        return R_OK
    if sl.type == J_TRUE:
        out[0] = STR_TRUE
        return R_OK
    if sl.type == J_FALSE:
        out[0] = STR_FALSE
        return R_OK
    c.err_field = slot
    return R_WRONG_TYPE


cdef inline int get_path(Ctx* c, Str p, int slot, Str* out) noexcept nogil:
    cdef int rc = canon_path(&c.arena, p, out)
    if rc == 1:
        return R_OK
    if rc < 0:
        return R_NOMEM
    c.err_field = slot
    return R_NON_CANONICAL


cdef inline void add_attr(Ctx* c, const char* key, Py_ssize_t klen, Str value) noexcept nogil:
    cdef Attr* a
    if value.len < 0 or c.ev.n_attrs >= MAX_ATTRS:
        return
    a = &c.attrs[c.ev.n_attrs]
    a.key.ptr = key
    a.key.len = klen
    a.value = value
    c.ev.n_attrs += 1


cdef inline char* concat3(Ctx* c, Str a, const char* sep, Py_ssize_t seplen, Str b, Py_ssize_t* n) noexcept nogil:
    cdef char* buf = arena_alloc(&c.arena, a.len + seplen + b.len)
    if buf == NULL:
        return NULL
    memcpy(buf, a.ptr, <size_t>a.len)
    memcpy(buf + a.len, sep, <size_t>seplen)
    memcpy(buf + a.len + seplen, b.ptr, <size_t>b.len)
    n[0] = a.len + seplen + b.len
    return buf


cdef void event_init(Ctx* c, int source) noexcept nogil:
    cdef EventRec* ev = &c.ev
    ev.source = source
    ev.kind = 0
    ev.raw_type = null_str()
    ev.time_us = 0
    ev.path = mkstr(b"", 0)
    ev.old_path = null_str()
    ev.is_dir = False
    ev.has_size = False
    ev.size = 0
    ev.has_bytes = False
    ev.bytes = 0
    ev.has_duration = False
    ev.duration_ms = 0
    ev.status = 0
    ev.status_msg = null_str()
    ev.file_id = null_str()
    ev.user = null_str()
    ev.has_uid = False
    ev.uid = 0
    ev.has_gid = False
    ev.gid = 0
    ev.groups = c.groups
    ev.n_groups = 0
    ev.client = null_str()
    ev.protocol = null_str()
    ev.system = null_str()
    ev.storage_class = null_str()
    ev.attrs = c.attrs
    ev.n_attrs = 0
    c.pseudo_kind = -1
    c.cookie = null_str()
    c.err_field = -1


cdef int add_group(Ctx* c, Str g, int field) noexcept nogil:
    """Append to groups unless already there (source order, no duplicates). At most MAX_GROUPS
    (fastev.options, as _ref/billing.py): the scan stays linear in the record's size."""
    cdef int i
    cdef Str* grown
    for i in range(c.ev.n_groups):
        if str_same(c.groups[i], g):
            return R_OK
    if c.ev.n_groups >= C_MAX_GROUPS:
        c.err_field = field
        return R_OUT_OF_RANGE
    if c.ev.n_groups == c.cap_groups:
        grown = <Str*>realloc(c.groups, <size_t>(c.cap_groups * 2 + 8) * sizeof(Str))
        if grown == NULL:
            return R_NOMEM
        c.groups = grown
        c.cap_groups = c.cap_groups * 2 + 8
        c.ev.groups = grown
    c.groups[c.ev.n_groups] = g
    c.ev.n_groups += 1
    return R_OK
