# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native Avro writer for StorageEvent (the reference is fastev._ref.avro).

Apache Avro 1.11 specification sections cited as spec "...". Output is byte for
byte the reference's, errors included (same exception type and message).
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport INT32_MAX, INT32_MIN, int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from fastev._core.event cimport Attr, EventRec, Str

import io
import os
import zlib

from fastev._ref.avro import (
    CODECS,
    KIND_ORDINALS as _KIND_ORDINALS,
    SOURCE_ORDINALS as _SOURCE_ORDINALS,
    SYNC_SIZE,
    _ocf_header,
)
from fastev.event import KINDS, SOURCES

cdef Py_ssize_t _MIN_CAPACITY = 256
cdef Py_ssize_t _MAX_CAPACITY = PY_SSIZE_T_MAX // 2
cdef int _N_SOURCES = len(SOURCES)
cdef int _N_KINDS = len(KINDS)
cdef tuple _SOURCES = SOURCES
cdef tuple _KINDS = KINDS
cdef dict _SOURCE_ORD = _SOURCE_ORDINALS
cdef dict _KIND_ORD = _KIND_ORDINALS
cdef object _MISSING = object()


# -- write buffer (after asyncpg's WriteBuffer) ---------------------------------------------

@cython.final
cdef class WriteBuffer:
    """A growable byte buffer holding Avro output; freed with the object."""

    def __cinit__(self, Py_ssize_t capacity=0):
        self._buf = NULL
        self._len = 0
        self._cap = 0
        if capacity > 0 and self.reserve(capacity) < 0:
            raise MemoryError()

    def __dealloc__(self):
        free(self._buf)
        self._buf = NULL

    cdef int reserve(self, Py_ssize_t extra) noexcept nogil:
        """Make room for extra more bytes; WRITE_NOMEM (buffer untouched) when impossible."""
        cdef Py_ssize_t need, cap
        cdef char* grown
        if extra <= self._cap - self._len:
            return WRITE_OK
        if extra < 0 or extra > _MAX_CAPACITY - self._len:
            return WRITE_NOMEM
        need = self._len + extra
        cap = self._cap * 2 if self._cap else _MIN_CAPACITY
        if cap < need:
            cap = need
        grown = <char*>realloc(self._buf, <size_t>cap)
        if grown == NULL:
            return WRITE_NOMEM
        self._buf = grown
        self._cap = cap
        return WRITE_OK

    cdef int write_byte(self, unsigned char b) noexcept nogil:
        if self._len == self._cap and self.reserve(1) < 0:
            return WRITE_NOMEM
        self._buf[self._len] = <char>b
        self._len += 1
        return WRITE_OK

    cdef int write_raw(self, const char* data, Py_ssize_t n) noexcept nogil:
        if n <= 0:
            return WRITE_OK
        if self.reserve(n) < 0:
            return WRITE_NOMEM
        memcpy(self._buf + self._len, data, <size_t>n)
        self._len += n
        return WRITE_OK

    cdef int write_long(self, int64_t v) noexcept nogil:
        # spec "Binary Encoding": zig-zag, then 7 bits per byte, low group first (<= 10 bytes)
        cdef uint64_t z = (<uint64_t>v << 1) ^ (<uint64_t>0 - (<uint64_t>v >> 63))
        cdef char* p
        if self._cap - self._len < 10 and self.reserve(10) < 0:
            return WRITE_NOMEM
        p = self._buf + self._len
        while z > 0x7F:
            p[0] = <char>((z & 0x7F) | 0x80)
            p += 1
            z >>= 7
        p[0] = <char>z
        self._len = (p - self._buf) + 1
        return WRITE_OK

    cdef int write_int(self, int32_t v) noexcept nogil:
        # the zig-zag varint of an int equals that of the same value as a long
        return self.write_long(v)

    cdef int write_bool(self, bint v) noexcept nogil:
        return self.write_byte(1 if v else 0)

    cdef int write_string(self, const char* data, Py_ssize_t n) noexcept nogil:
        # spec "Binary Encoding": string = long byte count, then the UTF-8 bytes
        if n < 0 or self.reserve(10 + n) < 0:
            return WRITE_NOMEM
        self.write_long(n)
        if n:
            memcpy(self._buf + self._len, data, <size_t>n)
            self._len += n
        return WRITE_OK

    cdef int write_str(self, Str s) noexcept nogil:
        return self.write_string(s.ptr, s.len)

    cdef int write_null_or_string(self, Str s) noexcept nogil:
        # spec "Unions": branch index as a long (0 = null, 1 = string; zig-zag 0x00 / 0x02)
        if s.len < 0:
            return self.write_byte(0)
        if self.write_byte(2) < 0:
            return WRITE_NOMEM
        if self.write_string(s.ptr, s.len) < 0:
            self._len -= 1
            return WRITE_NOMEM
        return WRITE_OK

    cdef int write_null_or_long(self, bint present, int64_t v) noexcept nogil:
        if not present:
            return self.write_byte(0)
        if self._cap - self._len < 11 and self.reserve(11) < 0:
            return WRITE_NOMEM
        self.write_byte(2)
        return self.write_long(v)

    cdef int write_confluent_header(self, uint32_t schema_id) noexcept nogil:
        # Confluent wire format: magic byte 0, schema id as 4-byte big-endian
        cdef char* p
        if self.reserve(5) < 0:
            return WRITE_NOMEM
        p = self._buf + self._len
        p[0] = 0
        p[1] = <char>((schema_id >> 24) & 0xFF)
        p[2] = <char>((schema_id >> 16) & 0xFF)
        p[3] = <char>((schema_id >> 8) & 0xFF)
        p[4] = <char>(schema_id & 0xFF)
        self._len += 5
        return WRITE_OK

    cdef Py_ssize_t mark(self) noexcept nogil:
        return self._len

    cdef void rollback(self, Py_ssize_t mark) noexcept nogil:
        if 0 <= mark < self._len:
            self._len = mark

    cdef void clear(self) noexcept nogil:
        self._len = 0

    cdef const char* data(self) noexcept nogil:
        return self._buf

    cdef Py_ssize_t length(self) noexcept nogil:
        return self._len

    # Python-level API

    def __len__(self):
        return self._len

    def getvalue(self):
        """The bytes written so far (a copy)."""
        return PyBytes_FromStringAndSize(self._buf, self._len)

    def reset(self):
        """Forget the content; keep the memory for reuse."""
        self._len = 0

    def tell(self):
        """A position for truncate() (the Python face of mark())."""
        return self._len

    def truncate(self, Py_ssize_t pos):
        """Drop everything written after pos (the Python face of rollback())."""
        if not 0 <= pos <= self._len:
            raise ValueError(f"pos: {pos} is outside 0..{self._len}")
        self._len = pos

    def write(self, const unsigned char[::1] data not None):
        """Append raw bytes (e.g. an already-encoded event)."""
        if data.shape[0] and self.write_raw(<const char*>&data[0], data.shape[0]) < 0:
            raise MemoryError()

    def write_event(self, object d):
        """Append the Avro binary of one event dict; on error nothing is appended."""
        _encode_dict_into(self, d)


cdef int raise_write_error(int rc) except -1:
    if rc == WRITE_NOMEM:
        raise MemoryError("Avro write buffer could not grow")
    raise ValueError(f"EventRec: invalid value (code {rc})")


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
    cdef dict d = mapping if type(mapping) is dict else _keep(s, dict(mapping))
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
    """The Avro binary encoding of one StorageEvent dict (keys = FIELDS)."""
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


# -- framing and fingerprints --------------------------------------------------------------

def confluent_frame(object schema_id, const unsigned char[::1] payload not None):
    """Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro payload."""
    cdef WriteBuffer out
    if not isinstance(schema_id, int) or not 0 <= schema_id <= 0x7FFFFFFF:
        raise ValueError(f"schema_id: {schema_id} is outside 0..2**31-1")
    out = WriteBuffer(5 + payload.shape[0])
    out.write_confluent_header(<uint32_t>schema_id)
    if payload.shape[0]:
        out.write_raw(<const char*>&payload[0], payload.shape[0])
    return out.getvalue()


cdef uint64_t _CRC64_EMPTY = 0xC15D213AA4D7A795ULL
cdef uint64_t _CRC64_TABLE[256]


cdef void _init_crc64_table() noexcept nogil:
    cdef uint64_t fp
    cdef int i
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_CRC64_EMPTY & (<uint64_t>0 - (fp & 1)))
        _CRC64_TABLE[i] = fp


_init_crc64_table()


cdef uint64_t crc64_avro(const unsigned char* data, Py_ssize_t n) noexcept nogil:
    cdef uint64_t fp = _CRC64_EMPTY
    cdef Py_ssize_t i
    for i in range(n):
        fp = (fp >> 8) ^ _CRC64_TABLE[(fp ^ data[i]) & 0xFF]
    return fp


def fingerprint64(const unsigned char[::1] data not None):
    """CRC-64-AVRO of data (spec "Schema Fingerprints"), as an unsigned int."""
    if data.shape[0] == 0:
        return _CRC64_EMPTY
    return crc64_avro(&data[0], data.shape[0])


# -- Object Container Files (spec "Object Container Files") --------------------------------

cdef class OcfWriter:
    """Writes StorageEvents as an Avro Object Container File (same bytes as the reference)."""

    cdef object _fileobj
    cdef bytes _sync
    cdef str _codec
    cdef bint _deflate
    cdef bint _closed
    cdef Py_ssize_t _block_events
    cdef Py_ssize_t _count
    cdef WriteBuffer _block
    cdef WriteBuffer _out

    def __init__(self, fileobj, str codec="null", sync_marker=None, Py_ssize_t block_events=1000):
        if codec not in CODECS:
            raise ValueError(f"codec: {codec!r} is not one of {CODECS}")
        if block_events < 1:
            raise ValueError(f"block_events: {block_events} is not positive")
        if sync_marker is None:
            sync_marker = os.urandom(SYNC_SIZE)
        elif len(sync_marker) != SYNC_SIZE:
            raise ValueError(f"sync_marker: expected {SYNC_SIZE} bytes, got {len(sync_marker)}")
        self._sync = bytes(sync_marker)
        self._fileobj = fileobj
        self._codec = codec
        self._deflate = codec == "deflate"
        self._block_events = block_events
        self._count = 0
        self._closed = False
        self._block = WriteBuffer(4096)
        self._out = WriteBuffer(0)
        fileobj.write(_ocf_header(codec, self._sync))

    @property
    def sync_marker(self):
        return self._sync

    @property
    def codec(self):
        return self._codec

    @property
    def pending(self):
        """Events buffered for the next block."""
        return self._count

    cdef inline int _check_open(self) except -1:
        if self._closed:
            raise ValueError("OcfWriter is closed")
        return 0

    cdef inline int _event_added(self) except -1:
        self._count += 1
        if self._count >= self._block_events:
            self.flush_block()
        return 0

    def write_encoded(self, payload):
        """Append one event already in Avro binary encoding (e.g. from encode_event)."""
        cdef const unsigned char[::1] view
        self._check_open()
        if PyBytes_CheckExact(payload):
            if self._block.write_raw(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload)) < 0:
                raise MemoryError()
        else:
            view = payload
            if view.shape[0] and self._block.write_raw(<const char*>&view[0], view.shape[0]) < 0:
                raise MemoryError()
        self._event_added()

    def write_event(self, d):
        self._check_open()
        _encode_dict_into(self._block, d)
        self._event_added()

    def write_events(self, events):
        for d in events:
            self.write_event(d)

    def write_block(self, Py_ssize_t count, bytes data):
        """Write ``count`` events already encoded back to back (e.g. a Transcoder route block)
        as one data block of their own, after flushing what is pending. No copy for codec null."""
        cdef WriteBuffer head = self._out
        self._check_open()
        if count < 0:
            raise ValueError("count: must not be negative")
        self.flush_block()
        if count == 0:
            return
        if self._deflate:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            data = compressor.compress(data) + compressor.flush()
        head.clear()
        if head.write_long(count) < 0 or head.write_long(PyBytes_GET_SIZE(data)) < 0:
            raise MemoryError()
        self._fileobj.write(head.getvalue())
        self._fileobj.write(data)
        self._fileobj.write(self._sync)

    def flush_block(self):
        """Write the buffered events as one data block; nothing when none are buffered."""
        cdef bytes data
        cdef WriteBuffer out = self._out
        self._check_open()
        if not self._count:
            return
        out.clear()
        if self._deflate:
            # "deflate" is raw DEFLATE (RFC 1951, zlib wbits=-15), one stream per block
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            data = compressor.compress(self._block.getvalue()) + compressor.flush()
            if (out.write_long(self._count) < 0 or out.write_long(len(data)) < 0
                    or out.write_raw(PyBytes_AS_STRING(data), len(data)) < 0):
                raise MemoryError()
        elif (out.write_long(self._count) < 0 or out.write_long(self._block._len) < 0
                or out.write_raw(self._block._buf, self._block._len) < 0):
            raise MemoryError()
        if out.write_raw(PyBytes_AS_STRING(self._sync), SYNC_SIZE) < 0:
            raise MemoryError()
        self._fileobj.write(out.getvalue())
        self._block.clear()
        self._count = 0

    def close(self):
        if not self._closed:
            self.flush_block()
            self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def ocf_bytes(encoded_events, str codec="null", sync_marker=None, Py_ssize_t block_events=1000):
    """A whole Object Container File holding the given already-encoded events."""
    buf = io.BytesIO()
    with OcfWriter(buf, codec, sync_marker, block_events) as writer:
        for payload in encoded_events:
            writer.write_encoded(payload)
    return buf.getvalue()
