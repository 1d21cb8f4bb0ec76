# Native Avro writer (see avro.pyx). Declared here so the decoders and the batch
# transcoder can cimport the write buffer and encode events straight from EventRec.
#
# Error convention of every write_* primitive: 0 = written, WRITE_NOMEM (-1) = the
# buffer could not grow (nothing was written, no Python exception is set). They
# are noexcept nogil; the caller checks the code and, holding the GIL, calls
# raise_write_error(). encode_event_rec() does that for you.
cimport cython
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from fastev._core.event cimport Attr, EventRec, Str


cdef enum:
    WRITE_OK = 0
    WRITE_NOMEM = -1         # realloc failed; the buffer is unchanged
    WRITE_INVALID = -2       # EventRec holds a value the schema cannot carry


@cython.final
cdef class WriteBuffer:
    cdef:
        char* _buf
        Py_ssize_t _len      # bytes written
        Py_ssize_t _cap      # bytes allocated

    cdef int reserve(self, Py_ssize_t extra) noexcept nogil
    cdef int write_byte(self, unsigned char b) noexcept nogil
    cdef int write_raw(self, const char* data, Py_ssize_t n) noexcept nogil
    cdef int write_long(self, int64_t v) noexcept nogil        # zig-zag varint
    cdef int write_int(self, int32_t v) noexcept nogil         # zig-zag varint
    cdef int write_bool(self, bint v) noexcept nogil
    cdef int write_string(self, const char* data, Py_ssize_t n) noexcept nogil
    cdef int write_str(self, Str s) noexcept nogil             # s.len >= 0
    cdef int write_null_or_string(self, Str s) noexcept nogil  # union ["null","string"]
    cdef int write_null_or_long(self, bint present, int64_t v) noexcept nogil
    cdef int write_confluent_header(self, uint32_t schema_id) noexcept nogil
    cdef Py_ssize_t mark(self) noexcept nogil                  # current length
    cdef void rollback(self, Py_ssize_t mark) noexcept nogil   # drop bytes after mark
    cdef void clear(self) noexcept nogil                       # length 0, memory kept
    cdef const char* data(self) noexcept nogil
    cdef Py_ssize_t length(self) noexcept nogil


# Raise MemoryError (WRITE_NOMEM) or ValueError (WRITE_INVALID); always returns -1.
cdef int raise_write_error(int rc) except -1

# Avro binary of one StorageEvent, appended to buf; nogil, nothing raised.
# On failure buf is rolled back to where it was and the code is returned.
cdef int write_event_rec(WriteBuffer buf, const EventRec* ev) noexcept nogil

# As write_event_rec, raising MemoryError / ValueError (naming the field) on failure.
cdef int encode_event_rec(WriteBuffer buf, const EventRec* ev) except -1

# The event as the Python dict of docs/formats.md §1 (keys = FIELDS, strings decoded UTF-8).
cdef dict event_rec_to_dict(const EventRec* ev)

# CRC-64-AVRO (spec "Schema Fingerprints").
cdef uint64_t crc64_avro(const unsigned char* data, Py_ssize_t n) noexcept nogil
