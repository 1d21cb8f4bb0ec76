# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
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
from libc.string cimport memcpy, memset

from fastev._core.cloudevents cimport FE_CE_OK, fe_ce_head, fe_ce_read_head, fe_ce_rfc3339_us

from fastev.errors import ConfigError

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL

cdef extern from *:
    """
    #include <dlfcn.h>
    #include <stdio.h>
    #include <stdint.h>
    #include <string.h>
    #include <pthread.h>
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
        void (*conf_set_log_cb)(rd_kafka_conf_t *, void (*)(const rd_kafka_t *, int, const char *, const char *));
        void *(*opaque)(const rd_kafka_t *);
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

    /* The file of the librdkafka that the already loaded module at ``module_path`` (confluent-kafka's
       cimpl) resolves its symbols from, or NULL: never a second copy found on disk. */
    static const char *fe_lib_of(const char *module_path) {
        Dl_info info;
        void *sym, *m = dlopen(module_path, RTLD_NOW | RTLD_NOLOAD);
        if (!m) return NULL;
        sym = dlsym(m, "rd_kafka_version_str");  /* searches the module and its dependencies */
        dlclose(m);  /* only drops the reference NOLOAD took; cimpl keeps it mapped */
        if (!sym || !dladdr(sym, &info) || !info.dli_fname) return NULL;
        return info.dli_fname;
    }

    static void *fe_lib;
    /* Bind librdkafka at ``path`` only if it is already mapped (RTLD_NOLOAD): NULL, or why not. */
    static const char *fe_open(const char *path) {
        fe_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);  /* never closed: process lifetime */
        return fe_lib ? NULL : "not loaded by confluent_kafka (RTLD_NOLOAD)";
    }
    /* Its version string (rd_kafka_version_str), or NULL when it has none. */
    static const char *fe_version_str(void) {
        const char *(*f)(void);
        *(void **)&f = dlsym(fe_lib, "rd_kafka_version_str");
        return f ? f() : NULL;
    }
    /* Resolve every function; the missing symbol's name, or NULL. */
    static const char *fe_bind(void) {
        void *lib = fe_lib;
    #define FE_SYM(field, name) if (!(*(void **)&fe_rk.field = dlsym(lib, name))) return name;
        FE_SYM(version, "rd_kafka_version") FE_SYM(conf_new, "rd_kafka_conf_new")
        FE_SYM(conf_set, "rd_kafka_conf_set") FE_SYM(conf_destroy, "rd_kafka_conf_destroy")
        FE_SYM(conf_set_opaque, "rd_kafka_conf_set_opaque")
        FE_SYM(conf_set_dr_msg_cb, "rd_kafka_conf_set_dr_msg_cb")
        FE_SYM(conf_set_error_cb, "rd_kafka_conf_set_error_cb")
        FE_SYM(conf_set_log_cb, "rd_kafka_conf_set_log_cb") FE_SYM(opaque, "rd_kafka_opaque")
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

    #define FE_NLOGS 32
    typedef struct { int level; char fac[24]; char msg[232]; } fe_log_t;
    #define FE_ERR__TRANSPORT (-195)
    #define FE_ERR__ALL_BROKERS_DOWN (-187)
    #define FE_ERR__RESOLVE (-193)
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
        /* Broker connection trouble (_TRANSPORT, _ALL_BROKERS_DOWN...) seen by the error callback:
           the first reason since the last successful metadata request, and whether all are down. */
        rd_kafka_resp_err_t conn_err; char conn_str[512]; int all_down;
        /* librdkafka's log lines, handed to Python's logging by drain (log callbacks run in
           librdkafka's own threads, hence the lock); a full ring drops and counts: rate-limited. */
        pthread_mutex_t loglock;
        fe_log_t logs[FE_NLOGS];
        int nlogs; int64_t dropped;
    } fe_state;

    static void fe_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        fe_state *st = (fe_state *)fe_rk.opaque(rk);
        if (!st) return;
        pthread_mutex_lock(&st->loglock);
        if (st->nlogs < FE_NLOGS) {
            st->logs[st->nlogs].level = level;
            snprintf(st->logs[st->nlogs].fac, sizeof(st->logs[0].fac), "%s", fac ? fac : "");
            snprintf(st->logs[st->nlogs].msg, sizeof(st->logs[0].msg), "%s", buf ? buf : "");
            st->nlogs++;
        } else {
            st->dropped++;
        }
        pthread_mutex_unlock(&st->loglock);
    }

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
        if (err == FE_ERR__TRANSPORT || err == FE_ERR__ALL_BROKERS_DOWN || err == FE_ERR__RESOLVE) {
            if (!st->conn_err && err != FE_ERR__ALL_BROKERS_DOWN) {  /* the first concrete reason */
                st->conn_err = err;
                snprintf(st->conn_str, sizeof(st->conn_str), "%s", reason ? reason : "");
            }
            if (err == FE_ERR__ALL_BROKERS_DOWN) st->all_down = 1;
        }
    }

    static void fe_set_callbacks(rd_kafka_conf_t *conf) {
        fe_rk.conf_set_dr_msg_cb(conf, fe_dr_cb);
        fe_rk.conf_set_error_cb(conf, fe_error_cb);
        fe_rk.conf_set_log_cb(conf, fe_log_cb);
    }

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
    const char *fe_lib_of(const char *module_path)
    const char *fe_open(const char *path)
    const char *fe_version_str()
    const char *fe_bind()
    void fe_set_callbacks(rd_kafka_conf_t *)

    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct fe_log_t:
        int level
        char fac[24]
        char msg[232]
    int pthread_mutex_init(pthread_mutex_t *, void *)
    int pthread_mutex_destroy(pthread_mutex_t *)
    int pthread_mutex_lock(pthread_mutex_t *) nogil
    int pthread_mutex_unlock(pthread_mutex_t *) nogil
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
        rd_kafka_resp_err_t conn_err
        char conn_str[512]
        int all_down
        pthread_mutex_t loglock
        fe_log_t logs[32]
        int nlogs
        int64_t dropped
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

cdef enum:
    RD_KAFKA_PRODUCER = 0
    CONF_UNKNOWN = -2
    CHUNK = 512                  # messages read from Python per GIL release
    ERR_QUEUE_FULL = -184

QUEUE_FULL = ERR_QUEUE_FULL
BAD_EVENT = FE_ERR_BAD_EVENT  # produce() stopped at a payload CloudEvents headers cannot be read from


# librdkafka versions this module's hand-declared ABI (structs, signatures) was tested with.
TESTED_VERSIONS = ((2, 0, 0), (3, 0, 0))  # [from, to)


def _version_tuple(text: str) -> tuple:
    return tuple(int(p) for p in text.split("-")[0].split(".")[:3] if p.isdigit())


def _librdkafka_path() -> str:
    """The file of the librdkafka confluent_kafka.cimpl already mapped. FASTEV_LIBRDKAFKA names
    another candidate (tests); it too is only used if already mapped and of the same version."""
    import os

    import confluent_kafka.cimpl

    injected = os.environ.get("FASTEV_LIBRDKAFKA")
    if injected:
        return injected
    cdef const char *found = fe_lib_of(os.fsencode(confluent_kafka.cimpl.__file__))
    if found == NULL:
        raise ImportError("fastev._core.kproducer: cannot find the librdkafka confluent_kafka.cimpl uses")
    return os.fsdecode(<bytes>found)


def check_version(str have, str want, str path) -> None:
    """ImportError unless librdkafka ``have`` (at ``path``) is confluent-kafka's ``want`` and in TESTED_VERSIONS."""
    if have != want:
        raise ImportError(f"fastev._core.kproducer: {path} is librdkafka {have}, confluent_kafka uses {want}")
    low, high = TESTED_VERSIONS
    if not low <= _version_tuple(have) < high:
        raise ImportError(f"fastev._core.kproducer: librdkafka {have} is outside the tested range "
                          f"{'.'.join(map(str, low))} to before {'.'.join(map(str, high))}")


cdef str _bind(str path):
    """Bind exactly ``path`` (already mapped), of confluent-kafka's librdkafka version, in the tested range."""
    import os

    import confluent_kafka

    cdef const char *why = fe_open(os.fsencode(path))
    if why != NULL:
        raise ImportError(f"fastev._core.kproducer: {path}: {why.decode()}")
    cdef const char *version = fe_version_str()
    if version == NULL:
        raise ImportError(f"fastev._core.kproducer: {path} is not librdkafka (no rd_kafka_version_str)")
    have = version.decode("ascii", "replace")
    check_version(have, confluent_kafka.libversion()[0], path)
    cdef const char *missing = fe_bind()
    if missing != NULL:
        raise ImportError(f"fastev._core.kproducer: {path} has no {missing.decode('utf-8', 'replace')}")
    return have


LIBRDKAFKA = _librdkafka_path()
LIBRDKAFKA_VERSION = _bind(LIBRDKAFKA)


def err2str(int code) -> str:
    return fe_rk.err2str(code).decode("utf-8", "replace")


def err2name(int code) -> str:
    return fe_rk.err2name(code).decode("utf-8", "replace")


cdef int _millis(double timeout) except -1:
    """A timeout in seconds as librdkafka's milliseconds; negative (librdkafka: forever) and NaN refused."""
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0 seconds, not {timeout}")
    return <int>min(timeout * 1000, 2147483647.0)


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

    def __init__(self, tuple source_uris, tuple types, int start, str layout, list tail) -> None:
        if len(source_uris) > FE_CE_MAX or len(types) > FE_CE_MAX or len(tail) > 8:
            raise ValueError("CloudEvents: too many sources, kinds or constant headers")
        if start < 0:
            raise ValueError(f"CloudEvents: framing prefix of {start} bytes")
        lay = layout.encode()
        if len(lay) >= FE_CE_LAYOUT_MAX or b"\0" in lay:
            raise ValueError(f"CloudEvents: header layout {layout!r} is invalid")
        memcpy(self.spec.layout, <const char *>lay, len(lay) + 1)
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
        if not isinstance(slot, int):
            raise TypeError(f"slot must be int, not {type(slot).__name__}")
        if not 0 <= slot < self.st.cap:
            raise IndexError(f"no slot {slot}")
        if not self.in_use[<int32_t>slot]:
            raise ValueError(f"slot {slot} is not in use")
        return <int32_t>slot

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
            self._slot(slot)
        if not 0 <= start <= n:
            raise IndexError(f"produce: start {start} is outside 0..{n}")
        for what, seq in (("keys", keys), ("header lists", headers_list), ("slots", None if one_slot else slots)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"produce: {len(seq)} {what} for {n} payloads")
        self.last_error = 0
        try:
            return self._produce(rkt, payloads, keys, headers_list, slots, one_slot, slot, i, n, cspec, subjects)
        finally:
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
                    it.slot = self._slot(slots[m])
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
