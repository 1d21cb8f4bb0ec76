# The routing stage (included by codec.pyx): _Router takes each decoded event through the ACL
# filters and Avro-encodes it once into the routes' buffers. Separate from the decoder it is given to.

@cython.final
cdef class _Router:
    """Routes decoded events (EventRec, or a pending-move dict) and encodes them once."""
    cdef tuple routes
    cdef list filters        # PrefixFilter or None per route
    cdef list views          # tuple of IdentityView per route
    cdef bint fallback       # a route holds non-native filters: ask route.takes() in Python
    cdef bint confluent
    cdef uint32_t schema_id
    cdef object schema_error
    cdef bint raise_schema
    cdef WriteBuffer enc
    cdef RouteBatch batch
    cdef Py_ssize_t hint     # bytes to reserve in a route buffer before its first payload
    cdef tuple names         # route names, and their index: shared by every batch
    cdef dict index
    cdef list pool           # buffers of batches the caller released (RouteBatch.__dealloc__)

    def __init__(self, routes, bint confluent, schema_id):
        self.routes = tuple(routes)
        self.filters = []
        self.views = []
        self.fallback = False
        for r in self.routes:
            f = r.filter
            if f is not None and not isinstance(f, PrefixFilter):
                self.fallback = True
            vs = tuple(r.views)
            for v in vs:
                if not isinstance(v, IdentityView):
                    self.fallback = True
            self.filters.append(f)
            self.views.append(vs)
        self.confluent = confluent
        self.schema_error = None
        self.schema_id = 0
        if confluent:
            # the reference raises from confluent_frame() when the first event is framed
            if not 0 <= schema_id <= INT32_MAX:
                self.schema_error = ValueError(f"schema_id: {schema_id} is outside 0..2**31-1")
            else:
                self.schema_id = <uint32_t>schema_id
        self.enc = WriteBuffer(1024)
        self.batch = None
        self.names = tuple(r.name for r in self.routes)
        self.index = {r: i for i, r in enumerate(self.names)}
        self.pool = []

    cdef int takes(self, Py_ssize_t r, const char* path, Py_ssize_t n, int kind, int source) except -1:
        cdef object f
        cdef IdentityView v
        if self.fallback:
            return bool(self.routes[r].takes(PyUnicode_DecodeUTF8(path, n, NULL), KINDS[kind], SOURCES[source]))
        f = self.filters[r]
        if f is not None and not (<PrefixFilter>f).match(path, n, kind, source):
            return False
        for v in self.views[r]:
            if not v.match(path, n, kind, source):
                return False
        return True

    cdef int route_rec(self, const EventRec* ev) except -1:
        """Encode once, straight into the first route that takes the event; copy to the others."""
        cdef Py_ssize_t r, start = 0, size = 0
        cdef int rc
        cdef _RouteOut out, first = None
        for r in range(len(self.routes)):
            if not self.takes(r, ev.path.ptr, ev.path.len, ev.kind, ev.source):
                continue
            out = <_RouteOut>self.batch._outs[r]
            if first is not None:
                out.add(first.data.data() + start, size, ev.id, ev.path.ptr, ev.path.len)
                continue
            if self.schema_error is not None:
                self.raise_schema = True
                return 0
            if out.data.length() == 0 and out.data.reserve(self.hint) < 0:
                raise MemoryError()
            start = out.data.length()
            if self.confluent and out.data.write_confluent_header(self.schema_id) < 0:
                raise MemoryError()
            rc = write_event_rec(out.data, ev)
            if rc < 0:
                out.data.rollback(start)
                if rc == WRITE_INVALID:
                    raise ValueError("EventRec: invalid value")
                raise_write_error(rc)
            size = out.data.length() - start
            out.added(ev.id, ev.path.ptr, ev.path.len)
            first = out
        return 0

    cdef int route_dict(self, dict d) except -1:
        cdef Py_ssize_t r
        cdef bytes payload = None
        cdef bytes path = (<str>d["path"]).encode("utf-8")
        cdef bytes ident = (<str>d["id"]).encode("ascii")
        cdef int kind = KIND_ORD[d["kind"]]
        cdef int source = SOURCES.index(d["source"])
        for r in range(len(self.routes)):
            if not self.takes(r, PyBytes_AS_STRING(path), len(path), kind, source):
                continue
            if payload is None:
                if self.schema_error is not None:
                    self.raise_schema = True
                    return 0
                payload = _encode_event_dict(d)
                if self.confluent:
                    payload = b"\x00" + int(self.schema_id).to_bytes(4, "big") + payload
            (<_RouteOut>self.batch._outs[r]).add(PyBytes_AS_STRING(payload), len(payload),
                                                  PyBytes_AS_STRING(ident), PyBytes_AS_STRING(path), len(path))
        return 0

    cdef begin(self, Py_ssize_t input_bytes):
        # Avro is smaller than the JSON it comes from: reserving the input size up front (capped)
        # spares the per-feed regrowth copies; untouched reserved pages cost no memory.
        self.hint = min(input_bytes, 8 << 20)
        # Always a new batch object (the caller may still hold the previous ones); its buffers
        # come from a released batch when there is one.
        self.batch = new_route_batch(self.names, self.index, self.pool)
        self.raise_schema = False

    cdef RouteBatch end(self, object batch):
        cdef RouteBatch out = self.batch
        self.batch = None
        if self.raise_schema:
            raise self.schema_error
        out.errors = batch.errors
        out.stats = batch.stats
        return out
