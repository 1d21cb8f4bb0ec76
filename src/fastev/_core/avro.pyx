# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native Avro writer for StorageEvent (the reference is fastev._ref.avro).

Apache Avro 1.11 specification sections cited as spec "...". Output is byte for
byte the reference's, errors included (same exception type and message).

One extension module, in parts (included below, in this order):
  avro_write_buffer.pxi  WriteBuffer, the primitive writers every encoder shares (avro.pxd)
  avro_event_record.pxi  EventRec -> Avro binary, EventRec -> dict
  avro_event_dict.pxi    StorageEvent/dict -> EventRec with the reference's checks; encode_event
  avro_container.pxi     Confluent framing, the schema fingerprint, Object Container Files
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport INT32_MAX, INT32_MIN, int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from fastev._core.event cimport Attr, EventRec, Str

import io
import os
import zlib

from fastev.avro_format import (
    CODECS,
    KIND_ORDINALS as _KIND_ORDINALS,
    SOURCE_ORDINALS as _SOURCE_ORDINALS,
    SYNC_SIZE,
    ocf_header as _ocf_header,
)
from fastev.event import KINDS, SOURCES, event_fields as _event_fields

cdef Py_ssize_t _MIN_CAPACITY = 256
cdef Py_ssize_t _MAX_CAPACITY = PY_SSIZE_T_MAX // 2
cdef int _N_SOURCES = len(SOURCES)
cdef int _N_KINDS = len(KINDS)
cdef tuple _SOURCES = SOURCES
cdef tuple _KINDS = KINDS
cdef dict _SOURCE_ORD = _SOURCE_ORDINALS
cdef dict _KIND_ORD = _KIND_ORDINALS
cdef object _MISSING = object()


include "avro_write_buffer.pxi"
include "avro_event_record.pxi"
include "avro_event_dict.pxi"
include "avro_container.pxi"
