# Framing around encoded events (included by avro.pyx): the Confluent wire prefix, the CRC-64-AVRO
# schema fingerprint and Object Container Files (OcfWriter, ocf_bytes). Separate: whole-file and message
# layout, not records.

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
        """Append one event (a StorageEvent or a dict of its fields) to the current block."""
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
