# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Python-visible face of the C CloudEvents header builder (cloudevents.pxd).

Same functions, results and errors as fastev._ref.cloudevents; codec.pyx and kproducer.pyx
use the same C directly. Every argument is checked here before C sees it.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t

from fastev._core.cloudevents cimport FE_CE_BAD_LAYOUT, FE_CE_BAD_TIME, FE_CE_NREASONS, FE_CE_OK, fe_ce_head, fe_ce_read_head, \
    fe_ce_reasons, fe_ce_rfc3339_us

import operator

_MIN_US = -62135596800000000  # 0001-01-01T00:00:00Z (FE_CE_MIN_US)
_MAX_US = 253402300799999999  # 9999-12-31T23:59:59.999999Z (FE_CE_MAX_US)
REASONS = tuple(fe_ce_reasons[i].decode() for i in range(FE_CE_NREASONS))


cdef object _error(int code):
    return ValueError(f"CloudEvents headers: {REASONS[code]}")


cdef int _read(bytes payload, Py_ssize_t start, bytes layout, Py_ssize_t nsrc, Py_ssize_t nkind,
               fe_ce_head *h) except -1:
    cdef size_t at = <size_t>start if start >= 0 else <size_t>-1  # negative: past any end
    if b"\0" in layout:  # C would stop reading the layout there
        raise _error(FE_CE_BAD_LAYOUT)
    cdef int code = fe_ce_read_head(<const unsigned char *>PyBytes_AS_STRING(payload), <size_t>PyBytes_GET_SIZE(payload),
                                    at, layout, nsrc, nkind, h)
    if code != FE_CE_OK:
        raise _error(code)
    return 0


def read_event_head(payload, Py_ssize_t start, str layout, Py_ssize_t nsrc, Py_ssize_t nkind) -> tuple:
    """(id, source ordinal, kind ordinal, time_us) of an encoded event; ``start`` skips framing."""
    cdef fe_ce_head h
    _read(bytes(payload), start, layout.encode(), nsrc, nkind, &h)
    return PyUnicode_DecodeUTF8(h.id, <Py_ssize_t>h.idlen, NULL), h.source, h.kind, h.time_us


def rfc3339_us(time_us) -> str:
    """UTC microseconds -> ``2026-02-11T08:14:05.310000Z``; ValueError outside years 0001-9999."""
    cdef char buf[28]
    cdef int n
    us = operator.index(time_us)  # TypeError for anything but an integer, as the reference
    if not _MIN_US <= us <= _MAX_US:  # also what does not fit in 64 bits
        raise _error(FE_CE_BAD_TIME)
    n = fe_ce_rfc3339_us(<int64_t>us, buf)
    if n < 0:
        raise _error(FE_CE_BAD_TIME)
    return buf[:n].decode("ascii")


cdef list _headers(bytes payload, path, tuple source_uris, tuple types, Py_ssize_t start, bytes layout,
                   list tail):
    cdef fe_ce_head h
    cdef char buf[28]
    _read(payload, start, layout, len(source_uris), len(types), &h)
    fe_ce_rfc3339_us(h.time_us, buf)  # in range: read_head checked it
    headers = [("ce_specversion", "1.0"), ("ce_id", PyUnicode_DecodeUTF8(h.id, <Py_ssize_t>h.idlen, NULL)),
               ("ce_source", source_uris[h.source]), ("ce_type", types[h.kind]),
               ("ce_time", buf[:27].decode("ascii"))]
    if path:
        headers.append(("ce_subject", path))
    headers.extend(tail)
    return headers


def message_headers(payload, path, source_uris, types, Py_ssize_t start, str layout, tail) -> list:
    """The CloudEvents headers of one message (ce_subject only for a non-empty path), then ``tail``."""
    return _headers(bytes(payload), path, tuple(source_uris), tuple(types), start, layout.encode(), list(tail))


def route_headers(payloads, paths, source_uris, types, Py_ssize_t start, str layout, tail) -> list:
    """``message_headers`` of every message; a bad one raises naming its index."""
    cdef tuple uris = tuple(source_uris), kinds = tuple(types)
    cdef bytes lay = layout.encode()
    cdef list rest = list(tail), out = []
    if len(payloads) != len(paths):
        raise ValueError(f"route_headers: {len(payloads)} payloads, {len(paths)} paths")
    for i in range(len(payloads)):
        try:
            out.append(_headers(bytes(payloads[i]), paths[i], uris, kinds, start, lay, rest))
        except ValueError as exc:
            raise ValueError(f"{exc} (message {i})") from None
    return out
