# librdkafka bound at import (included by kproducer.pyx): its public ABI declared by hand (no headers at
# build time), the dlopen of exactly the copy confluent_kafka.cimpl mapped, and the version checks
# guarding that ABI. Separate from the producer: everything that depends on which librdkafka is loaded
# lives here.

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
