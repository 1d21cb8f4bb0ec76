# Route output (included by codec.pyx): the per-route buffers (_RouteOut) and the RouteBatch a feed
# returns, with its CloudEvents headers. Separate: what the caller holds, read after routing.

# -- per-route output ------------------------------------------------------------------------

@cython.final
cdef class _RouteOut:
    """One route's output of one feed: payloads back to back, with end offsets, ids, paths."""
    cdef WriteBuffer data
    cdef WriteBuffer ends
    cdef WriteBuffer ids
    cdef WriteBuffer paths
    cdef WriteBuffer path_ends
    cdef Py_ssize_t count

    def __cinit__(self):
        self.data = WriteBuffer(0)
        self.ends = WriteBuffer(0)
        self.ids = WriteBuffer(0)
        self.paths = WriteBuffer(0)
        self.path_ends = WriteBuffer(0)
        self.count = 0

    cdef int add(self, const char* p, Py_ssize_t n, const char* ident, const char* path,
                 Py_ssize_t pn) except -1:
        if self.data.write_raw(p, n) < 0:
            raise MemoryError()
        return self.added(ident, path, pn)

    cdef int added(self, const char* ident, const char* path, Py_ssize_t pn) except -1:
        """Book-keeping for a payload just written at the end of ``data``."""
        cdef int64_t end
        if self.ids.write_raw(ident, 32) < 0:
            raise MemoryError()
        end = self.data.length()
        if self.ends.write_raw(<const char*>&end, 8) < 0 or self.paths.write_raw(path, pn) < 0:
            raise MemoryError()
        end = self.paths.length()
        if self.path_ends.write_raw(<const char*>&end, 8) < 0:
            raise MemoryError()
        self.count += 1
        return 0

    cdef void clear(self) noexcept:
        """Empty, keeping the memory: a reused batch writes into pages already mapped."""
        self.data.clear()
        self.ends.clear()
        self.ids.clear()
        self.paths.clear()
        self.path_ends.clear()
        self.count = 0

    cdef list payloads(self):
        cdef const int64_t* ends = <const int64_t*>self.ends.data()
        cdef const char* base = self.data.data()
        cdef Py_ssize_t i
        cdef int64_t start = 0
        cdef list out = []
        for i in range(self.count):
            out.append(PyBytes_FromStringAndSize(base + start, ends[i] - start))
            start = ends[i]
        return out

    cdef list id_list(self):
        cdef const char* base = self.ids.data()
        return [PyUnicode_DecodeUTF8(base + 32 * i, 32, NULL) for i in range(self.count)]

    cdef list path_list(self):
        cdef const int64_t* ends = <const int64_t*>self.path_ends.data()
        cdef const char* base = self.paths.data()
        cdef Py_ssize_t i
        cdef int64_t start = 0
        cdef list out = []
        for i in range(self.count):
            out.append(PyUnicode_DecodeUTF8(base + start, ends[i] - start, NULL))
            start = ends[i]
        return out


cdef class RouteBatch:
    """Per-route output of one feed (API of fastev._ref.transcoder.RouteBatch).

    Payloads are stored as one buffer per route; Python lists are built when asked.
    A batch is never written again once returned: when the caller drops it, its emptied
    buffers go back to the transcoder's pool (``_pool``) for a later feed's new batch."""
    cdef readonly tuple routes
    cdef dict _index
    cdef list _outs
    cdef list _pool              # the transcoder's spare buffers, or None
    cdef public list errors
    cdef public object stats

    def __init__(self, routes):
        self.routes = tuple(routes)
        self._index = {r: i for i, r in enumerate(self.routes)}
        self._outs = [_RouteOut() for _ in self.routes]
        self._pool = None
        self.errors = []
        self.stats = DecodeStats()

    def __dealloc__(self):
        # Nobody can read this batch any more: hand its buffers (emptied, memory kept) back, so
        # steady streaming writes into pages already mapped. Attributes may have been cleared
        # already when the batch died in a reference cycle; then there is nothing to hand back.
        cdef _RouteOut out
        if self._pool is None or self._outs is None or len(self._pool) >= POOL_SIZE:
            return
        for out in self._outs:
            out.clear()
        self._pool.append(self._outs)

    cdef _RouteOut _out(self, route):
        return <_RouteOut>self._outs[self._index[route]]

    def count(self, route):
        return self._out(route).count

    def payloads(self, route):
        """One Avro-encoded event (framed as configured) per message."""
        return self._out(route).payloads()

    def block(self, route):
        """The route's payloads concatenated: an OCF data block's content (framing 'avro')."""
        return self._out(route).data.getvalue()

    def blocks(self, route, Py_ssize_t max_events, Py_ssize_t max_bytes):
        """The route's payloads cut into (count, concatenated bytes) runs within both limits
        (each run holds at least one payload): OCF data blocks for messages of bounded size."""
        cdef _RouteOut out = self._out(route)
        cdef const int64_t* ends = <const int64_t*>out.ends.data()
        cdef const char* base = out.data.data()
        cdef Py_ssize_t i, count = 0
        cdef int64_t start = 0, run_start = 0, size
        cdef list runs = []
        if max_events < 1:
            raise ValueError("max_events: must be positive")
        for i in range(out.count):
            size = ends[i] - start
            if count and (count >= max_events or (start - run_start) + size > max_bytes):
                runs.append((count, PyBytes_FromStringAndSize(base + run_start, start - run_start)))
                run_start = start
                count = 0
            count += 1
            start = ends[i]
        if count:
            runs.append((count, PyBytes_FromStringAndSize(base + run_start, start - run_start)))
        return runs

    def ce_headers(self, route, tuple source_uris, tuple types, Py_ssize_t start, str layout, list tail):
        """CloudEvents binary-mode headers per payload: fastev._ref.cloudevents.route_headers, natively.

        Reads the payload's head per ``layout`` (after ``start`` framing bytes) with the shared C
        builder (cloudevents.pxd), which checks every length; a payload it cannot read raises the
        reference's ValueError naming the message."""
        cdef _RouteOut out = self._out(route)
        cdef const int64_t* ends = <const int64_t*>out.ends.data()
        cdef const int64_t* pends = <const int64_t*>out.path_ends.data()
        cdef const unsigned char* base = <const unsigned char*>out.data.data()
        cdef const char* pbase = out.paths.data()
        cdef bytes lay = layout.encode()
        cdef Py_ssize_t i
        cdef int64_t begin = 0, pbegin = 0
        cdef int code
        cdef fe_ce_head head
        cdef char tbuf[28]
        cdef list result = []
        cdef list h
        if b"\0" in lay:
            code = FE_CE_BAD_LAYOUT
            raise ValueError(f"CloudEvents headers: {fe_ce_reasons[code].decode()}")
        for i in range(out.count):
            # a negative start reads from past the end: "ends inside its leading fields"
            code = fe_ce_read_head(base + begin, <size_t>(ends[i] - begin),
                                   <size_t>start if start >= 0 else <size_t>-1, lay,
                                   len(source_uris), len(types), &head)
            if code != FE_CE_OK:
                raise ValueError(f"CloudEvents headers: {fe_ce_reasons[code].decode()} (message {i})")
            fe_ce_rfc3339_us(head.time_us, tbuf)
            h = [("ce_specversion", "1.0"), ("ce_id", PyUnicode_DecodeUTF8(head.id, <Py_ssize_t>head.idlen, NULL)),
                 ("ce_source", source_uris[head.source]), ("ce_type", types[head.kind]),
                 ("ce_time", PyUnicode_DecodeUTF8(tbuf, 27, NULL))]
            if pends[i] > pbegin:
                h.append(("ce_subject", PyUnicode_DecodeUTF8(pbase + pbegin, pends[i] - pbegin, NULL)))
            h.extend(tail)
            result.append(h)
            begin = ends[i]
            pbegin = pends[i]
        return result

    def ids(self, route):
        return self._out(route).id_list()

    def paths(self, route):
        return self._out(route).path_list()


cdef enum:
    POOL_SIZE = 2      # spare buffer sets kept per transcoder (one batch in use, one being read)


cdef RouteBatch new_route_batch(tuple routes, dict index, list pool):
    """A fresh batch object over spare buffers from ``pool`` when there are some."""
    cdef RouteBatch b = RouteBatch.__new__(RouteBatch)
    b.routes = routes
    b._index = index
    b._outs = pool.pop() if pool else [_RouteOut() for _ in routes]
    b._pool = pool
    b.errors = []
    b.stats = None
    return b
