# The C produce loop (included by kproducer.pyx; rd_kafka_producev with the GIL released) and the
# CloudEvents headers it builds from each payload's head (cloudevents.pxd); CloudEvents holds the
# per-run constants they need.

cdef extern from *:
    """
    /* One message as read from Python: pointers into objects kept alive by the caller. */
    typedef struct { const char *val; size_t vlen; const char *key; size_t klen;
                     const char *subj; size_t subjlen; int32_t slot; int32_t hstart, hcount; } fe_item;
    typedef struct { const char *name; ssize_t nlen; const char *val; ssize_t vlen; } fe_hdr;

    /* CloudEvents binary mode (cloudevents/spec kafka-protocol-binding.md 3.2), from the payload's
       head by the shared builder (cloudevents.pxd), as fastev._ref.cloudevents.message_headers. */
    #define FE_ERR_BAD_EVENT (-100000)
    #define FE_CE_MAX 256
    #define FE_CE_LAYOUT_MAX 32
    typedef struct {
        const char *src[FE_CE_MAX]; ssize_t srclen[FE_CE_MAX]; int nsrc;   /* ce_source per source */
        const char *typ[FE_CE_MAX]; ssize_t typlen[FE_CE_MAX]; int ntyp;   /* ce_type per kind */
        int start;                                                         /* framing bytes */
        char layout[FE_CE_LAYOUT_MAX];                                     /* the schema's head */
        fe_hdr tail[8]; int ntail;                                         /* content-type, ... */
    } fe_ce;

    #define FE_ADD(h, name, val, len) fe_rk.header_add((h), (name), sizeof(name) - 1, (val), (len))

    /* The CloudEvents headers of one message; NULL when its payload's head cannot be read. */
    static rd_kafka_headers_t *fe_ce_headers(const fe_ce *ce, const fe_item *it) {
        fe_ce_head head;
        char tbuf[28];
        rd_kafka_headers_t *h;
        if (fe_ce_read_head((const unsigned char *)it->val, it->vlen, (size_t)ce->start, ce->layout,
                            ce->nsrc, ce->ntyp, &head) != FE_CE_OK)
            return NULL;
        fe_ce_rfc3339_us(head.time_us, tbuf);  /* in range: read_head checked it */
        h = fe_rk.headers_new((size_t)(6 + ce->ntail));
        FE_ADD(h, "ce_specversion", "1.0", 3);
        FE_ADD(h, "ce_id", head.id, (ssize_t)head.idlen);
        FE_ADD(h, "ce_source", ce->src[head.source], ce->srclen[head.source]);
        FE_ADD(h, "ce_type", ce->typ[head.kind], ce->typlen[head.kind]);
        FE_ADD(h, "ce_time", tbuf, 27);
        if (it->subjlen)  /* CloudEvents: subject, when present, must be non-empty */
            FE_ADD(h, "ce_subject", it->subj, (ssize_t)it->subjlen);
        for (int j = 0; j < ce->ntail; j++)
            fe_rk.header_add(h, ce->tail[j].name, ce->tail[j].nlen, ce->tail[j].val, ce->tail[j].vlen);
        return h;
    }

    /* Produce items[0:n]; returns how many were queued (<n: *err says why). GIL not needed.
       Headers: CloudEvents from the payload when ce is given, else the item's hdrs. */
    static int fe_produce(fe_state *st, rd_kafka_t *rk, rd_kafka_topic_t *rkt, const fe_item *items, int n,
                          const fe_hdr *hdrs, const fe_ce *ce, rd_kafka_resp_err_t *err) {
        for (int i = 0; i < n; i++) {
            const fe_item *it = &items[i];
            rd_kafka_resp_err_t e;
            if (ce || it->hcount) {
                rd_kafka_headers_t *h;
                if (ce) {
                    if (!(h = fe_ce_headers(ce, it))) { *err = FE_ERR_BAD_EVENT; return i; }
                } else {
                    h = fe_rk.headers_new((size_t)it->hcount);
                    for (int j = it->hstart; j < it->hstart + it->hcount; j++)
                        fe_rk.header_add(h, hdrs[j].name, hdrs[j].nlen, hdrs[j].val, hdrs[j].vlen);
                }
                e = fe_rk.producev(rk, FE_VTYPE_RKT, rkt, FE_VTYPE_VALUE, (void *)it->val, it->vlen,
                                   FE_VTYPE_KEY, (void *)it->key, it->klen,
                                   FE_VTYPE_OPAQUE, (void *)(intptr_t)it->slot,
                                   FE_VTYPE_MSGFLAGS, FE_MSG_F_COPY, FE_VTYPE_HEADERS, h, FE_VTYPE_END);
                if (e) fe_rk.headers_destroy(h);  /* librdkafka owns them only on success */
            } else {
                e = fe_rk.producev(rk, FE_VTYPE_RKT, rkt, FE_VTYPE_VALUE, (void *)it->val, it->vlen,
                                   FE_VTYPE_KEY, (void *)it->key, it->klen,
                                   FE_VTYPE_OPAQUE, (void *)(intptr_t)it->slot,
                                   FE_VTYPE_MSGFLAGS, FE_MSG_F_COPY, FE_VTYPE_END);
            }
            if (e) { *err = e; return i; }
            st->pending[it->slot]++;
            st->in_flight++;
        }
        return n;
    }
    """
    ctypedef struct fe_item:
        const char *val
        size_t vlen
        const char *key
        size_t klen
        const char *subj
        size_t subjlen
        int32_t slot, hstart, hcount
    ctypedef struct fe_hdr:
        const char *name
        Py_ssize_t nlen
        const char *val
        Py_ssize_t vlen
    enum:
        FE_CE_MAX
        FE_CE_LAYOUT_MAX
        FE_ERR_BAD_EVENT
    ctypedef struct fe_ce:
        const char *src[FE_CE_MAX]
        Py_ssize_t srclen[FE_CE_MAX]
        int nsrc
        const char *typ[FE_CE_MAX]
        Py_ssize_t typlen[FE_CE_MAX]
        int ntyp
        int start
        char layout[32]
        fe_hdr tail[8]
        int ntail
    int fe_produce(fe_state *, rd_kafka_t *, rd_kafka_topic_t *, const fe_item *, int, const fe_hdr *,
                   const fe_ce *, rd_kafka_resp_err_t *) nogil


cdef inline const char *_bytes_of(object obj, Py_ssize_t *size, list keep) except? NULL:
    """Pointer/length of str (UTF-8), bytes or another buffer (None -> NULL); ``keep`` holds copies."""
    if obj is None:
        size[0] = 0
        return NULL
    if type(obj) is bytes:
        size[0] = PyBytes_GET_SIZE(obj)
        return PyBytes_AS_STRING(obj)
    if isinstance(obj, str):  # UTF-8, cached inside the str object
        return PyUnicode_AsUTF8AndSize(obj, size)
    b = bytes(memoryview(obj))  # any other buffer: a copy, kept
    keep.append(b)
    size[0] = PyBytes_GET_SIZE(b)
    return PyBytes_AS_STRING(b)


cdef tuple _header_pair(object item):
    """A constant header (name, value) as a 2-tuple of its own."""
    pair = tuple(item)
    if len(pair) != 2:
        raise ValueError(f"CloudEvents: a constant header is a (name, value) pair, not {len(pair)} items")
    return pair


cdef class CloudEvents:
    """What CloudEvents headers need besides the payload: ce_source per source ordinal, ce_type
    per kind ordinal, the framing prefix to skip, and the constant headers that follow."""

    cdef fe_ce spec
    cdef list keep

    def __init__(self, tuple source_uris, tuple types, int start, str layout, list tail) -> None:
        cdef int i
        # Pairs of our own, read once: unpacking a caller's item runs its code, which could grow
        # the list past the 8 entries of spec.tail.
        pairs = tuple([_header_pair(item) for item in tuple(tail)])
        if len(source_uris) > FE_CE_MAX or len(types) > FE_CE_MAX or len(pairs) > 8:
            raise ValueError("CloudEvents: too many sources, kinds or constant headers")
        if start < 0:
            raise ValueError(f"CloudEvents: framing prefix of {start} bytes")
        lay = layout.encode()
        if len(lay) >= FE_CE_LAYOUT_MAX or b"\0" in lay:
            raise ValueError(f"CloudEvents: header layout {layout!r} is invalid")
        memcpy(self.spec.layout, <const char *>lay, len(lay) + 1)
        # Every object a spec pointer points into (a str's cached UTF-8, a bytes' buffer) is kept
        # here for as long as the spec lives; _bytes_of adds the copies it makes.
        self.keep = [source_uris, types, pairs]
        self.spec.nsrc = 0
        self.spec.ntyp = 0
        self.spec.ntail = 0
        self.spec.start = start
        for i, uri in enumerate(source_uris):
            self.spec.src[i] = _bytes_of(uri, &self.spec.srclen[i], self.keep)
        self.spec.nsrc = len(source_uris)
        for i, kind_type in enumerate(types):
            self.spec.typ[i] = _bytes_of(kind_type, &self.spec.typlen[i], self.keep)
        self.spec.ntyp = len(types)
        for i, (name, value) in enumerate(pairs):
            self.spec.tail[i].name = _bytes_of(name, &self.spec.tail[i].nlen, self.keep)
            self.spec.tail[i].val = _bytes_of(value, &self.spec.tail[i].vlen, self.keep)
        self.spec.ntail = len(pairs)
