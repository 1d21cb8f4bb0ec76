# Per-producer delivery accounting in C (included by kproducer.pyx): the slot counters, the
# delivery-report, error and log callbacks librdkafka calls. Separate from the producer class: it is the
# state the callbacks share.

cdef extern from *:
    """
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
        int64_t done_lost;         /* completions that found done full (collect() raises) */
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
        /* produce() refuses sealed slots, so a slot completes once per use; only a slot freed and
           reused before collect() can complete again. Never dropped silently: counted, and
           collect() raises. */
        if (--st->pending[slot] == 0 && st->sealed[slot]) {
            if (st->ndone < st->cap) st->done[st->ndone++] = slot;
            else st->done_lost++;
        }
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
    """
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
        int64_t done_lost
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
