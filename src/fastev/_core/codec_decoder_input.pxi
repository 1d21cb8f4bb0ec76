# The Decoder's input side (included by codec.pyx): JSON-lines framing, one JSON record, S3 messages
# and dCache SSE frames. Functions of a typed Decoder rather than methods (Cython has no include in a
# class body); Decoder is final, so these are the same direct C calls its methods were.

# -- JSON lines (_ref/framing.LineFramer, natively) ------------------------------------
cdef int _line(Decoder self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end,
               int64_t offset) except -1:
    cdef Py_ssize_t i
    if end > start and buf[end - 1] == 0x0D:
        end -= 1
    # size first: an oversize line is too-large whatever it holds (and wherever a chunk ends)
    if end - start > self.max_record_bytes:
        return _json_record(self, buf + start, self.max_record_bytes, offset, self.line_no, True)
    for i in range(start, end):
        if buf[i] != 0x20 and buf[i] != 0x09 and buf[i] != 0x0D:
            break
    else:
        return 0   # blank: not a record
    return _json_record(self, buf + start, end - start, offset, self.line_no, False)


cdef int _feed_lines(Decoder self, const unsigned char* data, Py_ssize_t n, bint final) except -1:
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t nl, plen, rest
    cdef const unsigned char* p
    cdef int64_t data_off
    cdef bint scan = True
    cdef WriteBuffer pend = self.lpend
    plen = pend.length()
    data_off = self.buf_offset + plen      # stream offset of data[0]
    if plen > 0:                           # a partial line is pending (never while discarding)
        p = <const unsigned char*>memchr(data, 0x0A, <size_t>n)
        if p == NULL:
            # still no line end: the partial line grows (rest = pending + data)
            scan = False
            if pend.write_raw(<const char*>data, n) < 0:
                raise MemoryError()
            if pend.length() > self.max_record_bytes + 1:   # +1: a CR that a LF may still follow
                _json_record(self, <const unsigned char*>pend.data(), self.max_record_bytes,
                             self.buf_offset, self.line_no, True)
                self.discarding = True
                self.buf_offset += pend.length()
                pend.clear()
        else:
            nl = p - data
            if pend.write_raw(<const char*>data, nl) < 0:
                raise MemoryError()
            _line(self, <const unsigned char*>pend.data(), 0, pend.length(), self.buf_offset)
            self.line_no += 1
            pend.clear()
            pos = nl + 1
    if scan:
        while pos < n:
            p = <const unsigned char*>memchr(data + pos, 0x0A, <size_t>(n - pos))
            if p == NULL:
                break
            nl = p - data
            if self.discarding:
                self.discarding = False
            else:
                _line(self, data, pos, nl, data_off + pos)
            self.line_no += 1
            pos = nl + 1
        self.buf_offset = data_off + pos
        rest = n - pos
        if self.discarding:
            self.buf_offset += rest
        elif rest > self.max_record_bytes + 1:
            _json_record(self, data + pos, self.max_record_bytes, self.buf_offset, self.line_no, True)
            self.discarding = True
            self.buf_offset += rest
        elif rest > 0:
            if pend.write_raw(<const char*>(data + pos), rest) < 0:
                raise MemoryError()
    if final:
        if pend.length() > 0 and not self.discarding:
            _line(self, <const unsigned char*>pend.data(), 0, pend.length(), self.buf_offset)
        self.buf_offset += pend.length()
        pend.clear()
        self.discarding = False
    return 0


# -- one JSON record (_ref Decoder._json_record) ---------------------------------------
cdef int _open(Decoder self, const unsigned char* data, Py_ssize_t n, const Schema* sch) noexcept:
    """Size-independent checks shared by every source: UTF-8, JSON, top-level object."""
    cdef Slot top
    cdef int rc = scan_document(&self.c.sc, sch, data, n, &top)
    if rc == SC_UTF8:
        return R_INVALID_UTF8
    if rc:
        if not utf8_valid(data, n):
            return R_INVALID_UTF8
        return R_INVALID_JSON if rc == SC_INVALID else R_TOO_DEEP
    if top.type != J_OBJ:
        return R_NOT_AN_OBJECT
    return R_OK


cdef int _json_record(Decoder self, const unsigned char* data, Py_ssize_t n, int64_t offset, int64_t line,
                      bint too_large) except -1:
    cdef Ctx* c = self.c
    cdef int64_t index = self.index
    cdef int src = self.src
    cdef int rc, dup
    self.index += 1
    self.n_records += 1
    if self.pending:
        self._expire(index)
    if too_large:
        return self._reject_c(data, n, index, offset, line, self.source, R_TOO_LARGE, None)
    rc = _open(self, data, n, schema_of(src))
    if rc:
        return self._reject_c(data, n, index, offset, line, self.source, rc, None)
    if src == SRC_AUTO:
        src = detect_source(&c.sc)
        if src < 0:
            return self._reject_c(data, n, index, offset, line, self.source, R_UNKNOWN_FORMAT, None)
        rescan_object(&c.sc, schema_of(src), skip_ws_at(data, n))
    if src == S_S3:
        return _s3(self, data, n, index, offset, line)
    dup = first_duplicate(&c.sc)
    if dup >= 0:
        return self._reject_c(data, n, index, offset, line, DECODER_NAMES[src], R_DUPLICATE,
                              slot_name(SLOT_NAMES[src], dup))
    arena_reset(&c.arena)
    event_init(c, src)
    if src == S_DCACHE_BILLING:
        rc = decode_billing(c)
    elif src == S_GPFS_AUDIT:
        rc = decode_gpfs_audit(c)
    else:
        rc = decode_gpfs_watch(c)
    if rc:
        if _not_an_event(self, rc):
            return 0
        return self._reject_c(data, n, index, offset, line, DECODER_NAMES[src], rc,
                              slot_name(SLOT_NAMES[src], c.err_field))
    make_event_id(c.ev.id, src, data, n, 0)
    return self._pair_add(index)


cdef int _not_an_event(Decoder self, int rc) except -1:
    """1 for a decoder outcome that is counted, not rejected (skip, loss); 0 for a reject reason."""
    if rc == R_SKIP:
        self.n_skipped += 1
        return 1
    if rc == R_LOSS:
        self.n_loss += 1
        return 1
    if rc == R_NOMEM:
        raise MemoryError()
    return 0


cdef int _s3(Decoder self, const unsigned char* data, Py_ssize_t n, int64_t index, int64_t offset,
             int64_t line) except -1:
    """One S3 message: each Records[i] is one event (not paired), id index i.

    Every error of the message shares one raw bytes object, built at the first rejection;
    past MAX_ERRORS_PER_MESSAGE the rest are counted and summarised in one final error
    (as _ref Decoder._s3): a message of many bad items costs memory linear in its size."""
    cdef Ctx* c = self.c
    cdef Slot records, item
    cdef Py_ssize_t pos, i = 0, first = -1, last = -1, over = 0, reported = 0
    cdef int rc, slot
    cdef object raw = None, name
    cdef unsigned char digest[16]
    if first_duplicate(&c.sc) >= 0:
        return self._reject_c(data, n, index, offset, line, "s3", R_DUPLICATE, "Records")
    records = c.sc.slots[M_Records]
    if slot_absent(&records):
        self.n_skipped += 1   # e.g. s3:TestEvent: no object event inside
        return 0
    if records.type != J_ARR:
        return self._reject_c(data, n, index, offset, line, "s3", R_WRONG_TYPE, "Records")
    message_digest(digest, S_S3, data, n)   # hashed once: the record ids hash only the digest
    pos = records.start + 1
    while array_next(&c.sc, &pos, &item):
        slot = -1
        if item.type != J_OBJ:
            rc = R_NOT_AN_OBJECT
        else:
            rescan_object(&c.sc, &SCH_S3REC, item.start)
            slot = first_duplicate(&c.sc)
            if slot >= 0:
                rc = R_DUPLICATE
            else:
                arena_reset(&c.arena)
                event_init(c, S_S3)
                rc = decode_s3_record(c)
                if rc == R_NOMEM:
                    raise MemoryError()
                slot = c.err_field
        if rc == R_OK:
            make_event_id(c.ev.id, S_S3, digest, 16, i)
            self._emit_rec()
        elif reported < MAX_ERRORS_PER_MESSAGE:
            if raw is None:
                raw = PyBytes_FromStringAndSize(<const char*>data, n)
            name = slot_name(S3_REC_SLOTS, slot)
            self._reject(raw, index, offset, line, "s3", rc,
                         f"Records[{i}]" if name is None else f"Records[{i}].{name}")
            reported += 1
        else:
            if not over:
                first = i
            over += 1
            last = i
            self.n_rejected += 1
        i += 1
    if i == 0:
        self.n_skipped += 1
    if over:
        self.errors.append(DecodeError("too-many-errors", f"Records[{first}..{last}]: {over} more rejected",
                                       index=index, offset=offset, line=line, source="s3", raw=raw))
    return 0


# -- dCache storage events over SSE (_ref Decoder._frame) -------------------------------
# Frames come from the reference SseFramer (Python objects: dCache inotify volume is low);
# their data is scanned and decoded natively like any other record.
cdef int _frame(Decoder self, object frame) except -1:
    cdef object rec = frame.raw
    cdef bytes raw = rec.data
    cdef bytes payload
    cdef Ctx* c = self.c
    cdef int64_t index = self.index
    cdef int64_t offset = rec.offset
    cdef int64_t line = rec.line
    cdef bint valid, is_system
    cdef int rc, dup
    cdef Str t
    self.index += 1
    self.n_records += 1
    if self.pending:
        self._expire(index)
    valid = utf8_valid(<const unsigned char*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    if not rec.too_large and valid and frame.event not in ("inotify", "SYSTEM"):
        self.n_skipped += 1   # metronome, or another channel's type
        return 0
    if rec.too_large:
        return self._reject(raw, index, offset, line, "dcache-inotify", R_TOO_LARGE, None)
    if not valid:
        return self._reject(raw, index, offset, line, "dcache-inotify", R_INVALID_UTF8, None)
    payload = frame.data
    is_system = frame.event == "SYSTEM"
    rc = _open(self, <const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload),
               &SCH_SYSTEM if is_system else &SCH_INOTIFY)
    if rc:
        return self._reject(raw, index, offset, line, "dcache-inotify", rc, None)
    dup = first_duplicate(&c.sc)
    if dup >= 0:
        return self._reject(raw, index, offset, line, "dcache-inotify", R_DUPLICATE,
                            (SYSTEM_SLOTS if is_system else INOTIFY_SLOTS)[dup])
    arena_reset(&c.arena)
    event_init(c, S_DCACHE_INOTIFY)
    if is_system:
        rc = get_text(c, 0, False, &t)
        if rc:
            return self._reject(raw, index, offset, line, "dcache-inotify", rc, SYSTEM_SLOTS[0])
        if str_eq(t, b"EVENT_LOSS", 10):
            self.n_loss += 1
        else:
            self.n_skipped += 1
        return 0
    self.hold = []
    rc = decode_inotify(c, self.watches, frame.id if frame.id else None, self.now, self.hold)
    if rc:
        self.hold = None
        if _not_an_event(self, rc):
            return 0
        return self._reject(raw, index, offset, line, "dcache-inotify", rc,
                            slot_name(INOTIFY_SLOTS, c.err_field))
    make_event_id(c.ev.id, S_DCACHE_INOTIFY, <const unsigned char*>PyBytes_AS_STRING(raw),
                  PyBytes_GET_SIZE(raw), 0)
    self._pair_add(index)
    self.hold = None
    return 0
