# The one C builder of CloudEvents binary-mode Kafka headers (cloudevents/spec
# kafka-protocol-binding.md 3.2), shared by codec.pyx (RouteBatch.ce_headers, codec_route_batch.pxi),
# kproducer.pyx (headers written while producing, kproducer_produce.pxi) and cloudevents.pyx (its
# Python-visible face). The C below is compiled into each module that cimports this file;
# fastev._ref.cloudevents is its oracle.
#
# It reads the head of an encoded org.fastev.v1.StorageEvent without decoding the event. Which
# fields come first is not hard-coded: the caller passes a *layout* derived from the schema in
# one place (fastev.kafka.cloudevents.HEAD_LAYOUT), one letter per leading field:
#   i = id (string)   s = source (enum)   k = kind (enum)   t = time_us (long)
#   S = a string/bytes field to skip      V = an int/long/enum field to skip
# Every length is checked against the payload; nothing is read past ``len``.
from libc.stdint cimport int64_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    #include <string.h>

    enum { FE_CE_OK, FE_CE_TRUNCATED, FE_CE_LONG_VARINT, FE_CE_BAD_LENGTH, FE_CE_BAD_ID,
           FE_CE_BAD_SOURCE, FE_CE_BAD_KIND, FE_CE_BAD_TIME, FE_CE_BAD_LAYOUT, FE_CE_NREASONS };
    /* The reasons, by code; fastev._ref.cloudevents.REASONS holds the same texts. */
    static const char *const fe_ce_reasons[FE_CE_NREASONS] __attribute__((unused)) = {
        "ok",
        "the payload ends inside its leading fields",
        "an Avro long is longer than 10 bytes",
        "a string length is negative or runs past the payload",
        "ce_id is empty or not UTF-8",
        "the source ordinal is out of range",
        "the kind ordinal is out of range",
        "time_us is outside years 0001-9999",
        "the header layout is invalid",
    };
    /* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in microseconds: RFC 3339 years. */
    #define FE_CE_MIN_US (-62135596800000000LL)
    #define FE_CE_MAX_US (253402300799999999LL)

    typedef struct { const char *id; size_t idlen; int64_t source, kind, time_us; } fe_ce_head;

    /* One Avro long (zig-zag varint, at most 10 bytes, wrapping to 64 bits). */
    static int fe_ce_varint(const unsigned char *b, size_t *pos, size_t end, int64_t *out) {
        uint64_t v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (*pos >= end) return FE_CE_TRUNCATED;
            unsigned char c = b[(*pos)++];
            if (shift < 64) v |= (uint64_t)(c & 0x7F) << shift;
            if (c < 0x80) { *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1); return FE_CE_OK; }
        }
        return FE_CE_LONG_VARINT;
    }

    /* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as Python decodes. */
    static int fe_ce_utf8_ok(const unsigned char *s, size_t n) {
        size_t i = 0;
        while (i < n) {
            unsigned char c = s[i];
            size_t k; uint32_t cp, min;
            if (c < 0x80) { i++; continue; }
            if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; min = 0x80; }
            else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; min = 0x800; }
            else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; min = 0x10000; }
            else return 0;
            if (k > n - i - 1) return 0;
            for (size_t j = 1; j <= k; j++) {
                if ((s[i + j] & 0xC0) != 0x80) return 0;
                cp = (cp << 6) | (s[i + j] & 0x3F);
            }
            if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
            i += k + 1;
        }
        return 1;
    }

    /* The head of b[start:len] per ``layout``; FE_CE_OK or the first problem's code. */
    static int fe_ce_read_head(const unsigned char *b, size_t len, size_t start, const char *layout,
                               int64_t nsrc, int64_t nkind, fe_ce_head *h) {
        size_t pos = start;
        int64_t v;
        int r, seen = 0;
        h->id = ""; h->idlen = 0; h->source = h->kind = h->time_us = 0;  /* defined on every path */
        if (layout == NULL) return FE_CE_BAD_LAYOUT;
        for (const char *f = layout; *f; f++) {  /* each of i s k t exactly once, nothing unknown */
            static const char roles[] = "iskt";
            const char *at = strchr(roles, *f);
            if (*f == 'S' || *f == 'V') continue;
            if (at == NULL || seen & (1 << (at - roles))) return FE_CE_BAD_LAYOUT;
            seen |= 1 << (at - roles);
        }
        if (seen != 15) return FE_CE_BAD_LAYOUT;
        if (b == NULL || start > len) return FE_CE_TRUNCATED;
        for (const char *f = layout; *f; f++) {
            if ((r = fe_ce_varint(b, &pos, len, &v)) != FE_CE_OK) return r;
            switch (*f) {
            case 'i': case 'S':
                if (v < 0 || (uint64_t)v > len - pos) return FE_CE_BAD_LENGTH;
                if (*f == 'i') {
                    if (v == 0 || !fe_ce_utf8_ok(b + pos, (size_t)v)) return FE_CE_BAD_ID;
                    h->id = (const char *)b + pos;
                    h->idlen = (size_t)v;
                }
                pos += (size_t)v;
                break;
            case 's': if (v < 0 || v >= nsrc) return FE_CE_BAD_SOURCE; h->source = v; break;
            case 'k': if (v < 0 || v >= nkind) return FE_CE_BAD_KIND; h->kind = v; break;
            case 't': if (v < FE_CE_MIN_US || v > FE_CE_MAX_US) return FE_CE_BAD_TIME; h->time_us = v; break;
            case 'V': break;
            default: return FE_CE_BAD_LAYOUT;
            }
        }
        return FE_CE_OK;
    }

    /* UTC microseconds -> "2026-02-11T08:14:05.310000Z" (27 chars + NUL) in out[28]; the length,
       or -1 outside years 0001-9999 (RFC 3339 has no other years). Hinnant's civil_from_days
       with floor division; in range every day count is >= -719162, so z >= 306 > 0. */
    static int fe_ce_rfc3339_us(int64_t time_us, char *out) {
        if (time_us < FE_CE_MIN_US || time_us > FE_CE_MAX_US) return -1;
        int64_t seconds = time_us / 1000000 - (time_us % 1000000 < 0);
        int64_t micros = time_us - seconds * 1000000;
        int64_t days = seconds / 86400 - (seconds % 86400 < 0);
        int64_t sod = seconds - days * 86400;
        int64_t z = days + 719468;
        int64_t era = z / 146097;
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int64_t d = doy - (153 * mp + 2) / 5 + 1;
        int64_t m = mp < 10 ? mp + 3 : mp - 9;
        int64_t y = yoe + era * 400 + (m <= 2);
        /* by hand: snprintf costs more than the rest of a header */
        int64_t f[7] = {y, m, d, sod / 3600, (sod / 60) % 60, sod % 60, micros};
        static const int width[7] = {4, 2, 2, 2, 2, 2, 6};
        static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
        char *o = out;
        for (int k = 0; k < 7; k++) {
            int64_t x = f[k];
            for (int w = width[k] - 1; w >= 0; w--) { o[w] = (char)('0' + x % 10); x /= 10; }
            o += width[k];
            *o++ = sep[k];
        }
        *o = 0;
        return (int)(o - out);
    }
    """
    enum:
        FE_CE_OK
        FE_CE_NREASONS
        FE_CE_BAD_TIME
        FE_CE_BAD_LAYOUT
    const char *const fe_ce_reasons[]
    ctypedef struct fe_ce_head:
        const char *id
        size_t idlen
        int64_t source, kind, time_us
    int fe_ce_read_head(const unsigned char *b, size_t len, size_t start, const char *layout,
                        int64_t nsrc, int64_t nkind, fe_ce_head *h) noexcept nogil
    int fe_ce_rfc3339_us(int64_t time_us, char *out) noexcept nogil
