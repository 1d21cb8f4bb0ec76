# -- S3 (_ref/s3.py, docs/formats.md §3.6) -------------------------------------------------------------

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
