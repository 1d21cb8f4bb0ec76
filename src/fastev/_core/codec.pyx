# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native codec core: raw records -> validated events -> routes -> Avro, in C.

The contract is the pure-Python reference (fastev._ref.decoder, .transcoder and the
modules they use): for every input the output here is identical, errors included.
Per record on the success path nothing but C runs: the JSON-lines framer finds lines
in the fed chunk, the scanner fills per-source key slots (json_scan.pxi), the source
decoders fill an EventRec from them (codec_sources.pxi), and the Transcoder routes it
through the native ACL tries and Avro-encodes it once into per-route buffers.

Python objects are used where volume is low or the case is rare, each noted below:
errors (DecodeError), the SSE framer of dCache storage events (the reference
SseFramer; frames are decoded natively), inotify watch lookup, and pending
IN_MOVED_FROM events of the rename pairer (kept as event dicts; moves are rare).
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_REFCNT
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, int32_t, int64_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.stdio cimport snprintf
from libc.string cimport memchr, memcmp, memcpy, memmove, strlen

from fastev._core.acl cimport IdentityView, PrefixFilter
from fastev._core.avro cimport WriteBuffer, event_rec_to_dict, raise_write_error, write_event_rec, WRITE_INVALID
from fastev._core.event cimport Attr, EventRec, Str

import time

from fastev._core.avro import encode_event as _encode_event_dict
from fastev._ref.decoder import DEFAULT_MAX_RECORD_BYTES, SOURCE_NAMES, Batch, DecodeStats
from fastev._ref.framing import SseFramer
from fastev._ref.inotify_flags import DEFAULT_PAIRING_WINDOW
from fastev._ref.inotify_sse import load_watches, watched_dir
from fastev._ref.transcoder import FRAMINGS
from fastev.errors import ConfigError, DecodeError
from fastev.event import DECODER_NAMES, KINDS, SOURCES

include "codec_util.pxi"
include "json_scan.pxi"
include "codec_fields.pxi"
include "codec_sources.pxi"

__all__ = ("Decoder", "RouteBatch", "Transcoder", "event_id", "murmur3_x64_128")

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

from fastev._ref import billing as _rb, gpfs as _rg, s3 as _rs, inotify_sse as _ri


def _tree_names(tree, prefix=""):
    out = set()
    for k, sub in tree.items():
        name = f"{prefix}.{k}" if prefix else k
        out.add(name)
        if sub is not None:
            out |= _tree_names(sub, name)
    return out


AUDIT_SLOTS = GPFS_COMMON + _rg.AUDIT_ATTRS + ("oldPath", "bytesRead", "bytesWritten")
WATCH_SLOTS = GPFS_COMMON + _rg.WATCH_ATTRS

assert SOURCES == ("DCACHE_BILLING", "DCACHE_INOTIFY", "GPFS_AUDIT", "GPFS_WATCH", "S3")
assert KINDS.index("MOVED_OUT") == K_MOVED_OUT and KINDS.index("OTHER") == K_OTHER
assert KINDS.index("ACCESS_DENIED") == K_ACCESS_DENIED and KINDS.index("RENAME") == K_RENAME
assert set(BILLING_SLOTS) == _tree_names(_rb.READ_FIELDS) and len(BILLING_SLOTS) == B_N_SLOTS
assert BILLING_SLOTS[B_session:B_cached + 1] == _rb.ATTR_KEYS
assert BILLING_SLOTS[B_hsm_provider] == "hsm.provider" and BILLING_SLOTS[B_pi_port] == "protocolInfo.port"
assert BILLING_SLOTS[B_status_msg] == "status.msg" and BILLING_SLOTS[B_VERSION] == "VERSION"
assert set(AUDIT_SLOTS) == _tree_names(_rg.AUDIT_READ) and set(WATCH_SLOTS) == _tree_names(_rg.WATCH_READ)
assert set(S3_REC_SLOTS) == _tree_names(_rs.RECORD_READ) and len(S3_REC_SLOTS) == E_N_SLOTS
assert S3_REC_SLOTS[E_sequencer] == "s3.object.sequencer" and S3_REC_SLOTS[E_sourceIPAddress].endswith("IPAddress")
assert set(S3_MSG_SLOTS) == _tree_names(_rs.MESSAGE_READ)
assert set(INOTIFY_SLOTS) == _tree_names(_ri.DATA_READ) and set(SYSTEM_SLOTS) == _tree_names(_ri.SYSTEM_READ)
assert INOTIFY_SLOTS[I_subscription] == "subscription" and INOTIFY_SLOTS[I_cookie] == "event.cookie"

build_schema(&SCH_BILLING, BILLING_SLOTS)
build_schema(&SCH_AUDIT, AUDIT_SLOTS)
build_schema(&SCH_WATCH, WATCH_SLOTS)
build_schema(&SCH_S3MSG, S3_MSG_SLOTS)
build_schema(&SCH_S3REC, S3_REC_SLOTS)
build_schema(&SCH_INOTIFY, INOTIFY_SLOTS)
build_schema(&SCH_SYSTEM, SYSTEM_SLOTS)
build_schema(&SCH_DETECT, DETECT_SLOTS)

GA_N_ATTRS = len(_rg.AUDIT_ATTRS)
GA_oldPath = AUDIT_SLOTS.index("oldPath")
GA_bytesRead = AUDIT_SLOTS.index("bytesRead")
GA_bytesWritten = AUDIT_SLOTS.index("bytesWritten")
GW_N_ATTRS = len(_rg.WATCH_ATTRS)
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


cdef inline Py_ssize_t skip_ws_at(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    while i < n and (s[i] == 0x20 or s[i] == 0x0A or s[i] == 0x0D or s[i] == 0x09):
        i += 1
    return i


# -- test helpers ------------------------------------------------------------------------------

def murmur3_x64_128(data, seed):
    """(h1, h2) of MurmurHash3_x64_128 (low 32 bits of seed, as the reference)."""
    cdef const unsigned char[::1] view = bytes(data)
    cdef uint64_t h1, h2
    cdef Py_ssize_t n = view.shape[0]
    cdef const unsigned char* p = <const unsigned char*>b""
    if n:
        p = &view[0]
    murmur3_128(p, n, <uint32_t>(seed & 0xFFFFFFFF), &h1, &h2)
    return h1, h2


def event_id(int source_ordinal, raw, index=0):
    h1, h2 = murmur3_x64_128(raw, source_ordinal * (1 << 24) + (index % (1 << 24)))
    return f"{h1:016x}{h2:016x}"


# -- CloudEvents header helpers (read the first Avro fields of an encoded event) ---------------

_SPECVERSION = ("ce_specversion", "1.0")


cdef inline int64_t read_zigzag(const unsigned char* b, int64_t* pos, int64_t end) noexcept:
    """One Avro long (zig-zag varint) at pos; payloads come from our own encoder, bounds kept anyway."""
    cdef uint64_t v = 0
    cdef int shift = 0
    cdef unsigned char c
    while pos[0] < end and shift < 64:
        c = b[pos[0]]
        pos[0] += 1
        v |= <uint64_t>(c & 0x7F) << shift
        if c < 0x80:
            break
        shift += 7
    return <int64_t>(v >> 1) ^ -(<int64_t>(v & 1))


cdef void fmt_rfc3339_us(int64_t time_us, char* out) noexcept:
    """UTC microseconds -> 2026-02-11T08:14:05.310000Z (as fastev.kafka.sink.rfc3339_us)."""
    # floor division (this module is compiled with C division, which truncates)
    cdef int64_t seconds = time_us // 1000000 - (1 if time_us % 1000000 < 0 else 0)
    cdef int64_t micros = time_us - seconds * 1000000
    cdef int64_t days = seconds // 86400 - (1 if seconds % 86400 < 0 else 0)
    cdef int64_t sod = seconds - days * 86400
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t y = yoe + era * 400
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t d = doy - (153 * mp + 2) // 5 + 1
    cdef int64_t m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    snprintf(out, 64, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", <long long>y, <long long>m,
             <long long>d, <long long>(sod // 3600), <long long>((sod // 60) % 60), <long long>(sod % 60),
             <long long>micros)


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

    Payloads are stored as one buffer per route; Python lists are built when asked."""
    cdef readonly tuple routes
    cdef dict _index
    cdef list _outs
    cdef public list errors
    cdef public object stats

    def __init__(self, routes):
        self.routes = tuple(routes)
        self._index = {r: i for i, r in enumerate(self.routes)}
        self._outs = [_RouteOut() for _ in self.routes]
        self.errors = []
        self.stats = DecodeStats()

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

    def ce_headers(self, route, tuple source_uris, tuple types, Py_ssize_t start, list tail):
        """CloudEvents binary-mode headers per payload (fastev.kafka.sink.CloudEventHeaders, natively).

        Reads id, source, kind and time_us from each payload's first Avro fields (after ``start``
        framing bytes) and the path from the route's paths; ``tail`` is appended to every list."""
        cdef _RouteOut out = self._out(route)
        cdef const int64_t* ends = <const int64_t*>out.ends.data()
        cdef const int64_t* pends = <const int64_t*>out.path_ends.data()
        cdef const unsigned char* base = <const unsigned char*>out.data.data()
        cdef const char* pbase = out.paths.data()
        cdef Py_ssize_t i
        cdef int64_t pos, end, begin = 0, pbegin = 0, n, source, kind, time_us
        cdef char tbuf[64]
        cdef list result = []
        cdef list h
        for i in range(out.count):
            pos = begin + start
            end = ends[i]
            n = read_zigzag(base, &pos, end)
            ident = PyUnicode_DecodeUTF8(<const char*>base + pos, n, NULL)
            pos += n
            source = read_zigzag(base, &pos, end)
            kind = read_zigzag(base, &pos, end)
            n = read_zigzag(base, &pos, end)
            pos += n
            time_us = read_zigzag(base, &pos, end)
            fmt_rfc3339_us(time_us, tbuf)
            h = [_SPECVERSION, ("ce_id", ident), ("ce_source", source_uris[source]),
                 ("ce_type", types[kind]), ("ce_time", PyUnicode_DecodeUTF8(tbuf, strlen(tbuf), NULL))]
            if pends[i] > pbegin:
                h.append(("ce_subject", PyUnicode_DecodeUTF8(pbase + pbegin, pends[i] - pbegin, NULL)))
            h.extend(tail)
            result.append(h)
            begin = end
            pbegin = pends[i]
        return result

    def ids(self, route):
        return self._out(route).id_list()

    def paths(self, route):
        return self._out(route).path_list()


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
    cdef RouteBatch last     # the batch returned by the previous feed (reused when released)

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

    cdef int takes(self, Py_ssize_t r, const char* path, Py_ssize_t n, int kind) except -1:
        cdef object f
        cdef IdentityView v
        if self.fallback:
            return bool(self.routes[r].takes(PyUnicode_DecodeUTF8(path, n, NULL), KINDS[kind]))
        f = self.filters[r]
        if f is not None and not (<PrefixFilter>f).match(path, n, kind):
            return False
        for v in self.views[r]:
            if not v.match(path, n, kind):
                return False
        return True

    cdef int route_rec(self, const EventRec* ev) except -1:
        """Encode once, straight into the first route that takes the event; copy to the others."""
        cdef Py_ssize_t r, start = 0, size = 0
        cdef int rc
        cdef _RouteOut out, first = None
        for r in range(len(self.routes)):
            if not self.takes(r, ev.path.ptr, ev.path.len, ev.kind):
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
        for r in range(len(self.routes)):
            if not self.takes(r, PyBytes_AS_STRING(path), len(path), kind):
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
        cdef _RouteOut out
        # Avro is smaller than the JSON it comes from: reserving the input size up front (capped)
        # spares the per-feed regrowth copies; untouched reserved pages cost no memory.
        self.hint = min(input_bytes, 8 << 20)
        # Reuse the previous feed's batch when nobody else holds it any more (refcount: ours
        # only): its buffers keep their mapped pages, so steady streaming stops page-faulting.
        if self.last is not None and Py_REFCNT(self.last) <= 2:  # ours + the temporary for the call
            self.batch = self.last
            for out in self.batch._outs:
                out.clear()
            self.batch.errors = []
            self.batch.stats = None
        else:
            self.batch = RouteBatch([r.name for r in self.routes])
        self.last = self.batch
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
    cdef object hold             # Python bytes an EventRec points into (inotify)
    cdef _RouteSink sink

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
                 pairing_window=DEFAULT_PAIRING_WINDOW, now_us=None):
        if source not in SOURCE_NAMES:
            raise ConfigError(f"source: unknown decoder {source!r}; choose one of {', '.join(SOURCE_NAMES)}")
        if max_record_bytes < 1:
            raise ConfigError("max_record_bytes must be positive")
        self.source = source
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
        if self.sink is None:
            self.events.append(event_rec_to_dict(&self.c.ev))
        else:
            self.sink.route_rec(&self.c.ev)
        self.n_decoded += 1
        return 0

    cdef int _emit_dict(self, dict d) except -1:
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
                                  SLOT_NAMES[src][dup])
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
                                  SLOT_NAMES[src][c.err_field])
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
        """One S3 message: each Records[i] is one event (not paired), id index i."""
        cdef Ctx* c = self.c
        cdef Slot records, item
        cdef Py_ssize_t pos, i = 0
        cdef int rc
        if first_duplicate(&c.sc) >= 0:
            return self._reject_c(data, n, index, offset, line, "s3", R_DUPLICATE, "Records")
        records = c.sc.slots[M_Records]
        if slot_absent(&records):
            self.n_skipped += 1   # e.g. s3:TestEvent: no object event inside
            return 0
        if records.type != J_ARR:
            return self._reject_c(data, n, index, offset, line, "s3", R_WRONG_TYPE, "Records")
        pos = records.start + 1
        while array_next(&c.sc, &pos, &item):
            if item.type != J_OBJ:
                self._reject_c(data, n, index, offset, line, "s3", R_NOT_AN_OBJECT, f"Records[{i}]")
                i += 1
                continue
            rescan_object(&c.sc, &SCH_S3REC, item.start)
            rc = first_duplicate(&c.sc)
            if rc >= 0:
                self._reject_c(data, n, index, offset, line, "s3", R_DUPLICATE,
                               f"Records[{i}].{S3_REC_SLOTS[rc]}")
                i += 1
                continue
            arena_reset(&c.arena)
            event_init(c, S_S3)
            rc = decode_s3_record(c)
            if rc == R_NOMEM:
                raise MemoryError()
            if rc:
                self._reject_c(data, n, index, offset, line, "s3", rc,
                               f"Records[{i}].{S3_REC_SLOTS[c.err_field]}")
                i += 1
                continue
            make_event_id(c.ev.id, S_S3, data, n, i)
            self._emit_rec()
            i += 1
        if i == 0:
            self.n_skipped += 1
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
        rc = self._decode_inotify(frame.id if frame.id else None)
        if rc:
            self.hold = None
            if self._not_an_event(rc):
                return 0
            return self._reject(raw, index, offset, line, "dcache-inotify", rc, INOTIFY_SLOTS[c.err_field])
        make_event_id(c.ev.id, S_DCACHE_INOTIFY, <const unsigned char*>PyBytes_AS_STRING(raw),
                      PyBytes_GET_SIZE(raw), 0)
        self._pair_add(index)
        self.hold = None
        return 0

    cdef int _decode_inotify(self, object sse_id) except -1:
        """_ref/inotify_sse.decode_inotify; returns a reason code (R_OK: c.ev filled)."""
        cdef Ctx* c = self.c
        cdef EventRec* ev = &c.ev
        cdef const Slot* sl
        cdef Slot item
        cdef Py_ssize_t pos, total, k
        cdef int rc, n_flags, i, kind
        cdef bint present, is_dir
        cdef Str* flags
        cdef Str sub, name, cookie, seg
        cdef char* buf
        cdef bytes dir_b
        rc = get_obj(c, I_event, &present)
        if rc:
            return rc
        if not present:
            c.err_field = I_event
            return R_MISSING
        sl = &c.sc.slots[I_mask]
        if slot_absent(sl):
            c.err_field = I_mask
            return R_MISSING
        if sl.type != J_ARR:
            c.err_field = I_mask
            return R_WRONG_TYPE
        n_flags = 0
        pos = sl.start + 1
        while array_next(&c.sc, &pos, &item):
            if item.type != J_STR:
                c.err_field = I_mask
                return R_WRONG_TYPE
            n_flags += 1
        buf = arena_alloc(&c.arena, (n_flags + 1) * <Py_ssize_t>sizeof(Str) + 16)
        if buf == NULL:
            return R_NOMEM
        flags = <Str*>((<uintptr_t>buf + 15) & ~(<uintptr_t>15))
        pos = sl.start + 1
        i = 0
        total = 0
        while array_next(&c.sc, &pos, &item):
            rc = slot_text(c, &item, &flags[i])
            if rc:
                return rc
            total += flags[i].len + 1
            i += 1
        rc = classify_flags(flags, n_flags, &kind, &is_dir)
        if rc:
            return rc
        if kind < 0:
            return R_SKIP
        rc = get_text(c, I_subscription, True, &sub)
        if rc:
            return rc
        sub_str = PyUnicode_DecodeUTF8(sub.ptr, sub.len, NULL)
        directory = watched_dir(self.watches, sub_str)
        if directory is None:
            c.err_field = I_subscription
            return R_UNKNOWN_SUB
        dir_b = (<str>directory).encode("utf-8")
        self.hold = (dir_b, sse_id)
        rc = get_text(c, I_name, False, &name)
        if rc:
            return rc
        if name.len < 0:
            ev.path = mkstr(PyBytes_AS_STRING(dir_b), len(dir_b))
        elif memchr(name.ptr, b'/', <size_t>name.len) != NULL:
            c.err_field = I_name   # a child name, never a path
            return R_NON_CANONICAL
        else:
            buf = concat3(c, mkstr(PyBytes_AS_STRING(dir_b), len(dir_b)), b"/", 1, name, &k)
            if buf == NULL:
                return R_NOMEM
            rc = get_path(c, mkstr(buf, k), I_name, &ev.path)
            if rc:
                return rc
        rc = get_scalar(c, I_cookie, &cookie)
        if rc:
            return rc
        # raw_type = "|".join(mask)
        buf = arena_alloc(&c.arena, total)
        if buf == NULL:
            return R_NOMEM
        k = 0
        for i in range(n_flags):
            if i:
                buf[k] = b'|'
                k += 1
            memcpy(buf + k, flags[i].ptr, <size_t>flags[i].len)
            k += flags[i].len
        ev.raw_type = mkstr(buf, k)
        ev.time_us = self.now
        ev.is_dir = is_dir
        ev.kind = K_OTHER if kind >= 100 else kind
        c.pseudo_kind = kind
        c.cookie = cookie
        if sse_id is not None:
            add_attr(c, b"sse_id", 6, mkstr(PyBytes_AS_STRING(sse_id), PyBytes_GET_SIZE(sse_id)))
        add_attr(c, b"cookie", 6, cookie)
        # subscription.rstrip("/").rsplit("/", 1)[-1]
        seg = sub
        while seg.len > 0 and seg.ptr[seg.len - 1] == b'/':
            seg.len -= 1
        k = seg.len
        while k > 0 and seg.ptr[k - 1] != b'/':
            k -= 1
        add_attr(c, b"subscription", 12, mkstr(seg.ptr + k, seg.len - k))
        return R_OK


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
        if framing not in FRAMINGS:
            raise ConfigError(f"framing: {framing!r} is not one of {FRAMINGS}")
        if framing == "confluent" and not (isinstance(schema_id, int) and 0 <= schema_id <= INT32_MAX):
            raise ConfigError(f"schema_id: {schema_id!r} is outside 0..2**31-1")
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ConfigError("routes: names must be unique")
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
