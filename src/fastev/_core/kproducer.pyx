# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native Kafka produce path: librdkafka's C API driven from a C loop.

confluent-kafka's ``produce_batch`` drops headers (confluent-kafka-python#2320), so
CloudEvents messages would cost one Python ``produce()`` call each. Here a chunk of
messages is read into C arrays with the GIL held, then produced with
``rd_kafka_producev`` (headers as an ``rd_kafka_headers_t``) with the GIL released.

librdkafka is not linked at build time (no headers, no -dev package in CI): the copy
shipped in the confluent-kafka wheel (``confluent_kafka.libs/librdkafka-*.so.1``) is
dlopen()ed at import and the few functions used are looked up with dlsym. The types
are librdkafka's public ABI (src/rdkafka.h), declared in kproducer_librdkafka.pxi.

Delivery accounting is per *slot* (a small integer the Python facade maps to a caller
token; it travels as the message's msg_opaque). The delivery-report callback counts in
C; Python is called once per completed slot (``collect``), never per message. All
librdkafka callbacks run inside rd_kafka_poll/flush, i.e. in the thread that called
``poll``/``flush``/``produce`` here, so the counters need no locking.

One extension module, in parts (included below, in this order):
  kproducer_librdkafka.pxi  the ABI declarations, the dlopen/dlsym binding and its version checks
  kproducer_accounting.pxi  the per-slot delivery counters and librdkafka's callbacks
  kproducer_produce.pxi     the C produce loop and its CloudEvents headers (the CloudEvents class)
  kproducer_producer.pxi    the Producer class
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

include "kproducer_librdkafka.pxi"
include "kproducer_accounting.pxi"
include "kproducer_produce.pxi"
include "kproducer_producer.pxi"
