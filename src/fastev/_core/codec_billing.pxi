# -- dCache billing (_ref/billing.py, docs/formats.md §3.1) ------------------------------------------

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


# attrs keys as C strings (name, length), indexed like the slots above (filled by codec.pyx)
cdef const char* SLOT_KEY[MAX_SLOTS]
cdef Py_ssize_t SLOT_KEY_LEN[MAX_SLOTS]


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
