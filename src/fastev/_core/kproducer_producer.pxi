# The Producer class (included by kproducer.pyx): one librdkafka handle, its slots, its topics, and
# the GIL-held reading of Python sequences into the C chunks that kproducer_produce.pxi queues.

cdef enum:
    RD_KAFKA_PRODUCER = 0
    CONF_UNKNOWN = -2
    CHUNK = 512                  # messages read from Python per GIL release
    ERR_QUEUE_FULL = -184

QUEUE_FULL = ERR_QUEUE_FULL
BAD_EVENT = FE_ERR_BAD_EVENT  # produce() stopped at a payload CloudEvents headers cannot be read from


cdef int _millis(double timeout) except -1:
    """A timeout in seconds as librdkafka's milliseconds; negative (librdkafka: forever) and NaN refused."""
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds, not {timeout}")
    return <int>min(timeout * 1000, 2147483647.0)



@cython.no_gc_clear  # __dealloc__ needs self.topics to destroy the topic handles
cdef class Producer:
    """One librdkafka producer handle with per-slot delivery accounting (see the module doc)."""

    cdef rd_kafka_t *rk
    cdef fe_state st
    cdef dict topics             # name -> rd_kafka_topic_t* (as int), created once
    cdef list free_slots
    cdef fe_item *items
    cdef fe_hdr *hdrs
    cdef Py_ssize_t hcap
    cdef PyObject **pins          # strong references to what the current chunk points into
    cdef Py_ssize_t npins, pincap
    cdef bint busy
    cdef bint reading             # produce() is reading its arguments into C (their code may run)
    cdef char *in_use             # per slot: handed out by new_slot, not yet freed
    cdef readonly int last_error  # why the last produce() stopped short

    def __cinit__(self) -> None:
        memset(&self.st, 0, sizeof(fe_state))
        pthread_mutex_init(&self.st.loglock, NULL)
        self.rk = NULL
        self.in_use = NULL
        self.topics = {}
        self.free_slots = []
        self.items = <fe_item *>malloc(CHUNK * sizeof(fe_item))
        self.hcap = CHUNK * 8
        self.hdrs = <fe_hdr *>malloc(self.hcap * sizeof(fe_hdr))
        self.npins = 0
        self.pincap = CHUNK * 4
        self.pins = <PyObject **>malloc(self.pincap * sizeof(PyObject *))
        if self.items == NULL or self.hdrs == NULL or self.pins == NULL:
            raise MemoryError()

    def __init__(self, config: dict, strict: bool = True, permanent: tuple = ()) -> None:
        cdef char errstr[512]
        cdef rd_kafka_conf_t *conf
        if self.rk != NULL:
            raise RuntimeError("Producer already initialised")
        if len(permanent) > 32:
            raise ValueError("at most 32 permanent error codes")
        self.st.strict = strict
        self.st.npermanent = len(permanent)
        for i, code in enumerate(permanent):
            self.st.permanent[i] = code
        if self.st.cap == 0:  # a retried __init__ (the first one failed) keeps its slots
            self._grow(64)
        conf = fe_rk.conf_new()
        for key, value in config.items():
            bkey, bval = str(key).encode(), str(value).encode()
            res = fe_rk.conf_set(conf, bkey, bval, errstr, sizeof(errstr))
            if res != 0:
                fe_rk.conf_destroy(conf)
                what = "unknown property" if res == CONF_UNKNOWN else "invalid value"
                raise ConfigError(f"kafka producer config {key!r}: {what}: "
                                  f"{errstr.decode('utf-8', 'replace')}")
        fe_rk.conf_set_opaque(conf, &self.st)
        fe_set_callbacks(conf)
        self.rk = fe_rk.new_(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))
        if self.rk == NULL:  # rd_kafka_new takes the conf only on success
            fe_rk.conf_destroy(conf)
            raise ConfigError(f"kafka producer: {errstr.decode('utf-8', 'replace')}")

    def __dealloc__(self) -> None:
        cdef rd_kafka_t *rk = self.rk
        if rk != NULL:
            for ptr in self.topics.values():
                fe_rk.topic_destroy(<rd_kafka_topic_t *><intptr_t>ptr)
            with nogil:
                fe_rk.destroy(rk)  # joins librdkafka's threads; no callback runs after this
        free(self.st.pending)
        free(self.st.sealed)
        free(self.st.err)
        free(self.st.err_rkt)
        free(self.st.done)
        free(self.in_use)
        pthread_mutex_destroy(&self.st.loglock)  # after destroy: no log callback runs any more
        self._unpin()
        free(self.items)
        free(self.hdrs)
        free(self.pins)

    cdef int _grow(self, int32_t cap) except -1:
        """Room for ``cap`` slots. Each array is realloc'ed into a temporary: on failure the old
        (still valid, merely smaller or already grown) pointer stays and ``cap`` is unchanged."""
        cdef int32_t old = self.st.cap, i
        cdef void *p
        if cap <= old:
            raise OverflowError("too many delivery slots")
        p = realloc(self.st.pending, cap * sizeof(int64_t))
        if p == NULL:
            raise MemoryError()
        self.st.pending = <int64_t *>p
        p = realloc(self.st.sealed, cap * sizeof(int32_t))
        if p == NULL:
            raise MemoryError()
        self.st.sealed = <int32_t *>p
        p = realloc(self.st.err, cap * sizeof(int32_t))
        if p == NULL:
            raise MemoryError()
        self.st.err = <int32_t *>p
        p = realloc(self.st.err_rkt, cap * sizeof(void *))
        if p == NULL:
            raise MemoryError()
        self.st.err_rkt = <rd_kafka_topic_t **>p
        p = realloc(self.st.done, cap * sizeof(int32_t))
        if p == NULL:
            raise MemoryError()
        self.st.done = <int32_t *>p
        p = realloc(self.in_use, cap * sizeof(char))
        if p == NULL:
            raise MemoryError()
        self.in_use = <char *>p
        memset(self.in_use + old, 0, cap - old)
        self.st.cap = cap
        for i in range(cap - 1, old - 1, -1):  # lowest slot handed out first
            self.free_slots.append(i)
        return 0

    cdef inline void _check_rk(self) except *:
        if self.rk == NULL:
            raise RuntimeError("Producer is not initialised")
        if self.busy:  # the C state is single-threaded; refuse concurrent use instead of corrupting it
            raise RuntimeError("Producer used from two threads at once")
        if self.reading:  # a payload or header object's code: it would reuse the chunk being read
            raise RuntimeError("Producer called from code that produce() runs while reading its arguments")

    # -- slots ---------------------------------------------------------------------------------
    def new_slot(self) -> int:
        self._check_rk()
        if not self.free_slots:
            self._grow(self.st.cap * 2 if self.st.cap < (1 << 30) else 0)
        cdef int32_t slot = self.free_slots.pop()
        self.in_use[slot] = 1
        self.st.pending[slot] = 0
        self.st.sealed[slot] = 0
        self.st.err[slot] = 0
        self.st.err_rkt[slot] = NULL
        return slot

    cdef int32_t _slot(self, object slot) except -1:
        """``slot`` as an index into the slot arrays: a slot handed out by new_slot and not freed."""
        self._check_rk()
        return self._slot_index(slot)

    cdef int32_t _slot_index(self, object slot) except -1:
        if not isinstance(slot, int):
            raise TypeError(f"slot must be int, not {type(slot).__name__}")
        if not 0 <= slot < self.st.cap:
            raise IndexError(f"no slot {slot}")
        if not self.in_use[<int32_t>slot]:
            raise ValueError(f"slot {slot} is not in use")
        return <int32_t>slot

    cdef int32_t _open_slot(self, object slot) except -1:
        """``slot`` for a new message: in use and not sealed (a sealed slot may already have been
        reported complete; a message more would report it twice, or never)."""
        cdef int32_t s = self._slot_index(slot)
        if self.st.sealed[s]:
            raise ValueError(f"slot {s} is sealed: no more messages may be produced into it")
        return s

    def free_slot(self, slot: int) -> None:
        """Give ``slot`` back; it must be in use and have nothing pending (a late delivery report
        would otherwise be counted for the slot's next owner)."""
        cdef int32_t s = self._slot(slot)
        if self.st.pending[s] != 0:
            raise ValueError(f"slot {s} still has {self.st.pending[s]} message(s) without a delivery report")
        self.in_use[s] = 0
        self.free_slots.append(s)

    def seal(self, slot: int) -> bool:
        """Mark ``slot`` sealed; True when it is already complete (nothing pending)."""
        cdef int32_t s = self._slot(slot)
        self.st.sealed[s] = 1
        return self.st.pending[s] == 0

    def pending(self, slot: int) -> int:
        return self.st.pending[self._slot(slot)]

    def slot_error(self, slot: int) -> tuple | None:
        """(error code, topic) of the slot's first failed delivery, or None."""
        cdef int32_t s = self._slot(slot)
        if self.st.err[s] == 0:
            return None
        return self.st.err[s], self._topic_name(self.st.err_rkt[s])

    cdef str _topic_name(self, rd_kafka_topic_t *rkt):
        return fe_rk.topic_name(rkt).decode("utf-8", "replace") if rkt != NULL else "?"

    def collect(self) -> tuple | None:
        """What happened since the last call: (fatal, failure, completed slots), or None.

        fatal = (code, reason) of a fatal producer error (reported once); failure = (code,
        topic) of the first failed delivery that must be raised (reported once);
        completed = sealed slots whose every message now has its delivery report.
        """
        if self.st.done_lost:
            lost, self.st.done_lost = self.st.done_lost, 0
            raise RuntimeError(f"delivery accounting overflow: {lost} completed slot(s) found no room "
                               "(a slot freed and reused before collect())")
        if self.st.ndone == 0 and self.st.fatal != 1 and self.st.fail_err == 0:
            return None
        fatal = failure = None
        if self.st.fatal == 1:
            self.st.fatal = 2
            fatal = (self.st.fatal_err, self.st.fatal_str.decode("utf-8", "replace"))
        if self.st.fail_err != 0:
            failure = (self.st.fail_err, self._topic_name(self.st.fail_rkt))
            self.st.fail_err = 0
        done = [self.st.done[i] for i in range(self.st.ndone)]
        self.st.ndone = 0
        return fatal, failure, done

    def drain_logs(self) -> tuple:
        """librdkafka's log lines since the last call, as (syslog level, facility, text), and how
        many were dropped because the ring was full (the rate limit)."""
        cdef int i
        cdef list lines = []
        cdef int64_t dropped
        with nogil:
            pthread_mutex_lock(&self.st.loglock)
        for i in range(self.st.nlogs):
            lines.append((self.st.logs[i].level, self.st.logs[i].fac.decode("utf-8", "replace"),
                          self.st.logs[i].msg.decode("utf-8", "replace")))
        dropped = self.st.dropped
        self.st.nlogs = 0
        self.st.dropped = 0
        pthread_mutex_unlock(&self.st.loglock)
        return lines, dropped

    def connection_error(self) -> tuple | None:
        """(code, reason, all brokers down) of the first broker connection error the error
        callback saw since the last ``clear_connection_error``, or None."""
        if self.st.conn_err == 0 and not self.st.all_down:
            return None
        return self.st.conn_err, self.st.conn_str.decode("utf-8", "replace"), bool(self.st.all_down)

    def clear_connection_error(self) -> None:
        self.st.conn_err = 0
        self.st.all_down = 0
        self.st.conn_str[0] = 0

    @property
    def in_flight(self) -> int:
        return self.st.in_flight

    @property
    def delivered(self) -> int:
        return self.st.delivered

    @property
    def failed(self) -> int:
        return self.st.failed

    # -- topics --------------------------------------------------------------------------------
    cdef rd_kafka_topic_t *_rkt(self, str topic) except NULL:
        ptr = self.topics.get(topic)
        if ptr is not None:
            return <rd_kafka_topic_t *><intptr_t>ptr
        cdef rd_kafka_topic_t *rkt = fe_rk.topic_new(self.rk, topic.encode(), NULL)
        if rkt == NULL:
            raise ValueError(f"invalid topic name {topic!r}")
        self.topics[topic] = <intptr_t>rkt
        return rkt

    def topic_metadata(self, str topic, double timeout) -> tuple:
        """(request error, topic error or None when the broker did not list it) for ``topic``.

        The same request as confluent-kafka's ``list_topics(topic)``. Topic handles live as
        long as the producer: delivery reports point at them (error details are read later).
        """
        self._check_rk()
        cdef rd_kafka_topic_t *rkt = self._rkt(topic)
        cdef const rd_kafka_metadata_t *md = NULL
        cdef int ms = _millis(timeout)
        cdef rd_kafka_resp_err_t err
        with nogil:
            err = fe_rk.metadata(self.rk, 0, rkt, &md, ms)
        if err:
            return err, None
        found = None
        for i in range(md.topic_cnt):
            if md.topics[i].topic.decode("utf-8", "replace") == topic:
                found = md.topics[i].err
        fe_rk.metadata_destroy(md)
        return 0, found

    # -- producing -----------------------------------------------------------------------------
    def produce(self, str topic, payloads, keys, headers_list, slots, Py_ssize_t start,
                CloudEvents ce=None, subjects=None) -> int:
        """Queue ``payloads[start:]`` (keys, header lists: None or one per payload; ``slots``: an
        int for all, or one per payload). Returns the index reached: ``len(payloads)``, or
        where librdkafka refused a message (``last_error`` says why; QUEUE_FULL: poll, retry).

        With ``ce``, every message gets the CloudEvents headers read from its payload (ce_subject
        from ``subjects``, one per payload) instead of ``headers_list``; BAD_EVENT marks a payload
        they cannot be read from."""
        self._check_rk()
        cdef const fe_ce *cspec = &ce.spec if ce is not None else NULL
        if ce is not None and (subjects is None or len(subjects) != len(payloads)):
            raise ValueError("produce: CloudEvents headers need one subject (path) per payload")
        cdef rd_kafka_topic_t *rkt = self._rkt(topic)
        cdef Py_ssize_t n = len(payloads), i = start
        cdef bint one_slot = isinstance(slots, int)
        cdef int32_t slot = slots if one_slot else -1
        if one_slot:
            self._check_rk()
            self._open_slot(slot)
        if not 0 <= start <= n:
            raise IndexError(f"produce: start {start} is outside 0..{n}")
        for what, seq in (("keys", keys), ("header lists", headers_list), ("slots", None if one_slot else slots)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"produce: {len(seq)} {what} for {n} payloads")
        self.last_error = 0
        try:
            return self._produce(rkt, payloads, keys, headers_list, slots, one_slot, slot, i, n, cspec, subjects)
        finally:
            self.reading = False
            self._unpin()

    @cython.boundscheck(True)  # Python sequences indexed here: a caller's list may change under us
    cdef Py_ssize_t _produce(self, rd_kafka_topic_t *rkt, payloads, keys, headers_list, slots, bint one_slot,
                             int32_t slot, Py_ssize_t i, Py_ssize_t n, const fe_ce *cspec, subjects) except -1:
        cdef Py_ssize_t m, nh
        cdef int queued, count
        cdef fe_item *it
        cdef fe_hdr *h
        cdef rd_kafka_resp_err_t err = 0
        while i < n:
            # Read a chunk into C with the GIL held, pinning (a reference, no copy) every object
            # the chunk points into (a caller's list could change while the GIL is released).
            count = 0
            nh = 0
            self.reading = True
            while i + count < n and count < CHUNK:
                m = i + count
                it = &self.items[count]
                value = payloads[m]
                key = keys[m] if keys is not None else None
                it.val = self._pin(value, <Py_ssize_t *>&it.vlen)
                it.key = self._pin(key, <Py_ssize_t *>&it.klen)
                it.subjlen = 0
                if cspec != NULL:
                    it.subj = self._pin(subjects[m], <Py_ssize_t *>&it.subjlen)
                if one_slot:
                    it.slot = slot
                else:
                    it.slot = self._open_slot(slots[m])
                it.hstart = <int32_t>nh
                it.hcount = 0
                headers = headers_list[m] if headers_list is not None and cspec == NULL else None
                if headers:
                    # A tuple of its own: its length cannot change while the loop runs user code
                    # (a __len__ that lies, an iterator or an unpacking that appends to a list).
                    headers = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers)
                    if nh + len(headers) > self.hcap:
                        self._grow_headers(nh + len(headers))
                    for pair in headers:
                        name, hval = pair
                        if nh >= self.hcap:  # cannot happen with the tuple above; the write needs it
                            raise RuntimeError("produce: header table overflow")
                        h = &self.hdrs[nh]
                        if not isinstance(name, str):
                            raise TypeError(f"header name must be str, not {type(name).__name__}")
                        h.name = self._pin(name, &h.nlen)
                        h.val = self._pin(hval, &h.vlen)
                        if h.val == NULL:
                            h.vlen = -1  # a header without a value (None), as confluent-kafka sends it
                        nh += 1
                    it.hcount = <int32_t>(nh - it.hstart)
                count += 1
            self.reading = False
            self.busy = True
            with nogil:
                queued = fe_produce(&self.st, self.rk, rkt, self.items, count, self.hdrs, cspec, &err)
            self.busy = False
            self._unpin()
            i += queued
            if queued < count:
                self.last_error = err
                break
        return i

    cdef const char *_pin(self, object obj, Py_ssize_t *size) except? NULL:
        """_bytes_of(obj), holding a reference to whatever the pointer points into."""
        if obj is None:
            size[0] = 0
            return NULL
        if type(obj) is not bytes and not isinstance(obj, str):
            obj = bytes(memoryview(obj))  # any other buffer: a copy, pinned until the chunk is produced
        if self.npins == self.pincap:
            p = <PyObject **>realloc(self.pins, 2 * self.pincap * sizeof(PyObject *))
            if p == NULL:
                raise MemoryError()
            self.pins = p
            self.pincap *= 2
        Py_INCREF(obj)
        self.pins[self.npins] = <PyObject *>obj
        self.npins += 1
        if type(obj) is bytes:
            size[0] = PyBytes_GET_SIZE(obj)
            return PyBytes_AS_STRING(obj)
        return PyUnicode_AsUTF8AndSize(obj, size)  # UTF-8, cached inside the str object

    cdef void _unpin(self) noexcept:
        cdef Py_ssize_t i
        for i in range(self.npins):
            Py_DECREF(<object>self.pins[i])
        self.npins = 0

    cdef int _grow_headers(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = max(need, self.hcap * 2)
        cdef fe_hdr *p = <fe_hdr *>realloc(self.hdrs, cap * sizeof(fe_hdr))
        if p == NULL:
            raise MemoryError()
        self.hdrs = p
        self.hcap = cap
        return 0

    # -- driving -------------------------------------------------------------------------------
    def poll(self, double timeout = 0.0) -> int:
        """Serve delivery reports and errors for up to ``timeout`` seconds (GIL released)."""
        self._check_rk()
        cdef int ms = _millis(timeout)
        cdef int served
        self.busy = True
        with nogil:
            served = fe_rk.poll(self.rk, ms)
        self.busy = False
        return served

    def flush(self, double timeout) -> int:
        """Wait up to ``timeout`` s for every delivery report; returns the messages still queued."""
        self._check_rk()
        cdef int ms = _millis(timeout)
        self.busy = True
        with nogil:
            fe_rk.flush(self.rk, ms)
        self.busy = False
        return fe_rk.outq_len(self.rk)

    def __len__(self) -> int:
        return fe_rk.outq_len(self.rk) if self.rk != NULL else 0


def _inject_fatal_error(Producer producer not None, int code, str reason) -> int:
    """Tests only, deliberately outside Producer's methods and the type stub: make librdkafka
    raise a fatal error on ``producer`` (rd_kafka_test_fatal_error)."""
    producer._check_rk()
    if fe_rk.test_fatal_error == NULL:
        raise NotImplementedError("this librdkafka has no rd_kafka_test_fatal_error")
    return fe_rk.test_fatal_error(producer.rk, code, reason.encode())
