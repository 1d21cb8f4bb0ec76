# Strict JSON scanner with per-source key tables (included by codec.pyx).
#
# Same acceptance and the same first error as _ref/jsonparse.py (RFC 8259; MAX_DEPTH 64;
# NaN/Infinity, lone surrogate escapes and raw control characters rejected). Instead of
# building values, an object scanned with a key table stores each known key's value span
# in a slot (type, start, end, has-escapes); unknown keys' values are validated and
# skipped. A slot already filled is a duplicate: the first one in text order is kept
# per object (the reference's JObj.dups), and the scan goes on so a later syntax error
# still wins. The last value of a repeated key is the one kept, as dict assignment does.
# Non-ASCII bytes only occur inside strings of valid JSON, so UTF-8 is validated inline
# there; on a JSON error the caller validates the whole record to pick the reason.

cdef enum:
    J_ABSENT = 0
    J_NULL = 1
    J_FALSE = 2
    J_TRUE = 3
    J_NUM = 4
    J_STR = 5
    J_OBJ = 6
    J_ARR = 7

cdef enum:
    SC_OK = 0
    SC_INVALID = 1
    SC_DEEP = 2
    SC_UTF8 = 3

cdef enum:
    MAX_DEPTH = 64
    TAB_SIZE = 128        # open addressing, power of two, load <= 0.4
    MAX_TABLES = 8
    MAX_SLOTS = 64
    MAX_OWN = 48
    KEY_MAX = 48          # longer decoded keys match no table


cdef struct Slot:
    int type
    int esc               # a string value with backslash escapes
    Py_ssize_t start      # string: after the opening quote; others: first byte
    Py_ssize_t end        # string: the closing quote; others: after the last byte


cdef struct KeyEntry:
    const char* key
    int len
    int slot              # -1: empty entry
    int child             # key table for an object value, or -1


cdef struct Table:
    KeyEntry e[TAB_SIZE]
    int own[MAX_OWN]
    int n_own
    int children[MAX_OWN]
    int n_children


cdef struct Schema:
    Table tables[MAX_TABLES]
    int n_tables
    int n_slots


cdef struct Scan:
    const unsigned char* s
    Py_ssize_t n
    Py_ssize_t i
    const Schema* sch
    Slot slots[MAX_SLOTS]
    Py_ssize_t dup_pos[MAX_TABLES]
    int dup_slot[MAX_TABLES]


cdef inline unsigned int key_hash(const unsigned char* k, Py_ssize_t n) noexcept nogil:
    cdef uint32_t h = (<uint32_t>n << 24) ^ (<uint32_t>k[0] << 16) ^ (<uint32_t>k[n - 1] << 8) ^ k[n >> 1]
    h *= 0x9E3779B1U
    return h >> 25        # 7 bits: TAB_SIZE 128


cdef inline bint key_eq(const unsigned char* a, const unsigned char* b, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        if load64(a + i) != load64(b + i):
            return False
        i += 8
    while i < n:
        if a[i] != b[i]:
            return False
        i += 1
    return True


cdef inline const KeyEntry* table_lookup(const Table* t, const unsigned char* k, Py_ssize_t n) noexcept nogil:
    cdef unsigned int idx
    cdef const KeyEntry* e
    if n <= 0 or n > KEY_MAX:
        return NULL
    idx = key_hash(k, n)
    while True:
        e = &t.e[idx]
        if e.slot < 0:
            return NULL
        if e.len == n and key_eq(<const unsigned char*>e.key, k, n):
            return e
        idx = (idx + 1) & (TAB_SIZE - 1)


cdef void reset_table(Scan* sc, int t) noexcept nogil:
    cdef const Table* tb = &sc.sch.tables[t]
    cdef int k
    for k in range(tb.n_own):
        sc.slots[tb.own[k]].type = J_ABSENT
    sc.dup_pos[t] = -1
    for k in range(tb.n_children):
        reset_table(sc, tb.children[k])


cdef int first_duplicate(const Scan* sc) noexcept nogil:
    """The slot of the first (in text order) repeated read key, or -1 (_ref check_duplicates).

    A table's dup state is reset whenever its object is replaced, so only the objects the
    reference descends into (the last value of each read object key) still hold one."""
    cdef int t
    cdef int best = -1
    cdef Py_ssize_t pos = -1
    for t in range(sc.sch.n_tables):
        if sc.dup_pos[t] >= 0 and (pos < 0 or sc.dup_pos[t] < pos):
            pos = sc.dup_pos[t]
            best = sc.dup_slot[t]
    return best


cdef inline void skip_ws(Scan* sc) noexcept nogil:
    cdef Py_ssize_t i = sc.i
    cdef unsigned char c
    while i < sc.n:
        c = sc.s[i]
        if c == 0x20 or c == 0x0A or c == 0x0D or c == 0x09:
            i += 1
        else:
            break
    sc.i = i


cdef extern from *:
    """
    /* Position of the first byte at or after i that is a quote, a backslash, < 0x20 or >= 0x80, scanning
       whole 16-byte blocks inside [0, n); returns its exact position, or the start of
       the tail shorter than a block. Reads never pass s + n. */
    #if defined(__SSE2__)
    #define FASTEV_HAVE_SSE2 1
    #include <emmintrin.h>
    static inline Py_ssize_t fastev_skip_plain(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) {
        const __m128i q = _mm_set1_epi8(0x22);
        const __m128i b = _mm_set1_epi8(0x5C);
        const __m128i lim = _mm_set1_epi8(0x20);
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i*)(s + i));
            /* signed v < 0x20: the control characters and every byte >= 0x80 */
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, b)),
                                     _mm_cmpgt_epi8(lim, v));
            int mask = _mm_movemask_epi8(m);
            if (mask) return i + __builtin_ctz((unsigned)mask);
            i += 16;
        }
        return i;
    }
    #else
    #define FASTEV_HAVE_SSE2 0
    static inline Py_ssize_t fastev_skip_plain(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) {
        (void)s; (void)n;
        return i;
    }
    #endif
    """
    Py_ssize_t fastev_skip_plain(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil
    const bint FASTEV_HAVE_SSE2


cdef inline bint word_special(uint64_t w) noexcept nogil:
    # a byte that is '"', '\\', < 0x20 or >= 0x80 somewhere in w (exact "has" tests)
    cdef uint64_t ones = 0x0101010101010101ULL
    cdef uint64_t q = w ^ 0x2222222222222222ULL
    cdef uint64_t b = w ^ 0x5C5C5C5C5C5C5C5CULL
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & 0x8080808080808080ULL != 0


cdef inline int hex4(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, unsigned int* cp) noexcept nogil:
    cdef unsigned int v = 0
    cdef Py_ssize_t j
    cdef unsigned char c
    if i + 4 > n:
        return 0
    for j in range(i, i + 4):
        c = s[j]
        if 48 <= c <= 57:
            v = v * 16 + (c - 48)
        elif 97 <= c <= 102:
            v = v * 16 + (c - 87)
        elif 65 <= c <= 70:
            v = v * 16 + (c - 55)
        else:
            return 0
    cp[0] = v
    return 1


cdef inline int scan_string(Scan* sc, int* esc) noexcept nogil:
    """sc.i: just after the opening quote. On success sc.i is at the closing quote."""
    cdef const unsigned char* s = sc.s
    cdef Py_ssize_t n = sc.n
    cdef Py_ssize_t i = sc.i
    cdef Py_ssize_t k
    cdef unsigned char c
    cdef unsigned int cp, lo
    esc[0] = 0
    while True:
        i = fastev_skip_plain(s, i, n)
        if i + 16 > n or not FASTEV_HAVE_SSE2:   # SIMD stops short of the last 16 bytes
            while i + 8 <= n and not word_special(load64(s + i)):
                i += 8
        if i >= n:
            return SC_INVALID     # unterminated
        c = s[i]
        if c == 0x22:
            sc.i = i
            return SC_OK
        if c == 0x5C:
            esc[0] = 1
            i += 1
            if i >= n:
                return SC_INVALID
            c = s[i]
            if c == b'u':
                if not hex4(s, i + 1, n, &cp):
                    return SC_INVALID
                i += 5
                if 0xD800 <= cp <= 0xDBFF:
                    # a high surrogate must be followed by an escaped low surrogate
                    if i + 1 >= n or s[i] != 0x5C or s[i + 1] != b'u':
                        return SC_INVALID
                    if not hex4(s, i + 2, n, &lo) or lo < 0xDC00 or lo > 0xDFFF:
                        return SC_INVALID
                    i += 6
                elif 0xDC00 <= cp <= 0xDFFF:
                    return SC_INVALID
            elif (c == 0x22 or c == 0x5C or c == b'/' or c == b'b' or c == b'f' or c == b'n'
                  or c == b'r' or c == b't'):
                i += 1
            else:
                return SC_INVALID
            continue
        if c < 0x20:
            return SC_INVALID     # raw control character
        if c >= 0x80:
            k = utf8_seq(s, i, n)
            if k == 0:
                return SC_UTF8
            i += k
            continue
        i += 1


cdef Py_ssize_t unescape(const unsigned char* s, Py_ssize_t start, Py_ssize_t end, char* out) noexcept nogil:
    """Decode a validated string body s[start:end] to UTF-8; the output is never longer."""
    cdef Py_ssize_t i = start
    cdef Py_ssize_t k = 0
    cdef unsigned char c
    cdef unsigned int cp, lo
    while i < end:
        c = s[i]
        if c != 0x5C:
            out[k] = <char>c
            k += 1
            i += 1
            continue
        c = s[i + 1]
        i += 2
        if c == b'u':
            hex4(s, i, end, &cp)
            i += 4
            if 0xD800 <= cp <= 0xDBFF:
                hex4(s, i + 2, end, &lo)
                i += 6
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            if cp < 0x80:
                out[k] = <char>cp
                k += 1
            elif cp < 0x800:
                out[k] = <char>(0xC0 | (cp >> 6))
                out[k + 1] = <char>(0x80 | (cp & 0x3F))
                k += 2
            elif cp < 0x10000:
                out[k] = <char>(0xE0 | (cp >> 12))
                out[k + 1] = <char>(0x80 | ((cp >> 6) & 0x3F))
                out[k + 2] = <char>(0x80 | (cp & 0x3F))
                k += 3
            else:
                out[k] = <char>(0xF0 | (cp >> 18))
                out[k + 1] = <char>(0x80 | ((cp >> 12) & 0x3F))
                out[k + 2] = <char>(0x80 | ((cp >> 6) & 0x3F))
                out[k + 3] = <char>(0x80 | (cp & 0x3F))
                k += 4
        elif c == b'b':
            out[k] = b'\x08'
            k += 1
        elif c == b'f':
            out[k] = b'\x0c'
            k += 1
        elif c == b'n':
            out[k] = b'\n'
            k += 1
        elif c == b'r':
            out[k] = b'\r'
            k += 1
        elif c == b't':
            out[k] = b'\t'
            k += 1
        else:                     # " \ /
            out[k] = <char>c
            k += 1
    return k


cdef int scan_number(Scan* sc) noexcept nogil:
    # -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?  (the reference's regex, greedy)
    cdef const unsigned char* s = sc.s
    cdef Py_ssize_t n = sc.n
    cdef Py_ssize_t i = sc.i
    cdef Py_ssize_t j
    if i < n and s[i] == b'-':
        i += 1
    if i >= n:
        return SC_INVALID
    if s[i] == b'0':
        i += 1
    elif 49 <= s[i] <= 57:
        i += 1
        while i < n and is_digit(s[i]):
            i += 1
    else:
        return SC_INVALID
    if i + 1 < n and s[i] == b'.' and is_digit(s[i + 1]):
        i += 2
        while i < n and is_digit(s[i]):
            i += 1
    if i < n and (s[i] == b'e' or s[i] == b'E'):
        j = i + 1
        if j < n and (s[j] == b'+' or s[j] == b'-'):
            j += 1
        if j < n and is_digit(s[j]):
            i = j + 1
            while i < n and is_digit(s[i]):
                i += 1
    sc.i = i
    return SC_OK




cdef int scan_value(Scan* sc, int depth, int child, Slot* out) noexcept nogil:
    """One value at sc.i; objects are scanned with key table ``child`` (-1: none)."""
    cdef const unsigned char* s = sc.s
    cdef Py_ssize_t n = sc.n
    cdef Py_ssize_t i = sc.i
    cdef int rc, esc
    cdef int typ
    cdef unsigned char c
    if i >= n:
        return SC_INVALID
    c = s[i]
    if c == 0x22:
        sc.i = i + 1
        rc = scan_string(sc, &esc)
        if rc:
            return rc
        if out != NULL:
            out.type = J_STR
            out.esc = esc
            out.start = i + 1
            out.end = sc.i
        sc.i += 1
        return SC_OK
    if c == b'{':
        if depth + 1 > MAX_DEPTH:
            return SC_DEEP
        sc.i = i + 1
        rc = scan_object(sc, depth + 1, child)
        typ = J_OBJ
    elif c == b'[':
        if depth + 1 > MAX_DEPTH:
            return SC_DEEP
        sc.i = i + 1
        rc = scan_array(sc, depth + 1)
        typ = J_ARR
    elif c == b't' and i + 4 <= n and memcmp(s + i, b"true", 4) == 0:
        sc.i = i + 4
        rc = SC_OK
        typ = J_TRUE
    elif c == b'f' and i + 5 <= n and memcmp(s + i, b"false", 5) == 0:
        sc.i = i + 5
        rc = SC_OK
        typ = J_FALSE
    elif c == b'n' and i + 4 <= n and memcmp(s + i, b"null", 4) == 0:
        sc.i = i + 4
        rc = SC_OK
        typ = J_NULL
    else:
        rc = scan_number(sc)
        typ = J_NUM
    if rc:
        return rc
    if out != NULL:
        out.type = typ
        out.esc = 0
        out.start = i
        out.end = sc.i
    return SC_OK


cdef inline Py_ssize_t plain_string_end(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """Fast path: the closing quote of a string starting at i (after its opening quote) when the
    string has no escape, control or non-ASCII byte; else -1 (the caller takes the general path).

    Every byte before the returned quote was checked by the SIMD scan, so a string accepted here
    is one scan_string accepts, with the same end."""
    cdef Py_ssize_t p
    if not FASTEV_HAVE_SSE2:
        return -1
    p = fastev_skip_plain(s, i, n)
    if p < n and s[p] == 0x22:
        return p
    return -1


cdef int scan_object(Scan* sc, int depth, int tab) noexcept nogil:
    cdef const unsigned char* s = sc.s
    cdef Py_ssize_t n = sc.n
    cdef Py_ssize_t key_pos, ks, ke, kn, ve
    cdef int rc, esc
    cdef const KeyEntry* e
    cdef Slot* slot
    cdef unsigned char kbuf[6 * KEY_MAX + 16]
    skip_ws(sc)
    if sc.i < n and s[sc.i] == b'}':
        sc.i += 1
        return SC_OK
    while True:
        if sc.i >= n or s[sc.i] != 0x22:
            return SC_INVALID
        key_pos = sc.i
        ks = key_pos + 1
        ke = plain_string_end(s, ks, n)
        if ke >= 0:
            esc = 0
            sc.i = ke
        else:
            sc.i = ks
            rc = scan_string(sc, &esc)
            if rc:
                return rc
            ke = sc.i
        sc.i += 1
        if sc.i < n and s[sc.i] == b':':
            sc.i += 1
        else:
            skip_ws(sc)
            if sc.i >= n or s[sc.i] != b':':
                return SC_INVALID
            sc.i += 1
        if sc.i < n and s[sc.i] > 0x20:
            pass
        else:
            skip_ws(sc)
        e = NULL
        if tab >= 0:
            if not esc:
                e = table_lookup(&sc.sch.tables[tab], s + ks, ke - ks)
            elif ke - ks <= 6 * KEY_MAX + 12:
                kn = unescape(s, ks, ke, <char*>kbuf)
                e = table_lookup(&sc.sch.tables[tab], kbuf, kn)
        slot = NULL
        if e != NULL:
            slot = &sc.slots[e.slot]
            if slot.type != J_ABSENT:
                if sc.dup_pos[tab] < 0:
                    sc.dup_pos[tab] = key_pos
                    sc.dup_slot[tab] = e.slot
                if e.child >= 0:
                    reset_table(sc, e.child)     # the earlier object value is replaced
        # fast path for the common value: a plain string
        ve = plain_string_end(s, sc.i + 1, n) if sc.i < n and s[sc.i] == 0x22 else -1
        if ve >= 0:
            if slot != NULL:
                slot.type = J_STR
                slot.esc = 0
                slot.start = sc.i + 1
                slot.end = ve
            sc.i = ve + 1
        else:
            rc = scan_value(sc, depth, e.child if e != NULL else -1, slot)
            if rc:
                return rc
        if sc.i < n and s[sc.i] == b',':
            sc.i += 1
            if sc.i >= n or s[sc.i] != 0x22:
                skip_ws(sc)
            continue
        skip_ws(sc)
        if sc.i < n and s[sc.i] == b',':
            sc.i += 1
            skip_ws(sc)
            continue
        if sc.i < n and s[sc.i] == b'}':
            sc.i += 1
            return SC_OK
        return SC_INVALID


cdef int scan_array(Scan* sc, int depth) noexcept nogil:
    cdef const unsigned char* s = sc.s
    cdef int rc
    cdef Py_ssize_t ve
    skip_ws(sc)
    if sc.i < sc.n and s[sc.i] == b']':
        sc.i += 1
        return SC_OK
    while True:
        ve = plain_string_end(s, sc.i + 1, sc.n) if sc.i < sc.n and s[sc.i] == 0x22 else -1
        if ve >= 0:
            sc.i = ve + 1                        # a plain string element (fast path)
        else:
            rc = scan_value(sc, depth, -1, NULL)
            if rc:
                return rc
        skip_ws(sc)
        if sc.i < sc.n and s[sc.i] == b',':
            sc.i += 1
            skip_ws(sc)
            continue
        if sc.i < sc.n and s[sc.i] == b']':
            sc.i += 1
            return SC_OK
        return SC_INVALID


cdef int scan_document(Scan* sc, const Schema* sch, const unsigned char* data, Py_ssize_t n,
                       Slot* top) noexcept nogil:
    """Scan one JSON text with schema ``sch`` (table 0 for a top-level object)."""
    cdef int rc
    sc.s = data
    sc.n = n
    sc.i = 0
    sc.sch = sch
    reset_table(sc, 0)
    top.type = J_ABSENT
    skip_ws(sc)
    rc = scan_value(sc, 0, 0, top)
    if rc:
        return rc
    skip_ws(sc)
    if sc.i != n:
        return SC_INVALID
    return SC_OK


cdef int rescan_object(Scan* sc, const Schema* sch, Py_ssize_t start) noexcept nogil:
    """Scan an already validated object at ``start`` again with another schema."""
    cdef Slot top
    sc.sch = sch
    sc.i = start
    reset_table(sc, 0)
    return scan_value(sc, 0, 0, &top)


cdef inline int array_next(Scan* sc, Py_ssize_t* pos, Slot* item) noexcept nogil:
    """Iterate a validated array: *pos starts after '['; 1 = item filled, 0 = end."""
    cdef int rc
    sc.i = pos[0]
    skip_ws(sc)
    if sc.i >= sc.n or sc.s[sc.i] == b']':
        return 0
    rc = scan_value(sc, 0, -1, item)
    if rc:
        return 0
    skip_ws(sc)
    if sc.i < sc.n and sc.s[sc.i] == b',':
        sc.i += 1
    pos[0] = sc.i
    return 1


# -- schema construction (at import, with the GIL) -------------------------------------------------

cdef list _KEY_BYTES = []       # keeps the key bytes of every table alive


cdef int _table_init(Table* t) except -1:
    cdef int k
    for k in range(TAB_SIZE):
        t.e[k].key = NULL
        t.e[k].len = 0
        t.e[k].slot = -1
        t.e[k].child = -1
    t.n_own = 0
    t.n_children = 0
    return 0


cdef int build_schema(Schema* sch, tuple names) except -1:
    """Slots = dotted read-field names in order; "a.b" lives in the key table of slot "a"."""
    cdef dict table_of_slot = {}      # slot name -> child table id
    cdef dict entry_of_slot = {}      # slot name -> (table id, entry index)
    cdef int t, idx, slot
    cdef bytes kb
    cdef const unsigned char* kp
    cdef KeyEntry* e
    if len(names) > MAX_SLOTS:
        raise ValueError("too many slots")
    sch.n_tables = 1
    sch.n_slots = len(names)
    _table_init(&sch.tables[0])
    table_of_slot[""] = 0
    for slot, name in enumerate(names):
        parent, _, key = name.rpartition(".")
        if parent not in table_of_slot:
            if sch.n_tables >= MAX_TABLES:
                raise ValueError("too many key tables")
            t = sch.n_tables
            sch.n_tables += 1
            _table_init(&sch.tables[t])
            table_of_slot[parent] = t
            pt, pe = entry_of_slot[parent]
            sch.tables[pt].e[pe].child = t
            sch.tables[pt].children[sch.tables[pt].n_children] = t
            sch.tables[pt].n_children += 1
        t = table_of_slot[parent]
        kb = key.encode("utf-8")
        if len(kb) > KEY_MAX or sch.tables[t].n_own >= MAX_OWN:
            raise ValueError(f"key table limits exceeded by {name!r}")
        _KEY_BYTES.append(kb)
        kp = kb
        idx = key_hash(kp, len(kb))
        while sch.tables[t].e[idx].slot >= 0:
            idx = (idx + 1) & (TAB_SIZE - 1)
        e = &sch.tables[t].e[idx]
        e.key = <const char*>kp
        e.len = len(kb)
        e.slot = slot
        e.child = -1
        entry_of_slot[name] = (t, idx)
        sch.tables[t].own[sch.tables[t].n_own] = slot
        sch.tables[t].n_own += 1
    return 0
