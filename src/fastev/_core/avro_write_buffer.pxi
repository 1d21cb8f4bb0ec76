# The write buffer (included by avro.pyx): a growable byte buffer and the Avro primitive writers
# (varints, strings, ...) every encoder in _core shares (declared in avro.pxd). Separate: no knowledge
# of the event schema.

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
        """Append the Avro binary of one event (StorageEvent or dict); on error nothing is appended."""
        _encode_dict_into(self, d)


cdef int raise_write_error(int rc) except -1:
    if rc == WRITE_NOMEM:
        raise MemoryError("Avro write buffer could not grow")
    raise ValueError(f"EventRec: invalid value (code {rc})")
