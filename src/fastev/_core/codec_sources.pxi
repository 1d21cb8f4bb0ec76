# Per-source decoders on scanned slots (included by codec.pyx), nogil.
# Each mirrors its reference module field for field, in the same read order, so the
# first bad field decides the reason exactly as there.

# Ordinals of fastev.event.SOURCES / KINDS (checked at import).
cdef enum:
    S_DCACHE_BILLING = 0
    S_DCACHE_INOTIFY = 1
    S_GPFS_AUDIT = 2
    S_GPFS_WATCH = 3
    S_S3 = 4

cdef enum:
    K_UPLOAD = 0
    K_DOWNLOAD = 1
    K_DELETE = 2
    K_CREATE = 3
    K_MODIFY = 4
    K_CLOSE_WRITE = 5
    K_CLOSE = 6
    K_OPEN = 7
    K_ACCESS = 8
    K_ATTRIB = 9
    K_RENAME = 10
    K_MOVED_OUT = 11
    K_MOVED_IN = 12
    K_REPLICATE = 13
    K_EVICT = 14
    K_FLUSH = 15
    K_STAGE = 16
    K_REQUEST = 17
    K_ACCESS_DENIED = 18
    K_OTHER = 19
    K_MOVED_FROM = 100    # pseudo kinds, resolved by the rename pairer
    K_MOVED_TO = 101

# -- dCache billing (_ref/billing.py, FORMATS.md §3.1) ------------------------------------------

BILLING_SLOTS = (
    "msgType", "date", "isP2p", "isWrite", "cellType", "transferPath", "billingPath", "fileSize",
    "filesize", "transferSize", "transferTime", "pnfsid", "storageInfo", "cellName", "cellDomain",
    "subject", "owner", "mappedUID", "mappedGID", "client", "protocol", "version", "VERSION",
    "session", "transaction", "initiator", "queuingTime", "sessionDuration", "clientChain",
    "localEndpoint", "meanReadBandwidth", "meanWriteBandwidth", "readIdle", "readActive",
    "writeIdle", "writeActive", "cached",
    "status", "status.code", "status.msg",
    "protocolInfo", "protocolInfo.host", "protocolInfo.protocol", "protocolInfo.versionMajor",
    "protocolInfo.versionMinor", "protocolInfo.transferTag", "protocolInfo.port",
    "hsm", "hsm.type", "hsm.instance", "hsm.provider",
)

cdef enum:
    B_msgType = 0
    B_date
    B_isP2p
    B_isWrite
    B_cellType
    B_transferPath
    B_billingPath
    B_fileSize
    B_filesize
    B_transferSize
    B_transferTime
    B_pnfsid
    B_storageInfo
    B_cellName
    B_cellDomain
    B_subject
    B_owner
    B_mappedUID
    B_mappedGID
    B_client
    B_protocol
    B_version
    B_VERSION
    B_session             # first of ATTR_KEYS
    B_transaction
    B_initiator
    B_queuingTime
    B_sessionDuration
    B_clientChain
    B_localEndpoint
    B_meanReadBandwidth
    B_meanWriteBandwidth
    B_readIdle
    B_readActive
    B_writeIdle
    B_writeActive
    B_cached              # last of ATTR_KEYS
    B_status
    B_status_code
    B_status_msg
    B_protocolInfo
    B_pi_host
    B_pi_protocol
    B_pi_versionMajor
    B_pi_versionMinor
    B_pi_transferTag
    B_pi_port
    B_hsm
    B_hsm_type
    B_hsm_instance
    B_hsm_provider
    B_N_SLOTS


# attrs keys as C strings (name, length), indexed like the slots above
cdef const char* SLOT_KEY[MAX_SLOTS]
cdef Py_ssize_t SLOT_KEY_LEN[MAX_SLOTS]
cdef const char* GPFS_AUDIT_KEY[MAX_SLOTS]
cdef Py_ssize_t GPFS_AUDIT_KEY_LEN[MAX_SLOTS]
cdef const char* GPFS_WATCH_KEY[MAX_SLOTS]
cdef Py_ssize_t GPFS_WATCH_KEY_LEN[MAX_SLOTS]


cdef inline bint _ascii_letter(unsigned char ch) noexcept nogil:
    return (65 <= ch <= 90) or (97 <= ch <= 122)


cdef struct Subject:
    Str user
    Str dn
    Str origin
    bint has_uid
    int64_t uid
    bint has_gid_primary
    int64_t gid_primary
    bint has_gid_first
    int64_t gid_first


cdef int principal_id(Ctx* c, Str value, int64_t* out) noexcept nogil:
    cdef int rc = parse_int(value.ptr, value.len, False, out)
    if rc == INT_SYNTAX:
        c.err_field = B_subject
        return R_WRONG_TYPE
    if rc == INT_OVERFLOW:
        c.err_field = B_subject
        return R_OUT_OF_RANGE
    return R_OK


cdef int subject_add(Ctx* c, Subject* sub, Str item) noexcept nogil:
    # _ref/billing.py _Subject._add: r"([A-Za-z]+)\[(.*)\]\Z" (re.S), ",primary" suffix
    cdef Py_ssize_t k = 0
    cdef Str name, value
    cdef bint primary
    cdef int64_t n
    cdef int rc
    if item.len > 0 and item.ptr[0] == b'/':
        if sub.dn.len < 0:
            sub.dn = item
        return R_OK
    while k < item.len and _ascii_letter(<unsigned char>item.ptr[k]):
        k += 1
    if k == 0 or k >= item.len or item.ptr[k] != b'[' or item.len < k + 2 or item.ptr[item.len - 1] != b']':
        return R_OK
    name = mkstr(item.ptr, k)
    value = mkstr(item.ptr + k + 1, item.len - k - 2)
    primary = value.len >= 8 and memcmp(value.ptr + value.len - 8, b",primary", 8) == 0
    if primary:
        value.len -= 8
    if str_eq(name, b"UserNamePrincipal", 17):
        if sub.user.len < 0 and value.len > 0:
            sub.user = value
    elif str_eq(name, b"UidPrincipal", 12):
        rc = principal_id(c, value, &n)
        if rc:
            return rc
        if not sub.has_uid:
            sub.has_uid = True
            sub.uid = n
    elif str_eq(name, b"GidPrincipal", 12):
        rc = principal_id(c, value, &n)
        if rc:
            return rc
        if not sub.has_gid_first:
            sub.has_gid_first = True
            sub.gid_first = n
        if primary and not sub.has_gid_primary:
            sub.has_gid_primary = True
            sub.gid_primary = n
    elif (str_eq(name, b"FQANPrincipal", 13) or str_eq(name, b"GroupNamePrincipal", 18)
          or str_eq(name, b"OpenIdGroup", 11)):
        if value.len > 0:
            return add_group(c, value, B_subject)
    elif str_eq(name, b"Origin", 6):
        if sub.origin.len < 0 and value.len > 0:
            sub.origin = value
    return R_OK


cdef int billing_subject(Ctx* c, Subject* sub) noexcept nogil:
    cdef const Slot* sl = &c.sc.slots[B_subject]
    cdef Slot item
    cdef Py_ssize_t pos
    cdef Str text
    cdef int rc
    sub.user = null_str()
    sub.dn = null_str()
    sub.origin = null_str()
    sub.has_uid = sub.has_gid_primary = sub.has_gid_first = False
    if slot_absent(sl):
        return R_OK
    if sl.type != J_ARR:
        c.err_field = B_subject
        return R_WRONG_TYPE
    pos = sl.start + 1
    while array_next(&c.sc, &pos, &item):
        if item.type != J_STR:
            c.err_field = B_subject
            return R_WRONG_TYPE
        rc = slot_text(c, &item, &text)
        if rc:
            return rc
        rc = subject_add(c, sub, text)
        if rc:
            return rc
    return R_OK


cdef int decode_billing(Ctx* c) noexcept nogil:
    cdef EventRec* ev = &c.ev
    cdef Str msg_type, date, is_write, cell_type, p, cell, domain, owner, version, s, proto
    cdef Str host, door_client, hit_protocol
    cdef int rc, p2p, k
    cdef bint present, has_major, has_minor, has_mapped_uid, has_mapped_gid
    cdef int64_t v, major, minor, mapped_uid, mapped_gid
    cdef Subject sub
    cdef char* buf
    cdef Py_ssize_t n

    rc = get_text(c, B_msgType, True, &msg_type)
    if rc:
        return rc
    if str_eq(msg_type, b"warning", 7):
        return R_SKIP
    rc = get_text(c, B_date, True, &date)
    if rc:
        return rc
    if not parse_time(date.ptr, date.len, False, &ev.time_us):
        c.err_field = B_date
        return R_BAD_TIME
    # kind (_kind)
    if str_eq(msg_type, b"transfer", 8):
        rc = get_bool(c, B_isP2p, &p2p)
        if rc:
            return rc
        rc = get_text(c, B_isWrite, False, &is_write)
        if rc:
            return rc
        if p2p == 1:
            ev.kind = K_REPLICATE
        elif str_eq(is_write, b"write", 5):
            ev.kind = K_UPLOAD
        elif str_eq(is_write, b"read", 4):
            ev.kind = K_DOWNLOAD
        else:
            ev.kind = K_OTHER
    else:
        rc = get_text(c, B_cellType, False, &cell_type)
        if rc:
            return rc
        if str_eq(msg_type, b"remove", 6):
            ev.kind = (K_DELETE if str_eq(cell_type, b"door", 4)
                       else K_EVICT if str_eq(cell_type, b"pool", 4) else K_OTHER)
        elif str_eq(msg_type, b"request", 7):
            ev.kind = K_REQUEST
        elif str_eq(msg_type, b"store", 5):
            ev.kind = K_FLUSH
        elif str_eq(msg_type, b"restore", 7):
            ev.kind = K_STAGE
        else:
            ev.kind = K_OTHER
    ev.raw_type = msg_type
    # path (_path)
    rc = get_text(c, B_transferPath, False, &p)
    if rc:
        return rc
    if p.len >= 0 and not str_eq(p, b"Unknown", 7):
        rc = get_path(c, p, B_transferPath, &ev.path)
        if rc:
            return rc
    else:
        rc = get_text(c, B_billingPath, False, &p)
        if rc:
            return rc
        if p.len >= 0 and not str_eq(p, b"Unknown", 7):
            rc = get_path(c, p, B_billingPath, &ev.path)
            if rc:
                return rc

    rc = get_int(c, B_fileSize, 0, INT64_MAX, False, &ev.has_size, &ev.size)
    if rc:
        return rc
    if not ev.has_size:
        rc = get_int(c, B_filesize, 0, INT64_MAX, False, &ev.has_size, &ev.size)
        if rc:
            return rc
    rc = get_int(c, B_transferSize, 0, INT64_MAX, False, &ev.has_bytes, &ev.bytes)
    if rc:
        return rc
    rc = get_int(c, B_transferTime, 0, INT64_MAX, False, &ev.has_duration, &ev.duration_ms)
    if rc:
        return rc
    rc = get_obj(c, B_status, &present)
    if rc:
        return rc
    if present:
        rc = get_int(c, B_status_code, INT32_MIN, INT32_MAX, False, &present, &v)
        if rc:
            return rc
        ev.status = <int32_t>v if present else 0
        rc = get_text(c, B_status_msg, False, &ev.status_msg)
        if rc:
            return rc
    rc = get_text(c, B_pnfsid, False, &ev.file_id)
    if rc:
        return rc
    rc = get_text(c, B_storageInfo, False, &ev.storage_class)
    if rc:
        return rc
    rc = get_text(c, B_cellName, False, &cell)
    if rc:
        return rc
    rc = get_text(c, B_cellDomain, False, &domain)
    if rc:
        return rc
    if cell.len > 0 and domain.len > 0:
        buf = concat3(c, cell, b"@", 1, domain, &n)
        if buf == NULL:
            return R_NOMEM
        ev.system = mkstr(buf, n)
    else:
        ev.system = cell

    rc = billing_subject(c, &sub)
    if rc:
        return rc
    rc = get_text(c, B_owner, False, &owner)
    if rc:
        return rc
    rc = get_int(c, B_mappedUID, 0, INT64_MAX, False, &has_mapped_uid, &mapped_uid)
    if rc:
        return rc
    rc = get_int(c, B_mappedGID, 0, INT64_MAX, False, &has_mapped_gid, &mapped_gid)
    if rc:
        return rc
    ev.user = sub.user if sub.user.len > 0 else (sub.dn if sub.dn.len > 0 else owner)
    if sub.has_uid:
        ev.has_uid = True
        ev.uid = sub.uid
    elif has_mapped_uid:
        ev.has_uid = True
        ev.uid = mapped_uid
    if sub.has_gid_primary:
        ev.has_gid = True
        ev.gid = sub.gid_primary
    elif sub.has_gid_first:
        ev.has_gid = True
        ev.gid = sub.gid_first
    elif has_mapped_gid:
        ev.has_gid = True
        ev.gid = mapped_gid

    # attrs, in the reference's order
    rc = get_scalar(c, B_version, &version)
    if rc:
        return rc
    if version.len < 0:
        rc = get_scalar(c, B_VERSION, &version)
        if rc:
            return rc
    add_attr(c, b"version", 7, version)
    rc = get_text(c, B_cellType, False, &cell_type)
    if rc:
        return rc
    add_attr(c, b"cellType", 8, cell_type)

    rc = get_obj(c, B_protocolInfo, &present)
    if rc:
        return rc
    host = null_str()
    if present:
        rc = get_text(c, B_pi_host, False, &host)
        if rc:
            return rc
        rc = get_text(c, B_pi_protocol, False, &proto)
        if rc:
            return rc
        rc = get_int(c, B_pi_versionMajor, 0, INT64_MAX, False, &has_major, &major)
        if rc:
            return rc
        rc = get_int(c, B_pi_versionMinor, 0, INT64_MAX, False, &has_minor, &minor)
        if rc:
            return rc
        if proto.len >= 0:
            if has_major and has_minor:
                buf = arena_alloc(&c.arena, proto.len + 44)
                if buf == NULL:
                    return R_NOMEM
                memcpy(buf, proto.ptr, <size_t>proto.len)
                n = proto.len
                buf[n] = b'-'
                n += 1
                n += fmt_int64(buf + n, major)
                buf[n] = b'.'
                n += 1
                n += fmt_int64(buf + n, minor)
                ev.protocol = mkstr(buf, n)
            else:
                ev.protocol = proto
        rc = get_scalar(c, B_pi_transferTag, &s)
        if rc:
            return rc
        add_attr(c, b"transferTag", 11, s)
        rc = get_scalar(c, B_pi_port, &s)
        if rc:
            return rc
        add_attr(c, b"port", 4, s)
    rc = get_text(c, B_client, False, &door_client)
    if rc:
        return rc
    ev.client = host if host.len > 0 else (door_client if door_client.len > 0 else sub.origin)
    rc = get_text(c, B_protocol, False, &hit_protocol)
    if rc:
        return rc
    if ev.protocol.len < 0 and hit_protocol.len >= 0:
        # "Https-1.1:host:port:door:domain:path" -> the part before the first ':' (or None)
        buf = <char*>memchr(hit_protocol.ptr, b':', <size_t>hit_protocol.len)
        n = (buf - hit_protocol.ptr) if buf != NULL else hit_protocol.len
        if n > 0:
            ev.protocol = mkstr(hit_protocol.ptr, n)

    rc = get_obj(c, B_hsm, &present)
    if rc:
        return rc
    if present:
        rc = get_scalar(c, B_hsm_type, &s)
        if rc:
            return rc
        add_attr(c, b"hsm_type", 8, s)
        rc = get_scalar(c, B_hsm_instance, &s)
        if rc:
            return rc
        add_attr(c, b"hsm_instance", 12, s)
        rc = get_scalar(c, B_hsm_provider, &s)
        if rc:
            return rc
        add_attr(c, b"hsm_provider", 12, s)
    for k in range(B_session, B_cached + 1):
        rc = get_scalar(c, k, &s)
        if rc:
            return rc
        add_attr(c, SLOT_KEY[k], SLOT_KEY_LEN[k], s)
    return R_OK


# -- GPFS audit / watch folder (_ref/gpfs.py, FORMATS.md §3.3, §3.4) -----------------------------

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

GPFS_COMMON = ("event", "path", "eventTime", "fileSize", "inode", "clientUserId", "clientGroupId",
               "nfsClientIp", "clusterName", "fsName", "poolName")

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


# -- inotify flags (_ref/inotify_flags.py, FORMATS.md §3.5) ---------------------------------------

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


# -- S3 (_ref/s3.py, FORMATS.md §3.6) -------------------------------------------------------------

S3_MSG_SLOTS = ("Records",)
S3_REC_SLOTS = (
    "eventName", "eventTime", "eventSource", "awsRegion",
    "userIdentity", "userIdentity.principalId",
    "requestParameters", "requestParameters.sourceIPAddress",
    "s3", "s3.bucket", "s3.bucket.name",
    "s3.object", "s3.object.key", "s3.object.size", "s3.object.eTag", "s3.object.versionId",
    "s3.object.sequencer",
)

cdef enum:
    M_Records = 0

cdef enum:
    E_eventName = 0
    E_eventTime
    E_eventSource
    E_awsRegion
    E_userIdentity
    E_principalId
    E_requestParameters
    E_sourceIPAddress
    E_s3
    E_bucket
    E_bucket_name
    E_object
    E_key
    E_size
    E_eTag
    E_versionId
    E_sequencer
    E_N_SLOTS


cdef inline int hexval(unsigned char ch) noexcept nogil:
    if 48 <= ch <= 57:
        return ch - 48
    if 97 <= ch <= 102:
        return ch - 87
    if 65 <= ch <= 70:
        return ch - 55
    return -1


cdef int s3_path(Ctx* c, Str bucket, Str key, Str* out) noexcept nogil:
    """path_field("/" + bucket + "/" + decode_key(key)): form-URL-decoding, result must be UTF-8."""
    cdef char* buf = arena_alloc(&c.arena, bucket.len + key.len + 2)
    cdef Py_ssize_t i, k
    cdef int hi, lo
    cdef unsigned char ch
    if buf == NULL:
        return R_NOMEM
    buf[0] = b'/'
    memcpy(buf + 1, bucket.ptr, <size_t>bucket.len)
    buf[1 + bucket.len] = b'/'
    k = bucket.len + 2
    i = 0
    while i < key.len:
        ch = <unsigned char>key.ptr[i]
        if ch == b'%':
            hi = hexval(<unsigned char>key.ptr[i + 1]) if i + 1 < key.len else -1
            lo = hexval(<unsigned char>key.ptr[i + 2]) if i + 2 < key.len else -1
            if hi < 0 or lo < 0:
                c.err_field = E_key
                return R_NON_CANONICAL
            buf[k] = <char>(hi * 16 + lo)
            i += 3
        elif ch == b'+':
            buf[k] = b' '
            i += 1
        else:
            buf[k] = <char>ch
            i += 1
        k += 1
    if not utf8_valid(<const unsigned char*>buf + bucket.len + 2, k - bucket.len - 2):
        c.err_field = E_key
        return R_NON_CANONICAL
    return get_path(c, mkstr(buf, k), E_key, out)


cdef int decode_s3_record(Ctx* c) noexcept nogil:
    """One Records[i] object, already rescanned into the S3 record slots."""
    cdef EventRec* ev = &c.ev
    cdef Str name, t, bucket, key, etag, version_id, sequencer, region
    cdef bint present
    cdef int rc
    rc = get_text(c, E_eventName, True, &name)
    if rc:
        return rc
    if name.len >= 3 and memcmp(name.ptr, b"s3:", 3) == 0:
        name.ptr += 3
        name.len -= 3
    rc = get_text(c, E_eventTime, True, &t)
    if rc:
        return rc
    if not parse_time(t.ptr, t.len, False, &ev.time_us):
        c.err_field = E_eventTime
        return R_BAD_TIME
    rc = get_obj(c, E_s3, &present)
    if rc:
        return rc
    if not present:
        c.err_field = E_s3
        return R_MISSING
    rc = get_obj(c, E_bucket, &present)
    if rc:
        return rc
    if not present:
        c.err_field = E_bucket
        return R_MISSING
    rc = get_text(c, E_bucket_name, True, &bucket)
    if rc:
        return rc
    rc = get_obj(c, E_object, &present)
    if rc:
        return rc
    if not present:
        c.err_field = E_object
        return R_MISSING
    rc = get_text(c, E_key, True, &key)
    if rc:
        return rc
    rc = s3_path(c, bucket, key, &ev.path)
    if rc:
        return rc
    # kind_of(name)
    if name.len >= 14 and memcmp(name.ptr, b"ObjectCreated:", 14) == 0:
        ev.kind = K_UPLOAD
    elif name.len >= 14 and memcmp(name.ptr, b"ObjectRemoved:", 14) == 0:
        ev.kind = K_DELETE
    elif str_eq(name, b"ObjectRestore:Completed", 23):
        ev.kind = K_STAGE
    elif name.len >= 15 and memcmp(name.ptr, b"ObjectAccessed:", 15) == 0:
        ev.kind = K_DOWNLOAD
    else:
        ev.kind = K_OTHER
    ev.raw_type = name
    rc = get_int(c, E_size, 0, INT64_MAX, True, &ev.has_size, &ev.size)
    if rc:
        return rc
    rc = get_text(c, E_eTag, False, &etag)
    if rc:
        return rc
    rc = get_text(c, E_versionId, False, &version_id)
    if rc:
        return rc
    ev.file_id = version_id if version_id.len > 0 else etag
    rc = get_text(c, E_sequencer, False, &sequencer)
    if rc:
        return rc
    rc = get_obj(c, E_userIdentity, &present)
    if rc:
        return rc
    if present:
        rc = get_text(c, E_principalId, False, &ev.user)
        if rc:
            return rc
    rc = get_obj(c, E_requestParameters, &present)
    if rc:
        return rc
    if present:
        rc = get_text(c, E_sourceIPAddress, False, &ev.client)
        if rc:
            return rc
    ev.protocol = mkstr(b"s3", 2)
    rc = get_text(c, E_eventSource, False, &ev.system)
    if rc:
        return rc
    rc = get_scalar(c, E_awsRegion, &region)
    if rc:
        return rc
    add_attr(c, b"bucket", 6, bucket)
    add_attr(c, b"sequencer", 9, sequencer)
    add_attr(c, b"eTag", 4, etag)
    add_attr(c, b"awsRegion", 9, region)
    return R_OK


# -- dCache inotify over SSE (_ref/inotify_sse.py, FORMATS.md §3.2) -------------------------------

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
