"""Deterministic event ids: MurmurHash3 x64 128 (public domain, Austin Appleby).

id = hex(h1) + hex(h2) (16 hex digits each, lowercase) of MurmurHash3_x64_128
over the exact raw record bytes, with seed = source ordinal * 2**24 + index of
the record inside its message. Same input, same id, on every run and machine,
so replays can be de-duplicated downstream. The native core computes the same
function in C; `mmh3` serves as an independent oracle in the tests.

S3 messages carry many records: hashing the whole message once per record would make
one message cost quadratic CPU. Their records hash the message once and then only its
16-byte digest (docs/formats.md §1):

    digest = h1 (8 bytes little-endian) + h2 (8 bytes little-endian)
             of MurmurHash3_x64_128(message, seed = source ordinal * 2**24)
    id of Records[i] = event_id(source ordinal, digest, i)
"""
from __future__ import annotations

_M64 = 0xFFFFFFFFFFFFFFFF
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
MAX_INDEX = 1 << 24


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    k ^= k >> 33
    return k


def murmur3_x64_128(data: bytes, seed: int) -> tuple[int, int]:
    n = len(data)
    h1 = h2 = seed & 0xFFFFFFFF
    nblocks = n // 16
    from_bytes = int.from_bytes
    for i in range(nblocks):
        k1 = from_bytes(data[16 * i:16 * i + 8], "little")
        k2 = from_bytes(data[16 * i + 8:16 * i + 16], "little")
        k1 = (k1 * _C1) & _M64
        k1 = _rotl(k1, 31)
        k1 = (k1 * _C2) & _M64
        h1 ^= k1
        h1 = _rotl(h1, 27)
        h1 = (h1 + h2) & _M64
        h1 = (h1 * 5 + 0x52DCE729) & _M64
        k2 = (k2 * _C2) & _M64
        k2 = _rotl(k2, 33)
        k2 = (k2 * _C1) & _M64
        h2 ^= k2
        h2 = _rotl(h2, 31)
        h2 = (h2 + h1) & _M64
        h2 = (h2 * 5 + 0x38495AB5) & _M64
    tail = data[16 * nblocks:]
    t = len(tail)
    if t > 8:
        k2 = from_bytes(tail[8:], "little")
        k2 = (k2 * _C2) & _M64
        k2 = _rotl(k2, 33)
        k2 = (k2 * _C1) & _M64
        h2 ^= k2
    if t > 0:
        k1 = from_bytes(tail[:8], "little")
        k1 = (k1 * _C1) & _M64
        k1 = _rotl(k1, 31)
        k1 = (k1 * _C2) & _M64
        h1 ^= k1
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    return h1, h2


def event_id(source_ordinal: int, raw: bytes, index: int = 0) -> str:
    h1, h2 = murmur3_x64_128(raw, source_ordinal * MAX_INDEX + (index % MAX_INDEX))
    return f"{h1:016x}{h2:016x}"


def message_digest(source_ordinal: int, raw: bytes) -> bytes:
    """The 16 bytes an S3 message's record ids are computed from (hashed once per message)."""
    h1, h2 = murmur3_x64_128(raw, source_ordinal * MAX_INDEX)
    return h1.to_bytes(8, "little") + h2.to_bytes(8, "little")
