# -- GPFS audit / watch folder (_ref/gpfs.py, docs/formats.md §3.3, §3.4) -----------------------------

cdef enum:
    G_event = 0
    G_path
    G_eventTime
    G_fileSize
    G_inode
    G_clientUserId
    G_clientGroupId
    G_nfsClientIp
    G_clusterName
    G_fsName
    G_poolName
    G_FIRST_ATTR          # attribute keys start here

# Copied to attrs, in this order (as _ref/gpfs.py AUDIT_ATTRS / WATCH_ATTRS; the tests compare them).
GPFS_AUDIT_ATTRS = ("nodeName", "processId", "openFlags", "linkCount", "ownerUserId", "ownerGroupId",
                    "permissions")
GPFS_WATCH_ATTRS = ("nodeName", "wd", "cookie", "mask", "filesetID", "linkCount", "openFlags",
                    "ownerUserId", "ownerGroupId")
GPFS_COMMON = ("event", "path", "eventTime", "fileSize", "inode", "clientUserId", "clientGroupId",
               "nfsClientIp", "clusterName", "fsName", "poolName")

# attrs keys as C strings (name, length), indexed like AUDIT_SLOTS / WATCH_SLOTS (filled by codec.pyx)
cdef const char* GPFS_AUDIT_KEY[MAX_SLOTS]
cdef Py_ssize_t GPFS_AUDIT_KEY_LEN[MAX_SLOTS]
cdef const char* GPFS_WATCH_KEY[MAX_SLOTS]
cdef Py_ssize_t GPFS_WATCH_KEY_LEN[MAX_SLOTS]

cdef int GA_N_ATTRS, GA_oldPath, GA_bytesRead, GA_bytesWritten
cdef int GW_N_ATTRS, GW_cookie, GW_mask


cdef int gpfs_time(Ctx* c) noexcept nogil:
    cdef Str t
    cdef int rc = get_text(c, G_eventTime, True, &t)
    if rc:
        return rc
    if not parse_time(t.ptr, t.len, True, &c.ev.time_us):
        c.err_field = G_eventTime
        return R_BAD_TIME
    return R_OK


cdef int gpfs_common(Ctx* c, int n_attrs, const char** keys, const Py_ssize_t* key_lens) noexcept nogil:
    cdef EventRec* ev = &c.ev
    cdef Str cluster, fs, s
    cdef char* buf
    cdef Py_ssize_t n
    cdef int rc, k
    rc = get_int(c, G_fileSize, 0, INT64_MAX, True, &ev.has_size, &ev.size)
    if rc:
        return rc
    rc = get_scalar(c, G_inode, &ev.file_id)
    if rc:
        return rc
    rc = get_int(c, G_clientUserId, 0, INT64_MAX, True, &ev.has_uid, &ev.uid)
    if rc:
        return rc
    rc = get_int(c, G_clientGroupId, 0, INT64_MAX, True, &ev.has_gid, &ev.gid)
    if rc:
        return rc
    rc = get_text(c, G_nfsClientIp, False, &ev.client)
    if rc:
        return rc
    rc = get_text(c, G_clusterName, False, &cluster)
    if rc:
        return rc
    rc = get_text(c, G_fsName, False, &fs)
    if rc:
        return rc
    if cluster.len > 0 and fs.len > 0:
        buf = concat3(c, cluster, b"/", 1, fs, &n)
        if buf == NULL:
            return R_NOMEM
        ev.system = mkstr(buf, n)
    else:
        ev.system = cluster if cluster.len > 0 else fs
    rc = get_text(c, G_poolName, False, &ev.storage_class)
    if rc:
        return rc
    for k in range(G_FIRST_ATTR, G_FIRST_ATTR + n_attrs):
        rc = get_scalar(c, k, &s)
        if rc:
            return rc
        add_attr(c, keys[k], key_lens[k], s)
    return R_OK


cdef int decode_gpfs_audit(Ctx* c) noexcept nogil:
    cdef EventRec* ev = &c.ev
    cdef Str event, path, old
    cdef int rc
    cdef bint has_w, has_r
    cdef int64_t written, read
    rc = get_text(c, G_event, True, &event)
    if rc:
        return rc
    rc = get_text(c, G_path, True, &path)
    if rc:
        return rc
    # AUDIT_KINDS
    if str_eq(event, b"CREATE", 6):
        ev.kind = K_CREATE
    elif str_eq(event, b"OPEN", 4):
        ev.kind = K_OPEN
    elif str_eq(event, b"CLOSE", 5):
        ev.kind = K_CLOSE
    elif str_eq(event, b"CLOSEWRITE", 10):
        ev.kind = K_CLOSE_WRITE
    elif str_eq(event, b"RENAME", 6):
        ev.kind = K_RENAME
    elif str_eq(event, b"UNLINK", 6) or str_eq(event, b"RMDIR", 5):
        ev.kind = K_DELETE
    elif (str_eq(event, b"XATTRCHANGE", 11) or str_eq(event, b"ACLCHANGE", 9)
          or str_eq(event, b"GPFSATTRCHANGE", 14)):
        ev.kind = K_ATTRIB
    elif str_eq(event, b"ACCESS_DENIED", 13):
        ev.kind = K_ACCESS_DENIED
    else:
        ev.kind = K_OTHER
    ev.raw_type = event
    rc = gpfs_time(c)            # the reference evaluates the time before the path
    if rc:
        return rc
    rc = get_path(c, path, G_path, &ev.path)
    if rc:
        return rc
    rc = get_text(c, GA_oldPath, False, &old)
    if rc:
        return rc
    if old.len >= 0:
        rc = get_path(c, old, GA_oldPath, &ev.old_path)
        if rc:
            return rc
    ev.is_dir = str_eq(event, b"RMDIR", 5)
    rc = gpfs_common(c, GA_N_ATTRS, GPFS_AUDIT_KEY, GPFS_AUDIT_KEY_LEN)
    if rc:
        return rc
    rc = get_int(c, GA_bytesWritten, 0, INT64_MAX, True, &has_w, &written)
    if rc:
        return rc
    rc = get_int(c, GA_bytesRead, 0, INT64_MAX, True, &has_r, &read)
    if rc:
        return rc
    if has_w and written != 0:
        ev.has_bytes = True
        ev.bytes = written
    elif has_r and read != 0:
        ev.has_bytes = True
        ev.bytes = read
    return R_OK


cdef enum:
    MAX_FLAGS_STACK = 16


cdef int decode_gpfs_watch(Ctx* c) noexcept nogil:
    """R_OK with c.ev filled (c.pseudo_kind may be MOVED_FROM/TO), R_SKIP, R_LOSS or a reason."""
    cdef EventRec* ev = &c.ev
    cdef Str event, path, mask, cookie
    cdef Str stack_flags[MAX_FLAGS_STACK]
    cdef Str* flags = stack_flags
    cdef int n_flags = 0
    cdef int cap = MAX_FLAGS_STACK
    cdef Py_ssize_t i, start
    cdef int rc, kind, k
    cdef bint is_dir
    cdef uint64_t m
    cdef unsigned char ch
    rc = get_text(c, G_event, True, &event)
    if rc:
        return rc
    # event.split("|"); more pieces than the stack holds go to the arena
    n_flags = 1
    for i in range(event.len):
        if event.ptr[i] == b'|':
            n_flags += 1
    if n_flags > MAX_FLAGS_STACK:
        flags = <Str*>arena_alloc(&c.arena, n_flags * <Py_ssize_t>sizeof(Str) + 16)
        if flags == NULL:
            return R_NOMEM
        flags = <Str*>((<uintptr_t>flags + 15) & ~(<uintptr_t>15))
    k = 0
    start = 0
    for i in range(event.len + 1):
        if i == event.len or event.ptr[i] == b'|':
            flags[k] = mkstr(event.ptr + start, i - start)
            k += 1
            start = i + 1
    rc = classify_flags(flags, n_flags, &kind, &is_dir)
    if rc:
        return rc
    if kind < 0:
        return R_SKIP
    rc = get_text(c, G_path, True, &path)
    if rc:
        return rc
    ev.raw_type = event
    rc = gpfs_time(c)
    if rc:
        return rc
    rc = get_path(c, path, G_path, &ev.path)
    if rc:
        return rc
    rc = get_text(c, GW_mask, False, &mask)
    if rc:
        return rc
    if mask.len >= 0:
        # r"0[xX][0-9a-fA-F]{1,16}\Z"
        if mask.len < 3 or mask.len > 18 or mask.ptr[0] != b'0' or (mask.ptr[1] != b'x' and mask.ptr[1] != b'X'):
            c.err_field = GW_mask
            return R_WRONG_TYPE
        m = 0
        for i in range(2, mask.len):
            ch = <unsigned char>mask.ptr[i]
            if 48 <= ch <= 57:
                m = m * 16 + (ch - 48)
            elif 97 <= ch <= 102:
                m = m * 16 + (ch - 87)
            elif 65 <= ch <= 70:
                m = m * 16 + (ch - 55)
            else:
                c.err_field = GW_mask
                return R_WRONG_TYPE
        is_dir = is_dir or (m & 0x40000000) != 0
    ev.is_dir = is_dir
    rc = get_scalar(c, GW_cookie, &cookie)
    if rc:
        return rc
    rc = gpfs_common(c, GW_N_ATTRS, GPFS_WATCH_KEY, GPFS_WATCH_KEY_LEN)
    if rc:
        return rc
    if str_eq(cookie, b"0", 1):
        cookie = null_str()
        # del attrs["cookie"]: keep the order of the others
        for k in range(ev.n_attrs):
            if str_eq(ev.attrs[k].key, b"cookie", 6):
                memmove(&ev.attrs[k], &ev.attrs[k + 1], <size_t>(ev.n_attrs - k - 1) * sizeof(Attr))
                ev.n_attrs -= 1
                break
    c.cookie = cookie
    ev.kind = K_OTHER if kind >= 100 else kind
    c.pseudo_kind = kind
    return R_OK
