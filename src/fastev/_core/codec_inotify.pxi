# -- dCache inotify over SSE (_ref/inotify_sse.py, docs/formats.md §3.2) -------------------------------

INOTIFY_SLOTS = ("event", "event.name", "event.mask", "event.cookie", "subscription")
SYSTEM_SLOTS = ("type",)
DETECT_SLOTS = ("Records", "EventName", "LWE_JSON", "WF_JSON", "msgType")

cdef enum:
    I_event = 0
    I_name
    I_mask
    I_cookie
    I_subscription

cdef enum:
    D_Records = 0
    D_EventName
    D_LWE_JSON
    D_WF_JSON
    D_msgType


cdef int decode_inotify(Ctx* c, dict watches, object sse_id, int64_t now, list keep) except -1:
    """_ref/inotify_sse.decode_inotify; returns a reason code (R_OK: c.ev filled, its strings
    pointing into c's record and into the bytes appended to ``keep``, which the caller holds)."""
    cdef EventRec* ev = &c.ev
    cdef const Slot* sl
    cdef Slot item
    cdef Py_ssize_t pos, total, k
    cdef int rc, n_flags, i, kind
    cdef bint present, is_dir
    cdef Str* flags
    cdef Str sub, name, cookie, seg
    cdef char* buf
    cdef bytes dir_b
    rc = get_obj(c, I_event, &present)
    if rc:
        return rc
    if not present:
        c.err_field = I_event
        return R_MISSING
    sl = &c.sc.slots[I_mask]
    if slot_absent(sl):
        c.err_field = I_mask
        return R_MISSING
    if sl.type != J_ARR:
        c.err_field = I_mask
        return R_WRONG_TYPE
    n_flags = 0
    pos = sl.start + 1
    while array_next(&c.sc, &pos, &item):
        if item.type != J_STR:
            c.err_field = I_mask
            return R_WRONG_TYPE
        n_flags += 1
    buf = arena_alloc(&c.arena, (n_flags + 1) * <Py_ssize_t>sizeof(Str) + 16)
    if buf == NULL:
        return R_NOMEM
    flags = <Str*>((<uintptr_t>buf + 15) & ~(<uintptr_t>15))
    pos = sl.start + 1
    i = 0
    total = 0
    while array_next(&c.sc, &pos, &item):
        rc = slot_text(c, &item, &flags[i])
        if rc:
            return rc
        total += flags[i].len + 1
        i += 1
    rc = classify_flags(flags, n_flags, &kind, &is_dir)
    if rc:
        return rc
    if kind < 0:
        return R_SKIP
    rc = get_text(c, I_subscription, True, &sub)
    if rc:
        return rc
    sub_str = PyUnicode_DecodeUTF8(sub.ptr, sub.len, NULL)
    directory = watched_dir(watches, sub_str)
    if directory is None:
        c.err_field = I_subscription
        return R_UNKNOWN_SUB
    dir_b = (<str>directory).encode("utf-8")
    keep.append(dir_b)
    keep.append(sse_id)
    rc = get_text(c, I_name, False, &name)
    if rc:
        return rc
    if name.len < 0:
        ev.path = mkstr(PyBytes_AS_STRING(dir_b), len(dir_b))
    elif memchr(name.ptr, b'/', <size_t>name.len) != NULL:
        c.err_field = I_name   # a child name, never a path
        return R_NON_CANONICAL
    else:
        buf = concat3(c, mkstr(PyBytes_AS_STRING(dir_b), len(dir_b)), b"/", 1, name, &k)
        if buf == NULL:
            return R_NOMEM
        rc = get_path(c, mkstr(buf, k), I_name, &ev.path)
        if rc:
            return rc
    rc = get_scalar(c, I_cookie, &cookie)
    if rc:
        return rc
    # raw_type = "|".join(mask)
    buf = arena_alloc(&c.arena, total)
    if buf == NULL:
        return R_NOMEM
    k = 0
    for i in range(n_flags):
        if i:
            buf[k] = b'|'
            k += 1
        memcpy(buf + k, flags[i].ptr, <size_t>flags[i].len)
        k += flags[i].len
    ev.raw_type = mkstr(buf, k)
    ev.time_us = now
    ev.is_dir = is_dir
    ev.kind = K_OTHER if kind >= 100 else kind
    c.pseudo_kind = kind
    c.cookie = cookie
    if sse_id is not None:
        add_attr(c, b"sse_id", 6, mkstr(PyBytes_AS_STRING(sse_id), PyBytes_GET_SIZE(sse_id)))
    add_attr(c, b"cookie", 6, cookie)
    # subscription.rstrip("/").rsplit("/", 1)[-1]
    seg = sub
    while seg.len > 0 and seg.ptr[seg.len - 1] == b'/':
        seg.len -= 1
    k = seg.len
    while k > 0 and seg.ptr[k - 1] != b'/':
        k -= 1
    add_attr(c, b"subscription", 12, mkstr(seg.ptr + k, seg.len - k))
    return R_OK
