# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native Kafka produce path: librdkafka's C API driven from a C loop.

confluent-kafka's ``produce_batch`` drops headers (confluent-kafka-python#2320), so
CloudEvents messages would cost one Python ``produce()`` call each. Here a chunk of
messages is read into C arrays with the GIL held, then produced with
``rd_kafka_producev`` (headers as an ``rd_kafka_headers_t``) with the GIL released.

librdkafka is not linked at build time (no headers, no -dev package in CI): the copy
shipped in the confluent-kafka wheel (``confluent_kafka.libs/librdkafka-*.so.1``) is
dlopen()ed at import and the few functions used are looked up with dlsym. The types
below are librdkafka's public ABI (src/rdkafka.h), declared here.

Delivery accounting is per *slot* (a small integer the Python facade maps to a caller
token; it travels as the message's msg_opaque). The delivery-report callback counts in
C; Python is called once per completed slot (``collect``), never per message. All
librdkafka callbacks run inside rd_kafka_poll/flush, i.e. in the thread that called
``poll``/``flush``/``produce`` here, so the counters need no locking.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from libc.stdint cimport int32_t, int64_t, intptr_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memset

from fastev.errors import ConfigError

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL

cdef extern from *:
    """
    #include <dlfcn.h>
    #include <stdio.h>
    #include <stdint.h>
    #include <string.h>
    #include <sys/types.h>

    /* librdkafka public ABI (src/rdkafka.h), declared here: no headers at build time. */
    typedef struct rd_kafka_s rd_kafka_t;
    typedef struct rd_kafka_conf_s rd_kafka_conf_t;
    typedef struct rd_kafka_topic_s rd_kafka_topic_t;
    typedef struct rd_kafka_headers_s rd_kafka_headers_t;
    typedef int rd_kafka_resp_err_t;
    typedef struct rd_kafka_message_s {
        rd_kafka_resp_err_t err; rd_kafka_topic_t *rkt; int32_t partition;
        void *payload; size_t len; void *key; size_t key_len; int64_t offset;
        void *_private;  /* producer: the msg_opaque given to producev */
    } rd_kafka_message_t;
    typedef struct rd_kafka_metadata_topic {
        char *topic; int partition_cnt; void *partitions; rd_kafka_resp_err_t err;
    } rd_kafka_metadata_topic_t;
    typedef struct rd_kafka_metadata {
        int broker_cnt; void *brokers; int topic_cnt; rd_kafka_metadata_topic_t *topics;
        int32_t orig_broker_id; char *orig_broker_name;
    } rd_kafka_metadata_t;
    enum { FE_VTYPE_END, FE_VTYPE_TOPIC, FE_VTYPE_RKT, FE_VTYPE_PARTITION, FE_VTYPE_VALUE,
           FE_VTYPE_KEY, FE_VTYPE_OPAQUE, FE_VTYPE_MSGFLAGS, FE_VTYPE_TIMESTAMP,
           FE_VTYPE_HEADER, FE_VTYPE_HEADERS };               /* rd_kafka_vtype_t */
    #define FE_MSG_F_COPY 0x2                                 /* RD_KAFKA_MSG_F_COPY */
    #define FE_ERR__FATAL (-150)
    #define FE_ERR__QUEUE_FULL (-184)

    static struct {
        int (*version)(void);
        rd_kafka_conf_t *(*conf_new)(void);
        int (*conf_set)(rd_kafka_conf_t *, const char *, const char *, char *, size_t);
        void (*conf_destroy)(rd_kafka_conf_t *);
        void (*conf_set_opaque)(rd_kafka_conf_t *, void *);
        void (*conf_set_dr_msg_cb)(rd_kafka_conf_t *,
                                   void (*)(rd_kafka_t *, const rd_kafka_message_t *, void *));
        void (*conf_set_error_cb)(rd_kafka_conf_t *, void (*)(rd_kafka_t *, int, const char *, void *));
        rd_kafka_t *(*new_)(int, rd_kafka_conf_t *, char *, size_t);
        void (*destroy)(rd_kafka_t *);
        rd_kafka_topic_t *(*topic_new)(rd_kafka_t *, const char *, void *);
        void (*topic_destroy)(rd_kafka_topic_t *);
        const char *(*topic_name)(const rd_kafka_topic_t *);
        rd_kafka_resp_err_t (*producev)(rd_kafka_t *, ...);
        rd_kafka_headers_t *(*headers_new)(size_t);
        void (*headers_destroy)(rd_kafka_headers_t *);
        rd_kafka_resp_err_t (*header_add)(rd_kafka_headers_t *, const char *, ssize_t, const void *, ssize_t);
        int (*poll)(rd_kafka_t *, int);
        rd_kafka_resp_err_t (*flush)(rd_kafka_t *, int);
        int (*outq_len)(rd_kafka_t *);
        rd_kafka_resp_err_t (*fatal_error)(rd_kafka_t *, char *, size_t);
        const char *(*err2str)(rd_kafka_resp_err_t);
        const char *(*err2name)(rd_kafka_resp_err_t);
        rd_kafka_resp_err_t (*metadata)(rd_kafka_t *, int, rd_kafka_topic_t *, const rd_kafka_metadata_t **, int);
        void (*metadata_destroy)(const rd_kafka_metadata_t *);
        rd_kafka_resp_err_t (*test_fatal_error)(rd_kafka_t *, rd_kafka_resp_err_t, const char *);  /* optional */
    } fe_rk;

    /* dlopen librdkafka and resolve every function; the missing symbol's name, or NULL. */
    static const char *fe_bind(const char *path) {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);  /* never closed: process lifetime */
        if (!lib) return dlerror();
    #define FE_SYM(field, name) if (!(*(void **)&fe_rk.field = dlsym(lib, name))) return name;
        FE_SYM(version, "rd_kafka_version") FE_SYM(conf_new, "rd_kafka_conf_new")
        FE_SYM(conf_set, "rd_kafka_conf_set") FE_SYM(conf_destroy, "rd_kafka_conf_destroy")
        FE_SYM(conf_set_opaque, "rd_kafka_conf_set_opaque")
        FE_SYM(conf_set_dr_msg_cb, "rd_kafka_conf_set_dr_msg_cb")
        FE_SYM(conf_set_error_cb, "rd_kafka_conf_set_error_cb")
        FE_SYM(new_, "rd_kafka_new") FE_SYM(destroy, "rd_kafka_destroy")
        FE_SYM(topic_new, "rd_kafka_topic_new") FE_SYM(topic_destroy, "rd_kafka_topic_destroy")
        FE_SYM(topic_name, "rd_kafka_topic_name") FE_SYM(producev, "rd_kafka_producev")
        FE_SYM(headers_new, "rd_kafka_headers_new") FE_SYM(headers_destroy, "rd_kafka_headers_destroy")
        FE_SYM(header_add, "rd_kafka_header_add") FE_SYM(poll, "rd_kafka_poll")
        FE_SYM(flush, "rd_kafka_flush") FE_SYM(outq_len, "rd_kafka_outq_len")
        FE_SYM(fatal_error, "rd_kafka_fatal_error") FE_SYM(err2str, "rd_kafka_err2str")
        FE_SYM(err2name, "rd_kafka_err2name") FE_SYM(metadata, "rd_kafka_metadata")
        FE_SYM(metadata_destroy, "rd_kafka_metadata_destroy")
    #undef FE_SYM
        *(void **)&fe_rk.test_fatal_error = dlsym(lib, "rd_kafka_test_fatal_error");
        return NULL;
    }

    /* Per-producer delivery accounting, touched only by the thread serving callbacks. */
    typedef struct {
        int64_t *pending;          /* per slot: queued messages without a delivery report */
        int32_t *sealed;           /* per slot: no more messages will come */
        int32_t *err;              /* per slot: first failed delivery's error (0: none) */
        rd_kafka_topic_t **err_rkt;
        int32_t *done;             /* sealed slots whose last report arrived, in order */
        int32_t ndone, cap;
        int64_t in_flight, delivered, failed;
        int strict;                /* every failed delivery is raised, not only permanent ones */
        int32_t permanent[32]; int npermanent;
        rd_kafka_resp_err_t fail_err; rd_kafka_topic_t *fail_rkt;  /* first failure to raise */
        int fatal; rd_kafka_resp_err_t fatal_err; char fatal_str[512];
    } fe_state;

    static void fe_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        fe_state *st = (fe_state *)opaque;
        int32_t slot = (int32_t)(intptr_t)m->_private;
        st->in_flight--;
        if (m->err == 0) {
            st->delivered++;
        } else {
            int raise = st->strict || m->err == FE_ERR__FATAL;
            st->failed++;
            if (!st->err[slot]) { st->err[slot] = m->err; st->err_rkt[slot] = m->rkt; }
            for (int i = 0; i < st->npermanent && !raise; i++) raise = m->err == st->permanent[i];
            if (raise && !st->fail_err) { st->fail_err = m->err; st->fail_rkt = m->rkt; }
        }
        if (--st->pending[slot] == 0 && st->sealed[slot] && st->ndone < st->cap)
            st->done[st->ndone++] = slot;
    }

    /* Same rule as confluent-kafka: _FATAL means "ask rd_kafka_fatal_error() what happened". */
    static void fe_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        fe_state *st = (fe_state *)opaque;
        if (err == FE_ERR__FATAL && !st->fatal) {
            st->fatal_err = fe_rk.fatal_error(rk, st->fatal_str, sizeof(st->fatal_str));
            st->fatal = 1;
        }
    }

    static void fe_set_callbacks(rd_kafka_conf_t *conf) {
        fe_rk.conf_set_dr_msg_cb(conf, fe_dr_cb);
        fe_rk.conf_set_error_cb(conf, fe_error_cb);
    }

    /* One message as read from Python: pointers into objects kept alive by the caller. */
    typedef struct { const char *val; size_t vlen; const char *key; size_t klen;
                     const char *subj; size_t subjlen; int32_t slot; int32_t hstart, hcount; } fe_item;
    typedef struct { const char *name; ssize_t nlen; const char *val; ssize_t vlen; } fe_hdr;

    /* CloudEvents binary mode (cloudevents/spec kafka-protocol-binding.md 3.2), built here from
       the payload's first Avro fields exactly as fastev.kafka.sink.CloudEventHeaders does. */
    #define FE_ERR_BAD_EVENT (-100000)
    #define FE_CE_MAX 256
    typedef struct {
        const char *src[FE_CE_MAX]; ssize_t srclen[FE_CE_MAX]; int nsrc;   /* ce_source per source */
        const char *typ[FE_CE_MAX]; ssize_t typlen[FE_CE_MAX]; int ntyp;   /* ce_type per kind */
        int start;                                                         /* framing bytes */
        fe_hdr tail[8]; int ntail;                                         /* content-type, ... */
    } fe_ce;

    /* One Avro long (zig-zag varint); -1 when it runs past the end. */
    static int fe_zigzag(const unsigned char *b, size_t *pos, size_t end, int64_t *out) {
        uint64_t v = 0;
        for (int shift = 0; *pos < end && shift < 64; shift += 7) {
            unsigned char c = b[(*pos)++];
            v |= (uint64_t)(c & 0x7F) << shift;
            if (c < 0x80) { *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1); return 0; }
        }
        return -1;
    }

    /* UTC microseconds -> 2026-02-11T08:14:05.310000Z, as sink.rfc3339_us (Hinnant's civil_from_days). */
    static void fe_rfc3339_us(int64_t time_us, char *out) {
        int64_t seconds = time_us / 1000000 - (time_us % 1000000 < 0 ? 1 : 0);  /* floor division */
        int64_t micros = time_us - seconds * 1000000;
        int64_t days = seconds / 86400 - (seconds % 86400 < 0 ? 1 : 0);
        int64_t sod = seconds - days * 86400;
        int64_t z = days + 719468;
        int64_t era = (z >= 0 ? z : z - 146096) / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t y = yoe + era * 400;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int64_t d = doy - (153 * mp + 2) / 5 + 1;
        int64_t m = mp < 10 ? mp + 3 : mp - 9;
        if (m <= 2) y += 1;
        if (y < 0 || y > 9999) {  /* rare: let printf do the sign and width */
            snprintf(out, 64, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", (long long)y, (long long)m,
                     (long long)d, (long long)(sod / 3600), (long long)((sod / 60) % 60), (long long)(sod % 60),
                     (long long)micros);
            return;
        }
        /* YYYY-MM-DDTHH:MM:SS.ffffffZ by hand: snprintf costs more than the rest of a header */
        int64_t f[7] = {y, m, d, sod / 3600, (sod / 60) % 60, sod % 60, micros};
        static const int width[7] = {4, 2, 2, 2, 2, 2, 6};
        static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
        char *o = out;
        for (int k = 0; k < 7; k++) {
            int64_t v = f[k];
            for (int w = width[k] - 1; w >= 0; w--) { o[w] = (char)('0' + v % 10); v /= 10; }
            o += width[k];
            *o++ = sep[k];
        }
        *o = 0;
    }

    #define FE_ADD(h, name, val, len) fe_rk.header_add((h), (name), sizeof(name) - 1, (val), (len))

    /* The CloudEvents headers of one message; NULL when its payload is not a StorageEvent. */
    static rd_kafka_headers_t *fe_ce_headers(const fe_ce *ce, const fe_item *it) {
        const unsigned char *b = (const unsigned char *)it->val;
        size_t pos = (size_t)ce->start, end = it->vlen;
        int64_t idlen, source, kind, rawlen, time_us;
        const char *id;
        char tbuf[64];
        rd_kafka_headers_t *h;
        if (!b || pos > end || fe_zigzag(b, &pos, end, &idlen) || idlen < 0 || (uint64_t)idlen > end - pos)
            return NULL;
        id = (const char *)b + pos;
        pos += (size_t)idlen;
        if (fe_zigzag(b, &pos, end, &source) || fe_zigzag(b, &pos, end, &kind)
                || fe_zigzag(b, &pos, end, &rawlen) || source < 0 || source >= ce->nsrc
                || kind < 0 || kind >= ce->ntyp || rawlen < 0 || (uint64_t)rawlen > end - pos)
            return NULL;
        pos += (size_t)rawlen;  /* raw_type: not a header */
        if (fe_zigzag(b, &pos, end, &time_us))
            return NULL;
        fe_rfc3339_us(time_us, tbuf);
        h = fe_rk.headers_new((size_t)(6 + ce->ntail));
        FE_ADD(h, "ce_specversion", "1.0", 3);
        FE_ADD(h, "ce_id", id, (ssize_t)idlen);
        FE_ADD(h, "ce_source", ce->src[source], ce->srclen[source]);
        FE_ADD(h, "ce_type", ce->typ[kind], ce->typlen[kind]);
        FE_ADD(h, "ce_time", tbuf, (ssize_t)strlen(tbuf));
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
    ctypedef struct rd_kafka_t
    ctypedef struct rd_kafka_conf_t
    ctypedef struct rd_kafka_topic_t
    ctypedef int rd_kafka_resp_err_t
    ctypedef struct rd_kafka_metadata_topic_t:
        char *topic
        int partition_cnt
        rd_kafka_resp_err_t err
    ctypedef struct rd_kafka_metadata_t:
        int topic_cnt
        rd_kafka_metadata_topic_t *topics
    ctypedef struct fe_rk_t:
        int (*version)()
        rd_kafka_conf_t *(*conf_new)()
        int (*conf_set)(rd_kafka_conf_t *, const char *, const char *, char *, size_t)
        void (*conf_destroy)(rd_kafka_conf_t *)
        void (*conf_set_opaque)(rd_kafka_conf_t *, void *)
        rd_kafka_t *(*new_)(int, rd_kafka_conf_t *, char *, size_t)
        void (*destroy)(rd_kafka_t *) nogil
        rd_kafka_topic_t *(*topic_new)(rd_kafka_t *, const char *, void *)
        void (*topic_destroy)(rd_kafka_topic_t *)
        const char *(*topic_name)(const rd_kafka_topic_t *)
        int (*poll)(rd_kafka_t *, int) nogil
        rd_kafka_resp_err_t (*flush)(rd_kafka_t *, int) nogil
        int (*outq_len)(rd_kafka_t *)
        const char *(*err2str)(rd_kafka_resp_err_t)
        const char *(*err2name)(rd_kafka_resp_err_t)
        rd_kafka_resp_err_t (*metadata)(rd_kafka_t *, int, rd_kafka_topic_t *,
                                        const rd_kafka_metadata_t **, int) nogil
        void (*metadata_destroy)(const rd_kafka_metadata_t *)
        rd_kafka_resp_err_t (*test_fatal_error)(rd_kafka_t *, rd_kafka_resp_err_t, const char *)
    fe_rk_t fe_rk
    const char *fe_bind(const char *path)
    void fe_set_callbacks(rd_kafka_conf_t *)

    ctypedef struct fe_state:
        int64_t *pending
        int32_t *sealed
        int32_t *err
        rd_kafka_topic_t **err_rkt
        int32_t *done
        int32_t ndone, cap
        int64_t in_flight, delivered, failed
        int strict
        int32_t permanent[32]
        int npermanent
        rd_kafka_resp_err_t fail_err
        rd_kafka_topic_t *fail_rkt
        int fatal
        rd_kafka_resp_err_t fatal_err
        char fatal_str[512]
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
        FE_ERR_BAD_EVENT
    ctypedef struct fe_ce:
        const char *src[FE_CE_MAX]
        Py_ssize_t srclen[FE_CE_MAX]
        int nsrc
        const char *typ[FE_CE_MAX]
        Py_ssize_t typlen[FE_CE_MAX]
        int ntyp
        int start
        fe_hdr tail[8]
        int ntail
    int fe_produce(fe_state *, rd_kafka_t *, rd_kafka_topic_t *, const fe_item *, int, const fe_hdr *,
                   const fe_ce *, rd_kafka_resp_err_t *) nogil

cdef enum:
    RD_KAFKA_PRODUCER = 0
    CONF_UNKNOWN = -2
    CHUNK = 512                  # messages read from Python per GIL release
    ERR_QUEUE_FULL = -184

QUEUE_FULL = ERR_QUEUE_FULL
BAD_EVENT = FE_ERR_BAD_EVENT  # produce() stopped at a payload CloudEvents headers cannot be read from


def _find_librdkafka() -> str:
    """The librdkafka confluent-kafka uses: the wheel's bundled copy, else the system one."""
    import ctypes.util
    import glob
    import os

    import confluent_kafka

    libs = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    found = sorted(glob.glob(os.path.join(libs, "librdkafka*.so*")))
    if found:
        return found[0]
    name = ctypes.util.find_library("rdkafka")
    if name:
        return name
    raise ImportError("fastev._core.kproducer: librdkafka not found (neither in confluent_kafka.libs "
                      "nor on the library path)")


cdef void _bind(str path) except *:
    cdef const char *missing = fe_bind(path.encode())
    if missing != NULL:
        raise ImportError(f"fastev._core.kproducer: cannot use {path}: {missing.decode('utf-8', 'replace')}")


LIBRDKAFKA = _find_librdkafka()
_bind(LIBRDKAFKA)
if fe_rk.version() < 0x010000ff:  # rd_kafka_fatal_error and producev headers: librdkafka >= 1.0
    raise ImportError(f"fastev._core.kproducer: {LIBRDKAFKA} is older than librdkafka 1.0")


def err2str(int code) -> str:
    return fe_rk.err2str(code).decode("utf-8", "replace")


def err2name(int code) -> str:
    return fe_rk.err2name(code).decode("utf-8", "replace")


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


cdef class CloudEvents:
    """What CloudEvents headers need besides the payload: ce_source per source ordinal, ce_type
    per kind ordinal, the framing prefix to skip, and the constant headers that follow."""

    cdef fe_ce spec
    cdef list keep

    def __init__(self, tuple source_uris, tuple types, int start, list tail) -> None:
        if len(source_uris) > FE_CE_MAX or len(types) > FE_CE_MAX or len(tail) > 8:
            raise ValueError("CloudEvents: too many sources, kinds or constant headers")
        self.keep = []
        self.spec.nsrc = len(source_uris)
        self.spec.ntyp = len(types)
        self.spec.ntail = len(tail)
        self.spec.start = start
        for i, uri in enumerate(source_uris):
            self.spec.src[i] = _bytes_of(uri, &self.spec.srclen[i], self.keep)
        for i, kind_type in enumerate(types):
            self.spec.typ[i] = _bytes_of(kind_type, &self.spec.typlen[i], self.keep)
        for i, (name, value) in enumerate(tail):
            self.keep += [name, value]
            self.spec.tail[i].name = _bytes_of(name, &self.spec.tail[i].nlen, self.keep)
            self.spec.tail[i].val = _bytes_of(value, &self.spec.tail[i].vlen, self.keep)


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
    cdef readonly int last_error  # why the last produce() stopped short

    def __cinit__(self) -> None:
        memset(&self.st, 0, sizeof(fe_state))
        self.rk = NULL
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
        self._unpin()
        free(self.items)
        free(self.hdrs)
        free(self.pins)

    cdef int _grow(self, int32_t cap) except -1:
        cdef int32_t old = self.st.cap, i
        self.st.pending = <int64_t *>realloc(self.st.pending, cap * sizeof(int64_t))
        self.st.sealed = <int32_t *>realloc(self.st.sealed, cap * sizeof(int32_t))
        self.st.err = <int32_t *>realloc(self.st.err, cap * sizeof(int32_t))
        self.st.err_rkt = <rd_kafka_topic_t **>realloc(self.st.err_rkt, cap * sizeof(void *))
        self.st.done = <int32_t *>realloc(self.st.done, cap * sizeof(int32_t))
        if (self.st.pending == NULL or self.st.sealed == NULL or self.st.err == NULL
                or self.st.err_rkt == NULL or self.st.done == NULL):
            raise MemoryError()
        self.st.cap = cap
        for i in range(cap - 1, old - 1, -1):  # lowest slot handed out first
            self.free_slots.append(i)
        return 0

    cdef inline void _check_rk(self) except *:
        if self.rk == NULL:
            raise RuntimeError("Producer is not initialised")
        if self.busy:  # the C state is single-threaded; refuse concurrent use instead of corrupting it
            raise RuntimeError("Producer used from two threads at once")

    # -- slots ---------------------------------------------------------------------------------
    def new_slot(self) -> int:
        if not self.free_slots:
            self._check_rk()
            self._grow(self.st.cap * 2)
        cdef int32_t slot = self.free_slots.pop()
        self.st.pending[slot] = 0
        self.st.sealed[slot] = 0
        self.st.err[slot] = 0
        self.st.err_rkt[slot] = NULL
        return slot

    def free_slot(self, int32_t slot) -> None:
        self.free_slots.append(slot)

    def seal(self, int32_t slot) -> bool:
        """Mark ``slot`` sealed; True when it is already complete (nothing pending)."""
        self.st.sealed[slot] = 1
        return self.st.pending[slot] == 0

    def pending(self, int32_t slot) -> int:
        return self.st.pending[slot]

    def slot_error(self, int32_t slot) -> tuple | None:
        """(error code, topic) of the slot's first failed delivery, or None."""
        if self.st.err[slot] == 0:
            return None
        return self.st.err[slot], self._topic_name(self.st.err_rkt[slot])

    cdef str _topic_name(self, rd_kafka_topic_t *rkt):
        return fe_rk.topic_name(rkt).decode("utf-8", "replace") if rkt != NULL else "?"

    def collect(self) -> tuple | None:
        """What happened since the last call: (fatal, failure, completed slots), or None.

        fatal = (code, reason) of a fatal producer error (reported once); failure = (code,
        topic) of the first failed delivery that must be raised (reported once);
        completed = sealed slots whose every message now has its delivery report.
        """
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
        cdef int ms = <int>(timeout * 1000)
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
        if one_slot and not 0 <= slot < self.st.cap:
            raise ValueError(f"no slot {slot}")
        self.last_error = 0
        try:
            return self._produce(rkt, payloads, keys, headers_list, slots, one_slot, slot, i, n, cspec, subjects)
        finally:
            self._unpin()

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
                    it.slot = slots[m]
                    if not 0 <= it.slot < self.st.cap:
                        raise ValueError(f"no slot {it.slot}")
                it.hstart = <int32_t>nh
                it.hcount = 0
                headers = headers_list[m] if headers_list is not None and cspec == NULL else None
                if headers:
                    if isinstance(headers, dict):
                        headers = list(headers.items())
                    if nh + len(headers) > self.hcap:
                        self._grow_headers(nh + len(headers))
                    for pair in headers:
                        name, hval = pair
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
        cdef int ms = <int>(timeout * 1000)
        cdef int served
        self.busy = True
        with nogil:
            served = fe_rk.poll(self.rk, ms)
        self.busy = False
        return served

    def flush(self, double timeout) -> int:
        """Wait up to ``timeout`` s for every delivery report; returns the messages still queued."""
        self._check_rk()
        cdef int ms = <int>(timeout * 1000)
        self.busy = True
        with nogil:
            fe_rk.flush(self.rk, ms)
        self.busy = False
        return fe_rk.outq_len(self.rk)

    def __len__(self) -> int:
        return fe_rk.outq_len(self.rk) if self.rk != NULL else 0

    def test_fatal_error(self, int code, str reason) -> int:
        """Tests only: make librdkafka raise a fatal error (rd_kafka_test_fatal_error)."""
        self._check_rk()
        if fe_rk.test_fatal_error == NULL:
            raise NotImplementedError("this librdkafka has no rd_kafka_test_fatal_error")
        return fe_rk.test_fatal_error(self.rk, code, reason.encode())
