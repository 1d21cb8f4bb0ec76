# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native codec core: raw records -> validated events -> routes -> Avro, in C.

The contract is the pure-Python reference (fastev._ref.decoder, .transcoder and the
modules they use): for every input the output here is identical, errors included.
Per record on the success path nothing but C runs: the JSON-lines framer finds lines
in the fed chunk, the scanner fills per-source key slots (json_scan.pxi), the source
decoders fill an EventRec from them (one .pxi per decoder: codec_billing, codec_gpfs,
codec_s3, codec_inotify, each mirroring its _ref module), and the Transcoder routes it
through the native ACL tries and Avro-encodes it once into per-route buffers.
Every per-record cost is linear in the record's size (bench: ``fastev bench codec
--adversarial``); errors of one S3 message share one raw bytes object and are bounded.

Python objects are used where volume is low or the case is rare, each noted below:
errors (DecodeError), the SSE framer of dCache storage events (the reference
SseFramer; frames are decoded natively), inotify watch lookup, and pending
IN_MOVED_FROM events of the rename pairer (kept as event dicts; moves are rare).

One extension module, in parts (included below, in this order): the low-level primitives
(codec_arena, codec_utf8, codec_event_id, codec_text, codec_time, codec_paths), the scanner
(json_scan) and typed field access (codec_fields), the per-source decoders (codec_sources,
codec_billing, codec_inotify_flags, codec_gpfs, codec_s3, codec_inotify), the key tables
(codec_schemas), route output (codec_route_batch: RouteBatch), the routing stage
(codec_router), the Decoder (codec_decoder, and its input side codec_decoder_input);
the Transcoder, which joins a Decoder to a router, is defined here.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, int32_t, int64_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.stdio cimport snprintf
from libc.string cimport memchr, memcmp, memcpy, memmove, strlen

from fastev._core.acl cimport IdentityView, PrefixFilter
from fastev._core.avro cimport WriteBuffer, event_rec_to_dict, raise_write_error, write_event_rec, WRITE_INVALID
from fastev._core.event cimport Attr, EventRec, Str
from fastev._core.cloudevents cimport FE_CE_BAD_LAYOUT, FE_CE_OK, fe_ce_head, fe_ce_read_head, fe_ce_reasons, fe_ce_rfc3339_us

import time

from fastev._core.avro import encode_event as _encode_event_dict
from fastev.batch import Batch, DecodeStats
from fastev.framing import SSE_STARTS as _SSE_STARTS, SseFramer
from fastev.inotify import load_watches, watched_dir
from fastev.options import (DEFAULT_MAX_RECORD_BYTES, DEFAULT_PAIRING_WINDOW, MAX_ERRORS_PER_MESSAGE,
                            SOURCE_NAMES, check_decoder_options, check_transcoder_options)
from fastev.source_trust import check_path_prefix, prefixed_path
from fastev.errors import ConfigError, DecodeError
from fastev.event import DECODER_NAMES, KINDS, SOURCES

from fastev.options import MAX_GROUPS

cdef int C_MAX_GROUPS = MAX_GROUPS

# Low-level helpers of the codec core: a per-record arena, UTF-8 validation, MurmurHash3 x64 128,
# integer formatting, timestamps and canonical paths. Everything there is noexcept nogil and
# bounds-checked: no helper reads outside [ptr, ptr + len).
include "codec_arena.pxi"
include "codec_utf8.pxi"
include "codec_event_id.pxi"
include "codec_text.pxi"
include "codec_time.pxi"
include "codec_paths.pxi"
include "json_scan.pxi"
include "codec_fields.pxi"
include "codec_sources.pxi"
include "codec_billing.pxi"
include "codec_inotify_flags.pxi"
include "codec_gpfs.pxi"
include "codec_s3.pxi"
include "codec_inotify.pxi"

__all__ = ("Decoder", "RouteBatch", "Transcoder")

cdef tuple REASONS = (
    "", "too-large", "invalid-utf8", "invalid-json", "too-deep", "not-an-object", "duplicate-key",
    "missing-field", "wrong-type", "out-of-range", "bad-time", "non-canonical-path",
    "unknown-subscription", "unknown-format",
)
cdef enum:
    SRC_AUTO = 5

cdef dict KIND_ORD = {k: i for i, k in enumerate(KINDS)}

include "codec_schemas.pxi"
include "codec_route_batch.pxi"
include "codec_router.pxi"
include "codec_decoder.pxi"
include "codec_decoder_input.pxi"

# -- the transcoder ----------------------------------------------------------------------------

cdef class Transcoder:
    """Feed raw batches; get per-route Avro payloads and the rejected records
    (API of fastev._ref.transcoder.Transcoder)."""
    cdef readonly tuple routes
    cdef readonly str framing
    cdef readonly object schema_id
    cdef readonly Decoder decoder
    cdef _Router router
    cdef bint busy               # as Decoder.busy: a Python route's takes() must not feed again

    def __init__(self, str source, routes, *, framing="avro", schema_id=0, **decoder_options):
        check_transcoder_options(routes, framing, schema_id)
        self.routes = tuple(routes)
        self.framing = framing
        self.schema_id = schema_id
        self.decoder = Decoder(source, **decoder_options)
        self.router = _Router(self.routes, framing == "confluent", schema_id)
        self.decoder.router = self.router

    def feed(self, data, bint final=False):
        _enter(self.busy, "Transcoder")
        self.busy = True
        try:
            return self.router.end(self.decoder.feed(data, final))
        finally:
            self.busy = False

    def feed_records(self, records, offsets=None):
        _enter(self.busy, "Transcoder")
        self.busy = True
        try:
            return self.router.end(self.decoder.feed_records(records, offsets))
        finally:
            self.busy = False

    def finish(self):
        return self.feed(b"", final=True)
