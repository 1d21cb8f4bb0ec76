# -- inotify flags (_ref/inotify_flags.py, docs/formats.md §3.5) ---------------------------------------

cdef int flag_kind(Str f) noexcept nogil:
    """FLAG_KINDS[f], or -1."""
    if f.len < 7 or memcmp(f.ptr, b"IN_", 3) != 0:
        return -1
    if str_eq(f, b"IN_CREATE", 9):
        return K_CREATE
    if str_eq(f, b"IN_MODIFY", 9):
        return K_MODIFY
    if str_eq(f, b"IN_CLOSE_WRITE", 14):
        return K_CLOSE_WRITE
    if str_eq(f, b"IN_CLOSE_NOWRITE", 16):
        return K_CLOSE
    if str_eq(f, b"IN_OPEN", 7):
        return K_OPEN
    if str_eq(f, b"IN_ACCESS", 9):
        return K_ACCESS
    if str_eq(f, b"IN_ATTRIB", 9):
        return K_ATTRIB
    if str_eq(f, b"IN_DELETE", 9) or str_eq(f, b"IN_DELETE_SELF", 14):
        return K_DELETE
    if str_eq(f, b"IN_MOVE_SELF", 12):
        return K_MOVED_OUT
    if str_eq(f, b"IN_MOVED_FROM", 13):
        return K_MOVED_FROM
    if str_eq(f, b"IN_MOVED_TO", 11):
        return K_MOVED_TO
    return -1


cdef int classify_flags(const Str* flags, int n, int* kind, bint* is_dir) noexcept nogil:
    """R_OK with *kind (-1: no file event, skipped) and *is_dir, or R_LOSS."""
    cdef int i, k
    for i in range(n):
        if str_eq(flags[i], b"IN_Q_OVERFLOW", 13):
            return R_LOSS
    for i in range(n):
        if str_eq(flags[i], b"IN_IGNORED", 10) or str_eq(flags[i], b"IN_UNMOUNT", 10):
            kind[0] = -1
            is_dir[0] = False
            return R_OK
    kind[0] = K_OTHER
    for i in range(n):
        k = flag_kind(flags[i])
        if k >= 0:
            kind[0] = k
            break
    is_dir[0] = False
    for i in range(n):
        if str_eq(flags[i], b"IN_ISDIR", 8):
            is_dir[0] = True
    return R_OK
