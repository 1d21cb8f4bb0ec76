# A StorageEvent or dict to EventRec (included by avro.pyx), checked field by field with the reference's
# messages, then encoded: the Python-facing encode_event. Separate: all validation of caller input lives
# here.

# -- dict -> EventRec (borrowing the UTF-8 of the dict's str objects) ------------------------
# Checks run in field order with the reference's messages, so both raise the same error.
# Error messages are built only on the error path; the happy path formats nothing.

cdef inline str _type_name(object v):
    return type(v).__name__


cdef object _get(dict d, str field):
    cdef object value = d.get(field, _MISSING)
    if value is _MISSING:
        raise ValueError(f"{field}: missing")
    return value


cdef enum:
    _UTF8_OK = 0
    _UTF8_NOT_STR = 1
    _UTF8_UNENCODABLE = 2


cdef int _as_utf8(object value, Str* out) except -1:
    """Point out at the str's UTF-8 (cached in the str object, alive as long as it is)."""
    if not isinstance(value, str):
        return _UTF8_NOT_STR
    try:
        out.ptr = PyUnicode_AsUTF8AndSize(value, &out.len)
    except UnicodeEncodeError:  # lone surrogates
        return _UTF8_UNENCODABLE
    return _UTF8_OK


cdef str _utf8_error(str field, object value, int rc):
    if rc == _UTF8_NOT_STR:
        return f"{field}: expected str, got {_type_name(value)}"
    return f"{field}: string is not encodable as UTF-8"


cdef int _utf8(str field, object value, Str* out) except -1:
    cdef int rc = _as_utf8(value, out)
    if rc:
        raise ValueError(_utf8_error(field, value, rc))
    return 0


cdef int _opt_utf8(str field, object value, Str* out) except -1:
    if value is None:
        out.ptr = NULL
        out.len = -1
        return 0
    return _utf8(field, value, out)


cdef int64_t _int64(str field, object value) except? -1:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{field}: expected int, got {_type_name(value)}")
    try:
        return PyLong_AsLongLong(value)
    except OverflowError:
        raise ValueError(f"{field}: {value} is outside int64") from None


cdef bint _opt_int64(str field, object value, int64_t* out) except -1:
    """True and *out set when value is an int, False when None."""
    if value is None:
        out[0] = 0
        return False
    out[0] = _int64(field, value)
    return True


cdef int _ordinal(str field, object value, dict ordinals, str enum) except -1:
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected str, got {_type_name(value)}")
    ordinal = ordinals.get(value)
    if ordinal is None:
        raise ValueError(f"{field}: {str(value)!r} is not a {enum} symbol")
    return <int>ordinal


cdef int _fill_id(EventRec* ev, object value) except -1:
    cdef Py_UCS4 ch
    cdef Py_ssize_t n = 0
    cdef const char* p
    if not isinstance(value, str):
        raise ValueError(f"id: expected str, got {_type_name(value)}")
    if len(<str>value) != 32:
        raise ValueError("id: expected 32 lowercase hex characters")
    for ch in <str>value:
        if not (u'0' <= ch <= u'9' or u'a' <= ch <= u'f'):
            raise ValueError("id: expected 32 lowercase hex characters")
    p = PyUnicode_AsUTF8AndSize(value, &n)  # ASCII: 32 bytes
    memcpy(ev.id, p, 32)
    return 0


cdef int _fill_scalars(EventRec* ev, dict d) except -1:
    cdef object v
    _fill_id(ev, _get(d, "id"))
    ev.source = _ordinal("source", _get(d, "source"), _SOURCE_ORD, "Source")
    ev.kind = _ordinal("kind", _get(d, "kind"), _KIND_ORD, "Kind")
    _utf8("raw_type", _get(d, "raw_type"), &ev.raw_type)
    ev.time_us = _int64("time_us", _get(d, "time_us"))
    _utf8("path", _get(d, "path"), &ev.path)
    _opt_utf8("old_path", _get(d, "old_path"), &ev.old_path)
    v = _get(d, "is_dir")
    if not isinstance(v, bool):
        raise ValueError(f"is_dir: expected bool, got {_type_name(v)}")
    ev.is_dir = v is True
    ev.has_size = _opt_int64("size", _get(d, "size"), &ev.size)
    ev.has_bytes = _opt_int64("bytes", _get(d, "bytes"), &ev.bytes)
    ev.has_duration = _opt_int64("duration_ms", _get(d, "duration_ms"), &ev.duration_ms)
    v = _get(d, "status")
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"status: expected int, got {_type_name(v)}")
    if not INT32_MIN <= v <= INT32_MAX:
        raise ValueError(f"status: {v} is outside int32")
    ev.status = <int32_t>PyLong_AsLongLong(v)
    _opt_utf8("status_msg", _get(d, "status_msg"), &ev.status_msg)
    _opt_utf8("file_id", _get(d, "file_id"), &ev.file_id)
    _opt_utf8("user", _get(d, "user"), &ev.user)
    ev.has_uid = _opt_int64("uid", _get(d, "uid"), &ev.uid)
    ev.has_gid = _opt_int64("gid", _get(d, "gid"), &ev.gid)
    return 0


cdef enum:
    _STACK_ITEMS = 16        # groups/attrs of typical events need no heap scratch


cdef struct _Scratch:
    EventRec ev
    Str groups_stack[_STACK_ITEMS]
    Attr attrs_stack[_STACK_ITEMS]
    Str* groups_heap
    Attr* attrs_heap
    PyObject* keep           # owned list of temporaries the Str fields borrow from, or NULL


cdef inline void _scratch_init(_Scratch* s) noexcept nogil:
    s.groups_heap = NULL
    s.attrs_heap = NULL
    s.keep = NULL
    s.ev.groups = s.groups_stack
    s.ev.n_groups = 0
    s.ev.attrs = s.attrs_stack
    s.ev.n_attrs = 0


cdef inline void _scratch_free(_Scratch* s) noexcept:
    PyMem_Free(s.groups_heap)
    PyMem_Free(s.attrs_heap)
    s.groups_heap = NULL
    s.attrs_heap = NULL
    Py_XDECREF(s.keep)
    s.keep = NULL


cdef object _keep(_Scratch* s, object obj):
    """Hold obj until _scratch_free: a converted container must outlive the Strs into it."""
    cdef list keep
    if s.keep == NULL:
        keep = [obj]
        Py_INCREF(keep)
        s.keep = <PyObject*>keep
    else:
        (<list>s.keep).append(obj)
    return obj


cdef int _fill_event_rec(_Scratch* s, object mapping) except -1:
    """Fill s.ev from an event mapping. The Str fields borrow the UTF-8 of its str values
    (or of copies held in s.keep): use s.ev before any Python code can change them."""
    cdef dict d = mapping if type(mapping) is dict else _keep(s, dict(_event_fields(mapping)))
    cdef EventRec* ev = &s.ev
    cdef object groups, attrs, key, value
    cdef Py_ssize_t n, i
    cdef int rc
    _fill_scalars(ev, d)

    groups = _get(d, "groups")
    if not isinstance(groups, (list, tuple)):
        raise ValueError(f"groups: expected list, got {_type_name(groups)}")
    if type(groups) is not list and type(groups) is not tuple:
        groups = _keep(s, tuple(groups))  # a subclass's __getitem__ could hand out temporaries
    n = len(groups)
    if n > 0x7FFFFFFF:
        raise ValueError("groups: too many items")
    if n > _STACK_ITEMS:
        s.groups_heap = <Str*>PyMem_Malloc(n * sizeof(Str))
        if s.groups_heap == NULL:
            raise MemoryError()
        ev.groups = s.groups_heap
    for i in range(n):
        value = groups[i]
        rc = _as_utf8(value, &ev.groups[i])
        if rc:
            raise ValueError(_utf8_error(f"groups[{i}]", value, rc))
    ev.n_groups = <int>n

    _opt_utf8("client", _get(d, "client"), &ev.client)
    _opt_utf8("protocol", _get(d, "protocol"), &ev.protocol)
    _opt_utf8("system", _get(d, "system"), &ev.system)
    _opt_utf8("storage_class", _get(d, "storage_class"), &ev.storage_class)

    attrs = _get(d, "attrs")
    if not isinstance(attrs, dict):
        raise ValueError(f"attrs: expected dict, got {_type_name(attrs)}")
    if type(attrs) is not dict:
        attrs = _keep(s, dict(attrs.items()))
    n = len(<dict>attrs)
    if n > 0x7FFFFFFF:
        raise ValueError("attrs: too many items")
    if n > _STACK_ITEMS:
        s.attrs_heap = <Attr*>PyMem_Malloc(n * sizeof(Attr))
        if s.attrs_heap == NULL:
            raise MemoryError()
        ev.attrs = s.attrs_heap
    i = 0
    for key, value in (<dict>attrs).items():
        if not isinstance(key, str):
            raise ValueError(f"attrs: key: expected str, got {_type_name(key)}")
        rc = _as_utf8(key, &ev.attrs[i].key)
        if rc:
            raise ValueError(_utf8_error("attrs: key", key, rc))
        rc = _as_utf8(value, &ev.attrs[i].value)
        if rc:
            raise ValueError(_utf8_error(f"attrs[{key!r}]", value, rc))
        i += 1
    ev.n_attrs = <int>i
    return 0


cdef int _encode_dict_into(WriteBuffer buf, object d) except -1:
    cdef _Scratch s
    _scratch_init(&s)
    try:
        _fill_event_rec(&s, d)
        encode_event_rec(buf, &s.ev)
    finally:
        _scratch_free(&s)
    return 0


def encode_event(object d):
    """The Avro binary encoding of one event: a StorageEvent, or a mapping with the FIELDS as keys."""
    cdef _Scratch s
    _scratch_init(&s)
    try:
        _fill_event_rec(&s, d)
        # the shared buffer is cleared only now: filling may have run Python code
        _event_buf.clear()
        encode_event_rec(_event_buf, &s.ev)
        return PyBytes_FromStringAndSize(_event_buf._buf, _event_buf._len)
    finally:
        _scratch_free(&s)


cdef WriteBuffer _event_buf = WriteBuffer(1024)


def _dict_via_event_rec(object d):
    """dict -> EventRec -> dict; lets the tests reach event_rec_to_dict."""
    cdef _Scratch s
    _scratch_init(&s)
    try:
        _fill_event_rec(&s, d)
        return event_rec_to_dict(&s.ev)
    finally:
        _scratch_free(&s)
