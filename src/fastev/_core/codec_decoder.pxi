# The Decoder class (included by codec.pyx): its state, entry points, per-feed output, emission and
# rename pairing. Reading the input (framing, one record, S3, SSE) is codec_decoder_input.pxi.

# A feed calls user code (an offsets iterator, a Python route's takes()); feeding the same object
# again from there would free and replace state the outer feed still points into. Refused.
cdef inline int _enter(bint busy, str owner) except -1:
    if busy:
        raise RuntimeError(f"{owner}: feed called again while a feed of the same object is running")
    return 0

# -- the decoder -------------------------------------------------------------------------------

@cython.final
cdef class Decoder:
    """Stateful decoder for one input stream (API of fastev._ref.decoder.Decoder)."""
    cdef readonly str source
    cdef readonly Py_ssize_t max_record_bytes
    cdef readonly object now_us
    cdef readonly dict watches
    cdef readonly Py_ssize_t pairing_window
    cdef readonly int64_t index
    cdef int src
    cdef dict pending            # cookie -> (index, event dict) of unpaired IN_MOVED_FROM
    cdef object stream_sse       # True / False / None (auto, undecided)
    cdef bytes undecided
    cdef object sse
    cdef WriteBuffer lpend       # LineFramer: the partial last line
    cdef int64_t buf_offset
    cdef int64_t line_no
    cdef bint discarding
    cdef Ctx* c
    cdef list events
    cdef list errors
    cdef int64_t n_records, n_decoded, n_skipped, n_rejected, n_loss
    cdef int64_t now
    cdef list hold               # Python bytes an EventRec points into (inotify)
    cdef _Router router
    cdef readonly str path_prefix   # prepended to emitted paths (docs/formats.md §6); "" for none
    cdef bytes prefix_utf8
    cdef bint busy               # a feed is running: user code it calls must not feed again

    def __cinit__(self, *args, **kwargs):
        self.c = <Ctx*>calloc(1, sizeof(Ctx))
        if self.c == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.c != NULL:
            arena_free(&self.c.arena)
            free(self.c.groups)
            free(self.c)
            self.c = NULL

    def __init__(self, str source, *, inotify_watches=None, max_record_bytes=DEFAULT_MAX_RECORD_BYTES,
                 pairing_window=DEFAULT_PAIRING_WINDOW, now_us=None, path_prefix=""):
        check_decoder_options(source, SOURCE_NAMES, max_record_bytes, pairing_window)
        self.source = source
        self.path_prefix = check_path_prefix(path_prefix)
        self.prefix_utf8 = self.path_prefix.encode("utf-8")
        self.watches = load_watches(inotify_watches)
        self.max_record_bytes = max_record_bytes
        self.now_us = now_us
        self.pairing_window = pairing_window
        self.pending = {}
        self.index = 0
        self.src = SRC_AUTO if source == "auto" else DECODER_NAMES.index(source)
        self.stream_sse = True if source == "dcache-inotify" else (False if source != "auto" else None)
        self.undecided = b""
        self.sse = SseFramer(max_record_bytes)
        self.lpend = WriteBuffer(0)
        self.buf_offset = 0
        self.line_no = 1
        self.discarding = False
        self.router = None

    # -- entry points ----------------------------------------------------------------------
    def feed(self, data, bint final=False):
        """A chunk of a byte stream (JSON lines, or SSE text for dcache-inotify)."""
        _enter(self.busy, "Decoder")
        self.busy = True
        try:
            return self._feed(data, final)
        finally:
            self.busy = False

    cdef object _feed(self, data, bint final):
        if not PyBytes_CheckExact(data):
            data = bytes(data)
        self._begin(PyBytes_GET_SIZE(data))
        if self.stream_sse is None:
            head = data.lstrip(b" \t\r\n")
            if not head and not final:
                self.undecided += data   # undecided: keep it
                return self._end()
            self.stream_sse = head.startswith(_SSE_STARTS)
            if self.undecided:
                data = self.undecided + data
                self.undecided = b""
        self.now = self._now()
        if self.stream_sse:
            for frame in self.sse.feed(data, final):
                _frame(self, frame)
        else:
            _feed_lines(self, <const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), final)
        if final:
            self._finish()
        return self._end()

    def feed_records(self, records, offsets=None):
        """Already-framed records (e.g. Kafka message values); one record per item."""
        _enter(self.busy, "Decoder")
        self.busy = True
        try:
            return self._feed_records(records, offsets)
        finally:
            self.busy = False

    cdef object _feed_records(self, records, offsets):
        cdef int64_t offset
        cdef Py_ssize_t n
        self._begin()
        self.now = self._now()
        offs = iter(offsets) if offsets is not None else None
        for raw in records:
            offset = next(offs) if offs is not None else -1
            if self.src == S_DCACHE_INOTIFY or (self.src == SRC_AUTO and raw.lstrip().startswith(_SSE_STARTS)):
                framer = SseFramer(self.max_record_bytes)
                for frame in framer.feed(raw, final=True):
                    frame.raw.offset = offset
                    frame.raw.line = 0
                    _frame(self, frame)
                continue
            if not PyBytes_CheckExact(raw):
                raw = bytes(raw)
            n = PyBytes_GET_SIZE(raw)
            if n > self.max_record_bytes:
                _json_record(self, <const unsigned char*>PyBytes_AS_STRING(raw), self.max_record_bytes,
                             offset, 0, True)
            else:
                _json_record(self, <const unsigned char*>PyBytes_AS_STRING(raw), n, offset, 0, False)
        return self._end()

    def finish(self):
        """End of input: flush a partial last record and unpaired moves."""
        return self.feed(b"", final=True)

    # -- per-feed output -------------------------------------------------------------------
    cdef _begin(self, Py_ssize_t input_bytes=0):
        self.events = []
        self.errors = []
        self.n_records = self.n_decoded = self.n_skipped = self.n_rejected = self.n_loss = 0
        if self.router is not None:
            self.router.begin(input_bytes)

    cdef object _end(self):
        out = Batch()
        out.events = self.events
        out.errors = self.errors
        st = out.stats
        st.records = self.n_records
        st.decoded = self.n_decoded
        st.skipped = self.n_skipped
        st.rejected = self.n_rejected
        st.loss = self.n_loss
        self.events = None
        self.errors = None
        return out

    cdef int64_t _now(self) except? -1:
        return self.now_us if self.now_us is not None else time.time_ns() // 1000

    cdef int _reject(self, object raw, int64_t index, int64_t offset, int64_t line, str source,
                     int reason, object field) except -1:
        self.errors.append(DecodeError(REASONS[reason], field, index=index, offset=offset, line=line,
                                       source=source, raw=raw))
        self.n_rejected += 1
        return 0

    cdef inline int _reject_c(self, const unsigned char* raw, Py_ssize_t n, int64_t index, int64_t offset,
                              int64_t line, str source, int reason, object field) except -1:
        return self._reject(PyBytes_FromStringAndSize(<const char*>raw, n), index, offset, line, source,
                            reason, field)

    # -- emission and rename pairing (_ref/inotify_flags.RenamePairer) -----------------------
    cdef int _emit_rec(self) except -1:
        # The prefixed paths live in these locals until the event is routed or copied to a dict.
        cdef bytes path = None
        cdef bytes old_path = None
        cdef EventRec* ev = &self.c.ev
        if self.prefix_utf8:  # at emission, as the reference: a RENAME's old path is still unprefixed here
            if ev.path.len > 0:
                path = self._prefixed(ev.path)
                ev.path = mkstr(PyBytes_AS_STRING(path), len(path))
            if ev.old_path.ptr != NULL and ev.old_path.len > 0:
                old_path = self._prefixed(ev.old_path)
                ev.old_path = mkstr(PyBytes_AS_STRING(old_path), len(old_path))
        if self.router is None:
            self.events.append(event_rec_to_dict(ev))
        else:
            self.router.route_rec(ev)
        self.n_decoded += 1
        return 0

    cdef bytes _prefixed(self, Str p):
        """prefix + canonical path ("/" alone becomes the prefix), as source_trust.prefixed_path."""
        if p.len == 1 and p.ptr[0] == b'/':
            return self.prefix_utf8
        return self.prefix_utf8 + PyBytes_FromStringAndSize(p.ptr, p.len)

    cdef int _emit_dict(self, dict d) except -1:
        if self.prefix_utf8:
            d["path"] = prefixed_path(self.path_prefix, d["path"])
            if d["old_path"] is not None:
                d["old_path"] = prefixed_path(self.path_prefix, d["old_path"])
        if self.router is None:
            self.events.append(d)
        else:
            self.router.route_dict(d)
        self.n_decoded += 1
        return 0

    cdef int _expire(self, int64_t index) except -1:
        cdef object cookie
        while self.pending:
            cookie = next(iter(self.pending))
            added, d = self.pending[cookie]
            if index - added <= self.pairing_window:
                break
            del self.pending[cookie]
            self._emit_dict(d)
        return 0

    cdef int _finish(self) except -1:
        pending = list(self.pending.values())
        self.pending.clear()
        for _, d in pending:
            self._emit_dict(d)
        return 0

    cdef int _pair_add(self, int64_t index) except -1:
        cdef Ctx* c = self.c
        cdef int pk = c.pseudo_kind
        cdef object ck, src
        cdef dict d
        cdef bytes old_path
        if pk == K_MOVED_FROM:
            c.ev.kind = K_MOVED_OUT
            if c.cookie.len <= 0:
                return self._emit_rec()
            ck = PyUnicode_DecodeUTF8(c.cookie.ptr, c.cookie.len, NULL)
            src = self.pending.pop(ck, None)
            if src is not None:
                self._emit_dict(src[1])
            self.pending[ck] = (index, event_rec_to_dict(&c.ev))
            return 0
        if pk == K_MOVED_TO:
            src = None
            if c.cookie.len > 0:
                ck = PyUnicode_DecodeUTF8(c.cookie.ptr, c.cookie.len, NULL)
                src = self.pending.pop(ck, None)
            if src is None:
                c.ev.kind = K_MOVED_IN
                return self._emit_rec()
            d = src[1]
            c.ev.kind = K_RENAME
            old_path = (<str>d["path"]).encode("utf-8")
            c.ev.old_path = mkstr(PyBytes_AS_STRING(old_path), len(old_path))
            c.ev.is_dir = c.ev.is_dir or bool(d["is_dir"])
            return self._emit_rec()
        return self._emit_rec()
