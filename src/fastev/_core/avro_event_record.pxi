# EventRec (the decoders' C record, event.pxd) to Avro binary and to a dict (included by avro.pyx): the
# encoding of the schema's fields. Separate from the dict reader: this side never touches Python input.

# -- EventRec -> Avro (spec "Binary Encoding", "Complex Types") -----------------------------

cdef int _write_fields(WriteBuffer buf, const EventRec* ev) noexcept nogil:
    # Field order of org.fastev.v1.StorageEvent; enums are written as their ordinal (spec "Enums").
    cdef int i
    if (ev.source < 0 or ev.source >= _N_SOURCES or ev.kind < 0 or ev.kind >= _N_KINDS
            or ev.raw_type.len < 0 or ev.path.len < 0 or ev.n_groups < 0 or ev.n_attrs < 0
            or (ev.n_groups and ev.groups == NULL) or (ev.n_attrs and ev.attrs == NULL)):
        return WRITE_INVALID
    if (buf.write_string(ev.id, 32) < 0
            or buf.write_int(ev.source) < 0
            or buf.write_int(ev.kind) < 0
            or buf.write_str(ev.raw_type) < 0
            or buf.write_long(ev.time_us) < 0
            or buf.write_str(ev.path) < 0
            or buf.write_null_or_string(ev.old_path) < 0
            or buf.write_bool(ev.is_dir) < 0
            or buf.write_null_or_long(ev.has_size, ev.size) < 0
            or buf.write_null_or_long(ev.has_bytes, ev.bytes) < 0
            or buf.write_null_or_long(ev.has_duration, ev.duration_ms) < 0
            or buf.write_int(ev.status) < 0
            or buf.write_null_or_string(ev.status_msg) < 0
            or buf.write_null_or_string(ev.file_id) < 0
            or buf.write_null_or_string(ev.user) < 0
            or buf.write_null_or_long(ev.has_uid, ev.uid) < 0
            or buf.write_null_or_long(ev.has_gid, ev.gid) < 0):
        return WRITE_NOMEM
    # spec "Arrays": one block (count, items) when non-empty, then the 0 end marker
    if ev.n_groups:
        if buf.write_long(ev.n_groups) < 0:
            return WRITE_NOMEM
        for i in range(ev.n_groups):
            if ev.groups[i].len < 0:
                return WRITE_INVALID
            if buf.write_str(ev.groups[i]) < 0:
                return WRITE_NOMEM
    if (buf.write_byte(0) < 0
            or buf.write_null_or_string(ev.client) < 0
            or buf.write_null_or_string(ev.protocol) < 0
            or buf.write_null_or_string(ev.system) < 0
            or buf.write_null_or_string(ev.storage_class) < 0):
        return WRITE_NOMEM
    # spec "Maps": like arrays, each item a string key and its value
    if ev.n_attrs:
        if buf.write_long(ev.n_attrs) < 0:
            return WRITE_NOMEM
        for i in range(ev.n_attrs):
            if ev.attrs[i].key.len < 0 or ev.attrs[i].value.len < 0:
                return WRITE_INVALID
            if buf.write_str(ev.attrs[i].key) < 0 or buf.write_str(ev.attrs[i].value) < 0:
                return WRITE_NOMEM
    return buf.write_byte(0)


cdef int write_event_rec(WriteBuffer buf, const EventRec* ev) noexcept nogil:
    cdef Py_ssize_t start = buf.mark()
    cdef int rc = _write_fields(buf, ev)
    if rc < 0:
        buf.rollback(start)
    return rc


cdef str _invalid_field(const EventRec* ev):
    """Names what write_event_rec refused (off the hot path)."""
    cdef int i
    if ev.source < 0 or ev.source >= _N_SOURCES:
        return f"source: ordinal {ev.source} is not a Source symbol"
    if ev.kind < 0 or ev.kind >= _N_KINDS:
        return f"kind: ordinal {ev.kind} is not a Kind symbol"
    if ev.raw_type.len < 0:
        return "raw_type: null"
    if ev.path.len < 0:
        return "path: null"
    if ev.n_groups < 0 or (ev.n_groups and ev.groups == NULL):
        return "groups: invalid array"
    for i in range(ev.n_groups):
        if ev.groups[i].len < 0:
            return f"groups[{i}]: null"
    if ev.n_attrs < 0 or (ev.n_attrs and ev.attrs == NULL):
        return "attrs: invalid map"
    return "attrs: null key or value"


cdef int encode_event_rec(WriteBuffer buf, const EventRec* ev) except -1:
    cdef int rc = write_event_rec(buf, ev)
    if rc == WRITE_INVALID:
        raise ValueError(_invalid_field(ev))
    if rc < 0:
        raise_write_error(rc)
    return 0


# -- EventRec -> dict -----------------------------------------------------------------------

cdef inline str _text(Str s):
    return PyUnicode_DecodeUTF8(s.ptr, s.len, NULL)


cdef inline object _text_or_none(Str s):
    return None if s.len < 0 else PyUnicode_DecodeUTF8(s.ptr, s.len, NULL)


cdef dict event_rec_to_dict(const EventRec* ev):
    cdef int i
    cdef list groups
    cdef dict attrs
    if ev.source < 0 or ev.source >= _N_SOURCES or ev.kind < 0 or ev.kind >= _N_KINDS:
        raise ValueError(_invalid_field(ev))
    groups = [_text(ev.groups[i]) for i in range(ev.n_groups)]
    attrs = {}
    for i in range(ev.n_attrs):
        attrs[_text(ev.attrs[i].key)] = _text(ev.attrs[i].value)
    return {
        "id": PyUnicode_DecodeUTF8(ev.id, 32, NULL),
        "source": _SOURCES[ev.source],
        "kind": _KINDS[ev.kind],
        "raw_type": _text(ev.raw_type),
        "time_us": ev.time_us,
        "path": _text(ev.path),
        "old_path": _text_or_none(ev.old_path),
        "is_dir": True if ev.is_dir else False,
        "size": ev.size if ev.has_size else None,
        "bytes": ev.bytes if ev.has_bytes else None,
        "duration_ms": ev.duration_ms if ev.has_duration else None,
        "status": ev.status,
        "status_msg": _text_or_none(ev.status_msg),
        "file_id": _text_or_none(ev.file_id),
        "user": _text_or_none(ev.user),
        "uid": ev.uid if ev.has_uid else None,
        "gid": ev.gid if ev.has_gid else None,
        "groups": groups,
        "client": _text_or_none(ev.client),
        "protocol": _text_or_none(ev.protocol),
        "system": _text_or_none(ev.system),
        "storage_class": _text_or_none(ev.storage_class),
        "attrs": attrs,
    }
