# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
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
from fastev.framing import SseFramer
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
include "codec_numbers.pxi"
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

_SSE_STARTS = (b"event:", b"data:", b"id:", b":", b"retry:")
cdef tuple REASONS = (
    "", "too-large", "invalid-utf8", "invalid-json", "too-deep", "not-an-object", "duplicate-key",
    "missing-field", "wrong-type", "out-of-range", "bad-time", "non-canonical-path",
    "unknown-subscription", "unknown-format",
)
cdef enum:
    SRC_AUTO = 5

cdef dict KIND_ORD = {k: i for i, k in enumerate(KINDS)}

# -- schemas (key tables) and the consistency checks against the reference ------------------

cdef Schema SCH_BILLING
cdef Schema SCH_AUDIT
cdef Schema SCH_WATCH
cdef Schema SCH_S3MSG
cdef Schema SCH_S3REC
cdef Schema SCH_INOTIFY
cdef Schema SCH_SYSTEM
cdef Schema SCH_DETECT

AUDIT_SLOTS = GPFS_COMMON + GPFS_AUDIT_ATTRS + ("oldPath", "bytesRead", "bytesWritten")
WATCH_SLOTS = GPFS_COMMON + GPFS_WATCH_ATTRS


def _require(bint ok, str what):
    """Import-time check that the C tables match the Python ones (an ImportError, kept under -O).
    That the slot tables name exactly the fields the reference reads is checked by the tests
    (tests/core/test_codec_hardening.py), so this module need not import the reference for it."""
    if not ok:
        raise ImportError(f"fastev._core.codec does not match the installed fastev sources ({what}); "
                          "rebuild the extension")


_require(SOURCES == ("DCACHE_BILLING", "DCACHE_INOTIFY", "GPFS_AUDIT", "GPFS_WATCH", "S3"), "source ordinals")
_require(KINDS.index("MOVED_OUT") == K_MOVED_OUT and KINDS.index("OTHER") == K_OTHER
         and KINDS.index("ACCESS_DENIED") == K_ACCESS_DENIED and KINDS.index("RENAME") == K_RENAME,
         "kind ordinals")
_require(len(BILLING_SLOTS) == B_N_SLOTS and BILLING_SLOTS[B_session] == "session"
         and BILLING_SLOTS[B_cached] == "cached" and BILLING_SLOTS[B_hsm_provider] == "hsm.provider"
         and BILLING_SLOTS[B_pi_port] == "protocolInfo.port" and BILLING_SLOTS[B_status_msg] == "status.msg"
         and BILLING_SLOTS[B_VERSION] == "VERSION", "billing slots")
_require(len(S3_REC_SLOTS) == E_N_SLOTS and S3_REC_SLOTS[E_sequencer] == "s3.object.sequencer"
         and S3_REC_SLOTS[E_sourceIPAddress] == "requestParameters.sourceIPAddress", "S3 record slots")
_require(INOTIFY_SLOTS[I_subscription] == "subscription" and INOTIFY_SLOTS[I_cookie] == "event.cookie",
         "inotify slots")
_require(len(AUDIT_SLOTS) <= MAX_SLOTS and len(WATCH_SLOTS) <= MAX_SLOTS and B_N_SLOTS <= MAX_SLOTS,
         "slot counts")

build_schema(&SCH_BILLING, BILLING_SLOTS)
build_schema(&SCH_AUDIT, AUDIT_SLOTS)
build_schema(&SCH_WATCH, WATCH_SLOTS)
build_schema(&SCH_S3MSG, S3_MSG_SLOTS)
build_schema(&SCH_S3REC, S3_REC_SLOTS)
build_schema(&SCH_INOTIFY, INOTIFY_SLOTS)
build_schema(&SCH_SYSTEM, SYSTEM_SLOTS)
build_schema(&SCH_DETECT, DETECT_SLOTS)

GA_N_ATTRS = len(GPFS_AUDIT_ATTRS)
GA_oldPath = AUDIT_SLOTS.index("oldPath")
GA_bytesRead = AUDIT_SLOTS.index("bytesRead")
GA_bytesWritten = AUDIT_SLOTS.index("bytesWritten")
GW_N_ATTRS = len(GPFS_WATCH_ATTRS)
GW_cookie = WATCH_SLOTS.index("cookie")
GW_mask = WATCH_SLOTS.index("mask")


cdef int _fill_keys(tuple names, const char** keys, Py_ssize_t* lens) except -1:
    cdef bytes kb
    for i, name in enumerate(names):
        kb = name.encode("utf-8")
        _KEY_BYTES.append(kb)
        keys[i] = PyBytes_AS_STRING(kb)
        lens[i] = len(kb)
    return 0


_fill_keys(BILLING_SLOTS, SLOT_KEY, SLOT_KEY_LEN)
_fill_keys(AUDIT_SLOTS, GPFS_AUDIT_KEY, GPFS_AUDIT_KEY_LEN)
_fill_keys(WATCH_SLOTS, GPFS_WATCH_KEY, GPFS_WATCH_KEY_LEN)

cdef tuple SLOT_NAMES = (BILLING_SLOTS, INOTIFY_SLOTS, AUDIT_SLOTS, WATCH_SLOTS, S3_MSG_SLOTS)


cdef inline const Schema* schema_of(int src) noexcept nogil:
    if src == S_DCACHE_BILLING:
        return &SCH_BILLING
    if src == S_GPFS_AUDIT:
        return &SCH_AUDIT
    if src == S_GPFS_WATCH:
        return &SCH_WATCH
    if src == S_S3:
        return &SCH_S3MSG
    return &SCH_DETECT


cdef int detect_source(const Scan* sc) noexcept nogil:
    """_ref.decoder.detect_source: a top-level name counts even with a null value."""
    if sc.slots[D_Records].type != J_ABSENT or sc.slots[D_EventName].type != J_ABSENT:
        return S_S3
    if sc.slots[D_LWE_JSON].type != J_ABSENT:
        return S_GPFS_AUDIT
    if sc.slots[D_WF_JSON].type != J_ABSENT:
        return S_GPFS_WATCH
    if sc.slots[D_msgType].type != J_ABSENT:
        return S_DCACHE_BILLING
    return -1


cdef object slot_name(tuple names, int i):
    """names[i], or None (the whole record) for an index outside the table: tuples are read
    unchecked in this module (boundscheck=False), so every slot index goes through here."""
    if 0 <= i < len(names):
        return names[i]
    return None


cdef inline Py_ssize_t skip_ws_at(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    while i < n and (s[i] == 0x20 or s[i] == 0x0A or s[i] == 0x0D or s[i] == 0x09):
        i += 1
    return i


# -- per-route output ------------------------------------------------------------------------

@cython.final
cdef class _RouteOut:
    """One route's output of one feed: payloads back to back, with end offsets, ids, paths."""
    cdef WriteBuffer data
    cdef WriteBuffer ends
    cdef WriteBuffer ids
    cdef WriteBuffer paths
    cdef WriteBuffer path_ends
    cdef Py_ssize_t count

    def __cinit__(self):
        self.data = WriteBuffer(0)
        self.ends = WriteBuffer(0)
        self.ids = WriteBuffer(0)
        self.paths = WriteBuffer(0)
        self.path_ends = WriteBuffer(0)
        self.count = 0

    cdef int add(self, const char* p, Py_ssize_t n, const char* ident, const char* path,
                 Py_ssize_t pn) except -1:
        if self.data.write_raw(p, n) < 0:
            raise MemoryError()
        return self.added(ident, path, pn)

    cdef int added(self, const char* ident, const char* path, Py_ssize_t pn) except -1:
        """Book-keeping for a payload just written at the end of ``data``."""
        cdef int64_t end
        if self.ids.write_raw(ident, 32) < 0:
            raise MemoryError()
        end = self.data.length()
        if self.ends.write_raw(<const char*>&end, 8) < 0 or self.paths.write_raw(path, pn) < 0:
            raise MemoryError()
        end = self.paths.length()
        if self.path_ends.write_raw(<const char*>&end, 8) < 0:
            raise MemoryError()
        self.count += 1
        return 0

    cdef void clear(self) noexcept:
        """Empty, keeping the memory: a reused batch writes into pages already mapped."""
        self.data.clear()
        self.ends.clear()
        self.ids.clear()
        self.paths.clear()
        self.path_ends.clear()
        self.count = 0

    cdef list payloads(self):
        cdef const int64_t* ends = <const int64_t*>self.ends.data()
        cdef const char* base = self.data.data()
        cdef Py_ssize_t i
        cdef int64_t start = 0
        cdef list out = []
        for i in range(self.count):
            out.append(PyBytes_FromStringAndSize(base + start, ends[i] - start))
            start = ends[i]
        return out

    cdef list id_list(self):
        cdef const char* base = self.ids.data()
        return [PyUnicode_DecodeUTF8(base + 32 * i, 32, NULL) for i in range(self.count)]

    cdef list path_list(self):
        cdef const int64_t* ends = <const int64_t*>self.path_ends.data()
        cdef const char* base = self.paths.data()
        cdef Py_ssize_t i
        cdef int64_t start = 0
        cdef list out = []
        for i in range(self.count):
            out.append(PyUnicode_DecodeUTF8(base + start, ends[i] - start, NULL))
            start = ends[i]
        return out


cdef class RouteBatch:
    """Per-route output of one feed (API of fastev._ref.transcoder.RouteBatch).

    Payloads are stored as one buffer per route; Python lists are built when asked.
    A batch is never written again once returned: when the caller drops it, its emptied
    buffers go back to the transcoder's pool (``_pool``) for a later feed's new batch."""
    cdef readonly tuple routes
    cdef dict _index
    cdef list _outs
    cdef list _pool              # the transcoder's spare buffers, or None
    cdef public list errors
    cdef public object stats

    def __init__(self, routes):
        self.routes = tuple(routes)
        self._index = {r: i for i, r in enumerate(self.routes)}
        self._outs = [_RouteOut() for _ in self.routes]
        self._pool = None
        self.errors = []
        self.stats = DecodeStats()

    def __dealloc__(self):
        # Nobody can read this batch any more: hand its buffers (emptied, memory kept) back, so
        # steady streaming writes into pages already mapped. Attributes may have been cleared
        # already when the batch died in a reference cycle; then there is nothing to hand back.
        cdef _RouteOut out
        if self._pool is None or self._outs is None or len(self._pool) >= POOL_SIZE:
            return
        for out in self._outs:
            out.clear()
        self._pool.append(self._outs)

    cdef _RouteOut _out(self, route):
        return <_RouteOut>self._outs[self._index[route]]

    def count(self, route):
        return self._out(route).count

    def payloads(self, route):
        """One Avro-encoded event (framed as configured) per message."""
        return self._out(route).payloads()

    def block(self, route):
        """The route's payloads concatenated: an OCF data block's content (framing 'avro')."""
        return self._out(route).data.getvalue()

    def blocks(self, route, Py_ssize_t max_events, Py_ssize_t max_bytes):
        """The route's payloads cut into (count, concatenated bytes) runs within both limits
        (each run holds at least one payload): OCF data blocks for messages of bounded size."""
        cdef _RouteOut out = self._out(route)
        cdef const int64_t* ends = <const int64_t*>out.ends.data()
        cdef const char* base = out.data.data()
        cdef Py_ssize_t i, count = 0
        cdef int64_t start = 0, run_start = 0, size
        cdef list runs = []
        if max_events < 1:
            raise ValueError("max_events: must be positive")
        for i in range(out.count):
            size = ends[i] - start
            if count and (count >= max_events or (start - run_start) + size > max_bytes):
                runs.append((count, PyBytes_FromStringAndSize(base + run_start, start - run_start)))
                run_start = start
                count = 0
            count += 1
            start = ends[i]
        if count:
            runs.append((count, PyBytes_FromStringAndSize(base + run_start, start - run_start)))
        return runs

    def ce_headers(self, route, tuple source_uris, tuple types, Py_ssize_t start, str layout, list tail):
        """CloudEvents binary-mode headers per payload: fastev._ref.cloudevents.route_headers, natively.

        Reads the payload's head per ``layout`` (after ``start`` framing bytes) with the shared C
        builder (cloudevents.pxd), which checks every length; a payload it cannot read raises the
        reference's ValueError naming the message."""
        cdef _RouteOut out = self._out(route)
        cdef const int64_t* ends = <const int64_t*>out.ends.data()
        cdef const int64_t* pends = <const int64_t*>out.path_ends.data()
        cdef const unsigned char* base = <const unsigned char*>out.data.data()
        cdef const char* pbase = out.paths.data()
        cdef bytes lay = layout.encode()
        cdef Py_ssize_t i
        cdef int64_t begin = 0, pbegin = 0
        cdef int code
        cdef fe_ce_head head
        cdef char tbuf[28]
        cdef list result = []
        cdef list h
        if b"\0" in lay:
            code = FE_CE_BAD_LAYOUT
            raise ValueError(f"CloudEvents headers: {fe_ce_reasons[code].decode()}")
        for i in range(out.count):
            # a negative start reads from past the end: "ends inside its leading fields"
            code = fe_ce_read_head(base + begin, <size_t>(ends[i] - begin),
                                   <size_t>start if start >= 0 else <size_t>-1, lay,
                                   len(source_uris), len(types), &head)
            if code != FE_CE_OK:
                raise ValueError(f"CloudEvents headers: {fe_ce_reasons[code].decode()} (message {i})")
            fe_ce_rfc3339_us(head.time_us, tbuf)
            h = [("ce_specversion", "1.0"), ("ce_id", PyUnicode_DecodeUTF8(head.id, <Py_ssize_t>head.idlen, NULL)),
                 ("ce_source", source_uris[head.source]), ("ce_type", types[head.kind]),
                 ("ce_time", PyUnicode_DecodeUTF8(tbuf, 27, NULL))]
            if pends[i] > pbegin:
                h.append(("ce_subject", PyUnicode_DecodeUTF8(pbase + pbegin, pends[i] - pbegin, NULL)))
            h.extend(tail)
            result.append(h)
            begin = ends[i]
            pbegin = pends[i]
        return result

    def ids(self, route):
        return self._out(route).id_list()

    def paths(self, route):
        return self._out(route).path_list()


cdef enum:
    POOL_SIZE = 2      # spare buffer sets kept per transcoder (one batch in use, one being read)


cdef RouteBatch new_route_batch(tuple routes, dict index, list pool):
    """A fresh batch object over spare buffers from ``pool`` when there are some."""
    cdef RouteBatch b = RouteBatch.__new__(RouteBatch)
    b.routes = routes
    b._index = index
    b._outs = pool.pop() if pool else [_RouteOut() for _ in routes]
    b._pool = pool
    b.errors = []
    b.stats = None
    return b


@cython.final
cdef class _RouteSink:
    """Routes decoded events (EventRec, or a pending-move dict) and encodes them once."""
    cdef tuple routes
    cdef list filters        # PrefixFilter or None per route
    cdef list views          # tuple of IdentityView per route
    cdef bint fallback       # a route holds non-native filters: ask route.takes() in Python
    cdef bint confluent
    cdef uint32_t schema_id
    cdef object schema_error
    cdef bint raise_schema
    cdef WriteBuffer enc
    cdef RouteBatch batch
    cdef Py_ssize_t hint     # bytes to reserve in a route buffer before its first payload
    cdef tuple names         # route names, and their index: shared by every batch
    cdef dict index
    cdef list pool           # buffers of batches the caller released (RouteBatch.__dealloc__)

    def __init__(self, routes, bint confluent, schema_id):
        self.routes = tuple(routes)
        self.filters = []
        self.views = []
        self.fallback = False
        for r in self.routes:
            f = r.filter
            if f is not None and not isinstance(f, PrefixFilter):
                self.fallback = True
            vs = tuple(r.views)
            for v in vs:
                if not isinstance(v, IdentityView):
                    self.fallback = True
            self.filters.append(f)
            self.views.append(vs)
        self.confluent = confluent
        self.schema_error = None
        self.schema_id = 0
        if confluent:
            # the reference raises from confluent_frame() when the first event is framed
            if not 0 <= schema_id <= INT32_MAX:
                self.schema_error = ValueError(f"schema_id: {schema_id} is outside 0..2**31-1")
            else:
                self.schema_id = <uint32_t>schema_id
        self.enc = WriteBuffer(1024)
        self.batch = None
        self.names = tuple(r.name for r in self.routes)
        self.index = {r: i for i, r in enumerate(self.names)}
        self.pool = []

    cdef int takes(self, Py_ssize_t r, const char* path, Py_ssize_t n, int kind, int source) except -1:
        cdef object f
        cdef IdentityView v
        if self.fallback:
            return bool(self.routes[r].takes(PyUnicode_DecodeUTF8(path, n, NULL), KINDS[kind], SOURCES[source]))
        f = self.filters[r]
        if f is not None and not (<PrefixFilter>f).match(path, n, kind, source):
            return False
        for v in self.views[r]:
            if not v.match(path, n, kind, source):
                return False
        return True

    cdef int route_rec(self, const EventRec* ev) except -1:
        """Encode once, straight into the first route that takes the event; copy to the others."""
        cdef Py_ssize_t r, start = 0, size = 0
        cdef int rc
        cdef _RouteOut out, first = None
        for r in range(len(self.routes)):
            if not self.takes(r, ev.path.ptr, ev.path.len, ev.kind, ev.source):
                continue
            out = <_RouteOut>self.batch._outs[r]
            if first is not None:
                out.add(first.data.data() + start, size, ev.id, ev.path.ptr, ev.path.len)
                continue
            if self.schema_error is not None:
                self.raise_schema = True
                return 0
            if out.data.length() == 0 and out.data.reserve(self.hint) < 0:
                raise MemoryError()
            start = out.data.length()
            if self.confluent and out.data.write_confluent_header(self.schema_id) < 0:
                raise MemoryError()
            rc = write_event_rec(out.data, ev)
            if rc < 0:
                out.data.rollback(start)
                if rc == WRITE_INVALID:
                    raise ValueError("EventRec: invalid value")
                raise_write_error(rc)
            size = out.data.length() - start
            out.added(ev.id, ev.path.ptr, ev.path.len)
            first = out
        return 0

    cdef int route_dict(self, dict d) except -1:
        cdef Py_ssize_t r
        cdef bytes payload = None
        cdef bytes path = (<str>d["path"]).encode("utf-8")
        cdef bytes ident = (<str>d["id"]).encode("ascii")
        cdef int kind = KIND_ORD[d["kind"]]
        cdef int source = SOURCES.index(d["source"])
        for r in range(len(self.routes)):
            if not self.takes(r, PyBytes_AS_STRING(path), len(path), kind, source):
                continue
            if payload is None:
                if self.schema_error is not None:
                    self.raise_schema = True
                    return 0
                payload = _encode_event_dict(d)
                if self.confluent:
                    payload = b"\x00" + int(self.schema_id).to_bytes(4, "big") + payload
            (<_RouteOut>self.batch._outs[r]).add(PyBytes_AS_STRING(payload), len(payload),
                                                  PyBytes_AS_STRING(ident), PyBytes_AS_STRING(path), len(path))
        return 0

    cdef begin(self, Py_ssize_t input_bytes):
        # Avro is smaller than the JSON it comes from: reserving the input size up front (capped)
        # spares the per-feed regrowth copies; untouched reserved pages cost no memory.
        self.hint = min(input_bytes, 8 << 20)
        # Always a new batch object (the caller may still hold the previous ones); its buffers
        # come from a released batch when there is one.
        self.batch = new_route_batch(self.names, self.index, self.pool)
        self.raise_schema = False

    cdef RouteBatch end(self, object batch):
        cdef RouteBatch out = self.batch
        self.batch = None
        if self.raise_schema:
            raise self.schema_error
        out.errors = batch.errors
        out.stats = batch.stats
        return out


# -- the decoder -------------------------------------------------------------------------------

@cython.final
cdef class Decoder:
    """Stateful decoder for one input stream (API of fastev._ref.decoder.Decoder)."""
    cdef readonly str source
    cdef readonly Py_ssize_t max_record_bytes
    cdef readonly object now_us
    cdef readonly dict watches
    cdef readonly Py_ssize_t pairing_window
    cdef readonly int64_t index
    cdef int src
    cdef dict pending            # cookie -> (index, event dict) of unpaired IN_MOVED_FROM
    cdef object stream_sse       # True / False / None (auto, undecided)
    cdef bytes undecided
    cdef object sse
    cdef WriteBuffer lpend       # LineFramer: the partial last line
    cdef int64_t buf_offset
    cdef int64_t line_no
    cdef bint discarding
    cdef Ctx* c
    cdef list events
    cdef list errors
    cdef int64_t n_records, n_decoded, n_skipped, n_rejected, n_loss
    cdef int64_t now
    cdef list hold               # Python bytes an EventRec points into (inotify)
    cdef _RouteSink sink
    cdef readonly str path_prefix   # prepended to emitted paths (docs/formats.md §6); "" for none
    cdef bytes prefix_utf8

    def __cinit__(self, *args, **kwargs):
        self.c = <Ctx*>calloc(1, sizeof(Ctx))
        if self.c == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.c != NULL:
            arena_free(&self.c.arena)
            free(self.c.groups)
            free(self.c)
            self.c = NULL

    def __init__(self, str source, *, inotify_watches=None, max_record_bytes=DEFAULT_MAX_RECORD_BYTES,
                 pairing_window=DEFAULT_PAIRING_WINDOW, now_us=None, path_prefix=""):
        check_decoder_options(source, SOURCE_NAMES, max_record_bytes, pairing_window)
        self.source = source
        self.path_prefix = check_path_prefix(path_prefix)
        self.prefix_utf8 = self.path_prefix.encode("utf-8")
        self.watches = load_watches(inotify_watches)
        self.max_record_bytes = max_record_bytes
        self.now_us = now_us
        self.pairing_window = pairing_window
        self.pending = {}
        self.index = 0
        self.src = SRC_AUTO if source == "auto" else DECODER_NAMES.index(source)
        self.stream_sse = True if source == "dcache-inotify" else (False if source != "auto" else None)
        self.undecided = b""
        self.sse = SseFramer(max_record_bytes)
        self.lpend = WriteBuffer(0)
        self.buf_offset = 0
        self.line_no = 1
        self.discarding = False
        self.sink = None

    # -- entry points ----------------------------------------------------------------------
    def feed(self, data, bint final=False):
        """A chunk of a byte stream (JSON lines, or SSE text for dcache-inotify)."""
        if not PyBytes_CheckExact(data):
            data = bytes(data)
        self._begin(PyBytes_GET_SIZE(data))
        if self.stream_sse is None:
            head = data.lstrip(b" \t\r\n")
            if not head and not final:
                self.undecided += data   # undecided: keep it
                return self._end()
            self.stream_sse = head.startswith(_SSE_STARTS)
            if self.undecided:
                data = self.undecided + data
                self.undecided = b""
        self.now = self._now()
        if self.stream_sse:
            for frame in self.sse.feed(data, final):
                self._frame(frame)
        else:
            self._feed_lines(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), final)
        if final:
            self._finish()
        return self._end()

    def feed_records(self, records, offsets=None):
        """Already-framed records (e.g. Kafka message values); one record per item."""
        cdef int64_t offset
        cdef Py_ssize_t n
        self._begin()
        self.now = self._now()
        offs = iter(offsets) if offsets is not None else None
        for raw in records:
            offset = next(offs) if offs is not None else -1
            if self.src == S_DCACHE_INOTIFY or (self.src == SRC_AUTO and raw.lstrip().startswith(_SSE_STARTS)):
                framer = SseFramer(self.max_record_bytes)
                for frame in framer.feed(raw, final=True):
                    frame.raw.offset = offset
                    frame.raw.line = 0
                    self._frame(frame)
                continue
            if not PyBytes_CheckExact(raw):
                raw = bytes(raw)
            n = PyBytes_GET_SIZE(raw)
            if n > self.max_record_bytes:
                self._json_record(<const unsigned char*>PyBytes_AS_STRING(raw), self.max_record_bytes,
                                  offset, 0, True)
            else:
                self._json_record(<const unsigned char*>PyBytes_AS_STRING(raw), n, offset, 0, False)
        return self._end()

    def finish(self):
        """End of input: flush a partial last record and unpaired moves."""
        return self.feed(b"", final=True)

    # -- per-feed output -------------------------------------------------------------------
    cdef _begin(self, Py_ssize_t input_bytes=0):
        self.events = []
        self.errors = []
        self.n_records = self.n_decoded = self.n_skipped = self.n_rejected = self.n_loss = 0
        if self.sink is not None:
            self.sink.begin(input_bytes)

    cdef object _end(self):
        out = Batch()
        out.events = self.events
        out.errors = self.errors
        st = out.stats
        st.records = self.n_records
        st.decoded = self.n_decoded
        st.skipped = self.n_skipped
        st.rejected = self.n_rejected
        st.loss = self.n_loss
        self.events = None
        self.errors = None
        return out

    cdef int64_t _now(self) except? -1:
        return self.now_us if self.now_us is not None else time.time_ns() // 1000

    cdef int _reject(self, object raw, int64_t index, int64_t offset, int64_t line, str source,
                     int reason, object field) except -1:
        self.errors.append(DecodeError(REASONS[reason], field, index=index, offset=offset, line=line,
                                       source=source, raw=raw))
        self.n_rejected += 1
        return 0

    cdef inline int _reject_c(self, const unsigned char* raw, Py_ssize_t n, int64_t index, int64_t offset,
                              int64_t line, str source, int reason, object field) except -1:
        return self._reject(PyBytes_FromStringAndSize(<const char*>raw, n), index, offset, line, source,
                            reason, field)

    # -- emission and rename pairing (_ref/inotify_flags.RenamePairer) -----------------------
    cdef int _emit_rec(self) except -1:
        # The prefixed paths live in these locals until the event is routed or copied to a dict.
        cdef bytes path = None
        cdef bytes old_path = None
        cdef EventRec* ev = &self.c.ev
        if self.prefix_utf8:  # at emission, as the reference: a RENAME's old path is still unprefixed here
            if ev.path.len > 0:
                path = self._prefixed(ev.path)
                ev.path = mkstr(PyBytes_AS_STRING(path), len(path))
            if ev.old_path.ptr != NULL and ev.old_path.len > 0:
                old_path = self._prefixed(ev.old_path)
                ev.old_path = mkstr(PyBytes_AS_STRING(old_path), len(old_path))
        if self.sink is None:
            self.events.append(event_rec_to_dict(ev))
        else:
            self.sink.route_rec(ev)
        self.n_decoded += 1
        return 0

    cdef bytes _prefixed(self, Str p):
        """prefix + canonical path ("/" alone becomes the prefix), as source_trust.prefixed_path."""
        if p.len == 1 and p.ptr[0] == b'/':
            return self.prefix_utf8
        return self.prefix_utf8 + PyBytes_FromStringAndSize(p.ptr, p.len)

    cdef int _emit_dict(self, dict d) except -1:
        if self.prefix_utf8:
            d["path"] = prefixed_path(self.path_prefix, d["path"])
            if d["old_path"] is not None:
                d["old_path"] = prefixed_path(self.path_prefix, d["old_path"])
        if self.sink is None:
            self.events.append(d)
        else:
            self.sink.route_dict(d)
        self.n_decoded += 1
        return 0

    cdef int _expire(self, int64_t index) except -1:
        cdef object cookie
        while self.pending:
            cookie = next(iter(self.pending))
            added, d = self.pending[cookie]
            if index - added <= self.pairing_window:
                break
            del self.pending[cookie]
            self._emit_dict(d)
        return 0

    cdef int _finish(self) except -1:
        pending = list(self.pending.values())
        self.pending.clear()
        for _, d in pending:
            self._emit_dict(d)
        return 0

    cdef int _pair_add(self, int64_t index) except -1:
        cdef Ctx* c = self.c
        cdef int pk = c.pseudo_kind
        cdef object ck, src
        cdef dict d
        cdef bytes old_path
        if pk == K_MOVED_FROM:
            c.ev.kind = K_MOVED_OUT
            if c.cookie.len <= 0:
                return self._emit_rec()
            ck = PyUnicode_DecodeUTF8(c.cookie.ptr, c.cookie.len, NULL)
            src = self.pending.pop(ck, None)
            if src is not None:
                self._emit_dict(src[1])
            self.pending[ck] = (index, event_rec_to_dict(&c.ev))
            return 0
        if pk == K_MOVED_TO:
            src = None
            if c.cookie.len > 0:
                ck = PyUnicode_DecodeUTF8(c.cookie.ptr, c.cookie.len, NULL)
                src = self.pending.pop(ck, None)
            if src is None:
                c.ev.kind = K_MOVED_IN
                return self._emit_rec()
            d = src[1]
            c.ev.kind = K_RENAME
            old_path = (<str>d["path"]).encode("utf-8")
            c.ev.old_path = mkstr(PyBytes_AS_STRING(old_path), len(old_path))
            c.ev.is_dir = c.ev.is_dir or bool(d["is_dir"])
            return self._emit_rec()
        return self._emit_rec()

    # -- JSON lines (_ref/framing.LineFramer, natively) ------------------------------------
    cdef int _line(self, const unsigned char* buf, Py_ssize_t start, Py_ssize_t end,
                   int64_t offset) except -1:
        cdef Py_ssize_t i
        if end > start and buf[end - 1] == 0x0D:
            end -= 1
        # size first: an oversize line is too-large whatever it holds (and wherever a chunk ends)
        if end - start > self.max_record_bytes:
            return self._json_record(buf + start, self.max_record_bytes, offset, self.line_no, True)
        for i in range(start, end):
            if buf[i] != 0x20 and buf[i] != 0x09 and buf[i] != 0x0D:
                break
        else:
            return 0   # blank: not a record
        return self._json_record(buf + start, end - start, offset, self.line_no, False)

    cdef int _feed_lines(self, const unsigned char* data, Py_ssize_t n, bint final) except -1:
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
                    self._json_record(<const unsigned char*>pend.data(), self.max_record_bytes,
                                      self.buf_offset, self.line_no, True)
                    self.discarding = True
                    self.buf_offset += pend.length()
                    pend.clear()
            else:
                nl = p - data
                if pend.write_raw(<const char*>data, nl) < 0:
                    raise MemoryError()
                self._line(<const unsigned char*>pend.data(), 0, pend.length(), self.buf_offset)
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
                    self._line(data, pos, nl, data_off + pos)
                self.line_no += 1
                pos = nl + 1
            self.buf_offset = data_off + pos
            rest = n - pos
            if self.discarding:
                self.buf_offset += rest
            elif rest > self.max_record_bytes + 1:
                self._json_record(data + pos, self.max_record_bytes, self.buf_offset, self.line_no, True)
                self.discarding = True
                self.buf_offset += rest
            elif rest > 0:
                if pend.write_raw(<const char*>(data + pos), rest) < 0:
                    raise MemoryError()
        if final:
            if pend.length() > 0 and not self.discarding:
                self._line(<const unsigned char*>pend.data(), 0, pend.length(), self.buf_offset)
            self.buf_offset += pend.length()
            pend.clear()
            self.discarding = False
        return 0

    # -- one JSON record (_ref Decoder._json_record) ---------------------------------------
    cdef int _open(self, const unsigned char* data, Py_ssize_t n, const Schema* sch) noexcept:
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

    cdef int _json_record(self, const unsigned char* data, Py_ssize_t n, int64_t offset, int64_t line,
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
        rc = self._open(data, n, schema_of(src))
        if rc:
            return self._reject_c(data, n, index, offset, line, self.source, rc, None)
        if src == SRC_AUTO:
            src = detect_source(&c.sc)
            if src < 0:
                return self._reject_c(data, n, index, offset, line, self.source, R_UNKNOWN_FORMAT, None)
            rescan_object(&c.sc, schema_of(src), skip_ws_at(data, n))
        if src == S_S3:
            return self._s3(data, n, index, offset, line)
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
            if self._not_an_event(rc):
                return 0
            return self._reject_c(data, n, index, offset, line, DECODER_NAMES[src], rc,
                                  slot_name(SLOT_NAMES[src], c.err_field))
        make_event_id(c.ev.id, src, data, n, 0)
        return self._pair_add(index)

    cdef int _not_an_event(self, int rc) except -1:
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

    cdef int _s3(self, const unsigned char* data, Py_ssize_t n, int64_t index, int64_t offset,
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
    cdef int _frame(self, object frame) except -1:
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
        rc = self._open(<const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload),
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
            if self._not_an_event(rc):
                return 0
            return self._reject(raw, index, offset, line, "dcache-inotify", rc,
                                slot_name(INOTIFY_SLOTS, c.err_field))
        make_event_id(c.ev.id, S_DCACHE_INOTIFY, <const unsigned char*>PyBytes_AS_STRING(raw),
                      PyBytes_GET_SIZE(raw), 0)
        self._pair_add(index)
        self.hold = None
        return 0

# -- the transcoder ----------------------------------------------------------------------------

cdef class Transcoder:
    """Feed raw batches; get per-route Avro payloads and the rejected records
    (API of fastev._ref.transcoder.Transcoder)."""
    cdef readonly tuple routes
    cdef readonly str framing
    cdef readonly object schema_id
    cdef readonly Decoder decoder
    cdef _RouteSink sink

    def __init__(self, str source, routes, *, framing="avro", schema_id=0, **decoder_options):
        check_transcoder_options(routes, framing, schema_id)
        self.routes = tuple(routes)
        self.framing = framing
        self.schema_id = schema_id
        self.decoder = Decoder(source, **decoder_options)
        self.sink = _RouteSink(self.routes, framing == "confluent", schema_id)
        self.decoder.sink = self.sink

    def feed(self, data, bint final=False):
        return self.sink.end(self.decoder.feed(data, final))

    def feed_records(self, records, offsets=None):
        return self.sink.end(self.decoder.feed_records(records, offsets))

    def finish(self):
        return self.sink.end(self.decoder.finish())
