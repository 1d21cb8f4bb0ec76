# Event ids (included by codec.pyx): MurmurHash3 x64 128 and the id rules of docs/formats.md §1.
# Separate: the hash and the id formats must match _ref/eventid.py bit for bit.

# -- MurmurHash3 x64 128 (public domain, Austin Appleby) ----------------------------------------

cdef inline uint64_t rotl64(uint64_t x, int r) noexcept nogil:
    return (x << r) | (x >> (64 - r))


cdef inline uint64_t fmix64(uint64_t k) noexcept nogil:
    k ^= k >> 33
    k *= 0xFF51AFD7ED558CCDULL
    k ^= k >> 33
    k *= 0xC4CEB9FE1A85EC53ULL
    k ^= k >> 33
    return k


cdef extern from *:
    """
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    #define FASTEV_LITTLE_ENDIAN 1
    #else
    #define FASTEV_LITTLE_ENDIAN 0
    #endif
    """
    const bint FASTEV_LITTLE_ENDIAN


cdef inline uint64_t le64(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Little-endian load of n <= 8 bytes, host independent."""
    cdef uint64_t v = 0
    cdef Py_ssize_t i
    if FASTEV_LITTLE_ENDIAN and n == 8:
        memcpy(&v, p, 8)
        return v
    for i in range(n - 1, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef void murmur3_128(const unsigned char* data, Py_ssize_t n, uint32_t seed,
                      uint64_t* out1, uint64_t* out2) noexcept nogil:
    cdef uint64_t h1 = seed
    cdef uint64_t h2 = seed
    cdef uint64_t c1 = 0x87C37B91114253D5ULL
    cdef uint64_t c2 = 0x4CF5AD432745937FULL
    cdef uint64_t k1, k2
    cdef Py_ssize_t nblocks = n // 16
    cdef Py_ssize_t i, t
    cdef const unsigned char* tail
    for i in range(nblocks):
        k1 = le64(data + 16 * i, 8)
        k2 = le64(data + 16 * i + 8, 8)
        k1 *= c1
        k1 = rotl64(k1, 31)
        k1 *= c2
        h1 ^= k1
        h1 = rotl64(h1, 27)
        h1 += h2
        h1 = h1 * 5 + 0x52DCE729
        k2 *= c2
        k2 = rotl64(k2, 33)
        k2 *= c1
        h2 ^= k2
        h2 = rotl64(h2, 31)
        h2 += h1
        h2 = h2 * 5 + 0x38495AB5
    tail = data + 16 * nblocks
    t = n - 16 * nblocks
    if t > 8:
        k2 = le64(tail + 8, t - 8)
        k2 *= c2
        k2 = rotl64(k2, 33)
        k2 *= c1
        h2 ^= k2
    if t > 0:
        k1 = le64(tail, t if t < 8 else 8)
        k1 *= c1
        k1 = rotl64(k1, 31)
        k1 *= c2
        h1 ^= k1
    h1 ^= <uint64_t>n
    h2 ^= <uint64_t>n
    h1 += h2
    h2 += h1
    h1 = fmix64(h1)
    h2 = fmix64(h2)
    h1 += h2
    h2 += h1
    out1[0] = h1
    out2[0] = h2


cdef const char* HEXDIGITS = b"0123456789abcdef"

# docs/formats.md §1 / _ref/eventid.py: id = hex(h1) + hex(h2) of MurmurHash3_x64_128 over the raw
# record, seed = source ordinal * 2**24 + index (low 32 bits used, as the reference).
cdef void make_event_id(char* out, int source, const unsigned char* raw, Py_ssize_t n,
                        Py_ssize_t index) noexcept nogil:
    cdef uint64_t h1, h2
    cdef int i
    cdef uint64_t seed = <uint64_t>source * (1 << 24) + <uint64_t>(index % (1 << 24))
    murmur3_128(raw, n, <uint32_t>(seed & 0xFFFFFFFFULL), &h1, &h2)
    for i in range(16):
        out[15 - i] = HEXDIGITS[h1 & 0xF]
        h1 >>= 4
        out[31 - i] = HEXDIGITS[h2 & 0xF]
        h2 >>= 4


# S3 record ids (_ref/eventid.py, docs/formats.md §1): the message is hashed once, seed
# ordinal * 2**24, into 16 bytes (h1 then h2, little-endian); Records[i]'s id is make_event_id over
# those 16 bytes with index i. Hashing the message per record would cost quadratic CPU.
cdef void message_digest(unsigned char* out, int source, const unsigned char* raw, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h1, h2
    cdef int i
    murmur3_128(raw, n, <uint32_t>((<uint64_t>source * (1 << 24)) & 0xFFFFFFFFULL), &h1, &h2)
    for i in range(8):
        out[i] = <unsigned char>(h1 & 0xFF)
        out[8 + i] = <unsigned char>(h2 & 0xFF)
        h1 >>= 8
        h2 >>= 8
