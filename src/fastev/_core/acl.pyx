# Cython directives (release speed settings, debug checks) are set in setup.py only.
"""Native path-prefix ACL trie: the compiled structure and the lookup.

Rule parsing and the rule tables come from fastev.acl_rules (shared with the
reference, fastev._ref.acl); this module compiles them into flat C tries (one
per source slot when some rule names sources, docs/formats.md §6):
an array of nodes whose children are contiguous and sorted bytewise, so a
child is found by binary search over component bytes (UTF-8, compared as they
are: docs/formats.md §2 forbids Unicode normalisation). The lookup touches no
Python object and needs no GIL; its cost grows with the path depth and the
log of the fan-out, never with the number of rules.
"""
cimport cython
from array import array

from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy

from fastev import acl_rules as _rules
from fastev.event import DECODER_NAMES, KINDS, SOURCES
from fastev.paths import path_components

cdef Py_ssize_t N_KINDS = len(KINDS)
cdef Py_ssize_t PRINCIPAL_CACHE_SIZE = 4096
# Raised, not asserted: python -O must not drop checks that C memory layout relies on.
if array("i").itemsize != sizeof(int32_t):
    raise ImportError("fastev._core.acl: array('i') is not int32")
if _rules.N_SOURCE_SLOTS != N_SOURCE_SLOTS or _rules.UNKNOWN_SOURCE_SLOT != UNKNOWN_SOURCE_SLOT:
    raise ImportError("fastev._core.acl: source slots differ from fastev.acl_rules")
# Source symbol or decoder name -> slot: a dict hit, no Python call, on the per-event path.
cdef dict SOURCE_SLOTS = {**{s: i for i, s in enumerate(SOURCES)}, **{d: i for i, d in enumerate(DECODER_NAMES)}}

# Shifting a 64-bit mask by 64 or more is undefined behaviour in C.
cdef enum:
    MAX_KINDS = 64


# ---------------------------------------------------------------- lookup (nogil)

cdef Py_ssize_t find_child(const FlatTrie* trie, const TrieNode* node,
                           const char* key, Py_ssize_t n) noexcept nogil:
    """Index of the child of ``node`` whose key is ``key[:n]``, or -1."""
    cdef Py_ssize_t lo = node.first_child
    cdef Py_ssize_t hi = node.first_child + node.n_children
    cdef Py_ssize_t mid
    cdef const TrieNode* child
    cdef int order
    while lo < hi:
        mid = lo + (hi - lo) // 2
        child = &trie.nodes[mid]
        # memcmp orders as unsigned bytes, as Python sorts bytes at build time.
        order = memcmp(trie.keys + child.key_start, key, child.key_len if child.key_len < n else n)
        if order == 0:
            order = (child.key_len > n) - (child.key_len < n)
        if order == 0:
            return mid
        if order < 0:
            lo = mid + 1
        else:
            hi = mid
    return -1


cdef Py_ssize_t deepest_node(const FlatTrie* trie, const char* path, Py_ssize_t n) noexcept nogil:
    """Index of the deepest trie node on ``path``'s walk; -1 if ``path`` is neither ``""`` nor absolute.

    ``path`` is canonical UTF-8. Length 0 is the no-file path, which only the
    root (rules on ``/``) covers. An empty component from a non-canonical
    caller matches no child (no key is empty), so it cannot widen a match.
    """
    cdef Py_ssize_t node = 0
    cdef Py_ssize_t start = 1
    cdef Py_ssize_t end
    cdef Py_ssize_t child
    cdef const char* slash
    if trie.nodes == NULL or n < 0:
        return -1
    if n == 0:
        return 0
    if path[0] != b'/':
        return -1
    while start < n:
        slash = <const char*>memchr(path + start, b'/', <size_t>(n - start))
        end = (slash - path) if slash != NULL else n
        child = find_child(trie, &trie.nodes[node], path + start, end - start)
        if child < 0:
            break
        node = child
        start = end + 1
    return node


cdef inline bint mask_match(const FlatTrie* trie, const char* path, Py_ssize_t n, int kind) noexcept nogil:
    cdef Py_ssize_t node
    if kind < 0 or kind >= MAX_KINDS:
        return False
    node = deepest_node(trie, path, n)
    return node >= 0 and (trie.nodes[node].mask >> kind) & 1


cdef inline void add_grants(const FlatTrie* trie, const TrieNode* node,
                            const int32_t* principals, Py_ssize_t n_principals,
                            uint64_t* allow, uint64_t* deny) noexcept nogil:
    """OR in the masks this node grants to any of ``principals``."""
    cdef Py_ssize_t i, lo, hi, mid
    cdef const Grant* grant
    for i in range(n_principals):
        lo = node.first_grant
        hi = node.first_grant + node.n_grants
        while lo < hi:
            mid = lo + (hi - lo) // 2
            grant = &trie.grants[mid]
            if grant.principal == principals[i]:
                allow[0] |= grant.allow
                deny[0] |= grant.deny
                break
            if grant.principal < principals[i]:
                lo = mid + 1
            else:
                hi = mid


# ---------------------------------------------------------------- build (with the GIL)

cdef class _Node:
    """A node of the temporary Python tree the flat trie is compiled from."""
    cdef dict children
    cdef uint64_t allow, deny, mask
    cdef list grants
    cdef Py_ssize_t first_child

    def __cinit__(self):
        self.children = {}
        self.grants = []


cdef void free_trie(FlatTrie* trie) noexcept nogil:
    free(trie.nodes)
    free(trie.keys)
    free(trie.grants)
    trie.nodes = NULL
    trie.keys = NULL
    trie.grants = NULL
    trie.n_nodes = 0


cdef int build_trie(FlatTrie* out, dict masks, dict grants) except -1:
    """Compile ``{canonical path: (allow, deny)}`` and ``{canonical path: {principal id: (allow, deny)}}``.

    Node masks fold in every ancestor's allow and deny (``mask = allow & ~deny``
    accumulated from the root), so a mask lookup answers from the deepest node.
    """
    cdef _Node root = _Node()
    cdef _Node node, child
    cdef Py_ssize_t i, g, key_start
    for path in set(masks) | set(grants):
        node = root
        for part in path_components(path):
            key = part.encode("utf-8")
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = _Node()
            node = child
        node.allow, node.deny = masks.get(path, (0, 0))
        node.grants = sorted(grants.get(path, {}).items())
    # Breadth-first order keeps each node's children contiguous and sorted.
    order = [root]
    keys = [b""]
    root.mask = root.allow & ~root.deny
    i = 0
    while i < len(order):
        node = order[i]
        node.first_child = len(order)
        for key in sorted(node.children):
            child = node.children[key]
            child.allow |= node.allow
            child.deny |= node.deny
            child.mask = child.allow & ~child.deny
            order.append(child)
            keys.append(key)
        i += 1
    arena = b"".join(keys)
    n_grants = sum(len((<_Node>n).grants) for n in order)

    free_trie(out)
    out.nodes = <TrieNode*>malloc(len(order) * sizeof(TrieNode))
    out.keys = <char*>malloc(len(arena) + 1)
    out.grants = <Grant*>malloc((n_grants + 1) * sizeof(Grant))
    if out.nodes == NULL or out.keys == NULL or out.grants == NULL:
        free_trie(out)
        raise MemoryError()
    memcpy(out.keys, <const char*>arena, len(arena))
    out.n_nodes = len(order)
    key_start = 0
    g = 0
    for i in range(len(order)):
        node = order[i]
        out.nodes[i].first_child = node.first_child
        out.nodes[i].n_children = len(node.children)
        out.nodes[i].key_start = key_start
        out.nodes[i].key_len = len(keys[i])
        out.nodes[i].mask = node.mask
        out.nodes[i].first_grant = g
        out.nodes[i].n_grants = len(node.grants)
        key_start += len(keys[i])
        for principal, (allow, deny) in node.grants:
            out.grants[g].principal = principal
            out.grants[g].allow = allow
            out.grants[g].deny = deny
            g += 1
    return 0


cdef bint is_canonical(const char* path, Py_ssize_t n) noexcept nogil:
    """True iff canonical_path() would return ``path`` unchanged (docs/formats.md §2)."""
    cdef Py_ssize_t i
    cdef Py_ssize_t start = 1
    if n <= 0 or path[0] != b'/':
        return False
    if n == 1:
        return True
    if path[n - 1] == b'/':
        return False
    for i in range(1, n + 1):
        if i == n or path[i] == b'/':
            if i == start:  # empty component: "//"
                return False
            if path[start] == b'.' and (i - start == 1 or (i - start == 2 and path[start + 1] == b'.')):
                return False
            start = i + 1
        elif path[i] == 0:
            return False
    return True


def is_canonical_utf8(bytes path) -> bool:
    """The C canonical-form check, exposed for tests."""
    return is_canonical(path, len(path))


cdef bytes canonical_key(str path):
    """UTF-8 of the canonical event path (b"" for ""), or None if the path is refused (docs/formats.md §2).

    Most event paths are canonical already: a C check accepts those and
    only the rest go through the reference canonical_path().
    """
    cdef bytes data
    try:
        data = path.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: invalid UTF-8, refused
        return None
    if len(data) == 0 or is_canonical(data, len(data)):
        return data
    key = _rules.event_path_key(path)
    return None if key is None else key.encode("utf-8")


cdef int kind_ordinal(kind) except -1:
    if type(kind) is int and 0 <= kind < N_KINDS:
        return kind
    return _rules.kind_ordinal(kind)


cdef int source_slot(source) except -1:
    """acl_rules.source_slot, with a dict hit for the common spellings."""
    if source is None:
        return UNKNOWN_SOURCE_SLOT
    slot = SOURCE_SLOTS.get(source) if type(source) is str else None
    if slot is not None:
        return slot
    return _rules.source_slot(source)  # ints, or the ValueError naming the bad value


cdef inline int slot_of(int source) noexcept nogil:
    return source if 0 <= source < N_SOURCE_SLOTS else UNKNOWN_SOURCE_SLOT


cdef Py_ssize_t build_slot_tries(FlatTrie* tries, Py_ssize_t* slot_trie, list tables) except -1:
    """Compile one trie per distinct table (``tables[slot]``: (masks, grants)); returns their number."""
    cdef Py_ssize_t slot, n = 0
    seen = {}
    if all(t is tables[0] for t in tables):  # no rule names sources: one trie, nothing to compare
        masks, grants = tables[0]
        build_trie(&tries[0], masks, grants)
        for slot in range(N_SOURCE_SLOTS):
            slot_trie[slot] = 0
        return 1
    try:
        for slot in range(N_SOURCE_SLOTS):
            masks, grants = tables[slot]
            key = (tuple(sorted(masks.items())),
                   tuple(sorted((p, tuple(sorted(g.items()))) for p, g in grants.items())))
            index = seen.get(key)
            if index is None:
                build_trie(&tries[n], masks, grants)
                index = seen[key] = n
                n += 1
            slot_trie[slot] = index
    except BaseException:
        free_tries(tries, n)  # the failed build freed its own trie
        raise
    return n


cdef void free_tries(FlatTrie* tries, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        free_trie(&tries[i])


# ---------------------------------------------------------------- public classes

@cython.final
cdef class IdentityView:
    """The rules pre-filtered to one identity: a lookup is one walk checking one kind mask per node."""

    def __cinit__(self):
        self.n_tries = 0

    def __init__(self, rules, identity):
        rules = tuple(rules)
        principals = identity.principals()
        free_tries(self.tries, self.n_tries)
        self.n_tries = 0
        if _rules.rules_name_sources(rules):
            tables = [(_rules.mask_table(rules, principals, slot), {}) for slot in range(N_SOURCE_SLOTS)]
        else:
            tables = [(_rules.mask_table(rules, principals), {})] * N_SOURCE_SLOTS  # one object, one trie
        self.n_tries = build_slot_tries(self.tries, self.slot_trie, tables)
        self.identity = identity

    def __dealloc__(self):
        free_tries(self.tries, self.n_tries)

    cdef bint match(self, const char* path, Py_ssize_t n, int kind, int source) noexcept nogil:
        if self.n_tries == 0:
            return False
        return mask_match(&self.tries[self.slot_trie[slot_of(source)]], path, n, kind)

    def allows(self, str path, kind, source=None) -> bool:
        cdef int ordinal = kind_ordinal(kind)
        cdef int slot = source_slot(source)
        cdef bytes key = canonical_key(path)
        return key is not None and self.match(key, len(key), ordinal, slot)

    def match_canonical(self, bytes path, int kind, int source=UNKNOWN_SOURCE_SLOT) -> bool:
        """The C entry point as the transcoder calls it: canonical UTF-8, kind and source ordinals."""
        return self.match(path, len(path), kind, source)


@cython.final
cdef class PrefixFilter:
    """A route's plain filter: component-prefix paths, kinds and sources (each none: all), no principals."""

    def __init__(self, paths=(), kinds=(), sources=()):
        cdef uint32_t mask
        build_trie(&self.trie, _rules.prefix_filter_table(paths, kinds), {})
        mask = _rules.prefix_filter_sources(sources)
        # Events without a source pass only a filter that names no sources.
        self.slots = mask | (<uint32_t>1 << UNKNOWN_SOURCE_SLOT) if mask == _rules.ALL_SOURCES else mask

    def __dealloc__(self):
        free_trie(&self.trie)

    cdef bint match(self, const char* path, Py_ssize_t n, int kind, int source) noexcept nogil:
        if not (self.slots >> slot_of(source)) & 1:
            return False
        return mask_match(&self.trie, path, n, kind)

    # Not ``match``: that name is the nogil C entry point.
    def matches(self, str path, kind, source=None) -> bool:
        cdef int ordinal = kind_ordinal(kind)
        cdef int slot = source_slot(source)
        cdef bytes key = canonical_key(path)
        return key is not None and self.match(key, len(key), ordinal, slot)

    def match_canonical(self, bytes path, int kind, int source=UNKNOWN_SOURCE_SLOT) -> bool:
        return self.match(path, len(path), kind, source)


cdef class PathTrie:
    """Every rule in one trie per source slot; each node holds per-principal masks sorted by principal id."""

    def __cinit__(self):
        self.n_tries = 0

    def __init__(self, rules):
        self.rules = _rules.checked_rules(rules)
        if _rules.rules_name_sources(self.rules):
            slot_tables = [_rules.grant_table(self.rules, slot) for slot in range(N_SOURCE_SLOTS)]
        else:
            slot_tables = [_rules.grant_table(self.rules)] * N_SOURCE_SLOTS
        ids = {}
        for table in slot_tables:
            for grants in table.values():
                for principal in grants:
                    ids.setdefault(principal, len(ids))
        self.principal_ids = ids
        self.principal_cache = {}
        free_tries(self.tries, self.n_tries)
        self.n_tries = 0
        compiled = {}  # id(table) -> its (masks, grants): equal objects stay one object, one trie
        for table in slot_tables:
            if id(table) not in compiled:
                compiled[id(table)] = ({}, {path: {ids[p]: masks for p, masks in grants.items()}
                                            for path, grants in table.items()})
        self.n_tries = build_slot_tries(self.tries, self.slot_trie, [compiled[id(t)] for t in slot_tables])

    def __dealloc__(self):
        free_tries(self.tries, self.n_tries)

    cdef bint match_ids(self, const char* path, Py_ssize_t n, int kind, int source,
                        const int32_t* principals, Py_ssize_t n_principals) noexcept nogil:
        """``principals`` are ids from ``principal_ids``; same walk as deepest_node, OR-ing grants."""
        cdef uint64_t allow = 0
        cdef uint64_t deny = 0
        cdef Py_ssize_t node = 0
        cdef Py_ssize_t start = 1
        cdef Py_ssize_t end
        cdef const char* slash
        cdef const FlatTrie* trie
        if self.n_tries == 0:
            return False
        trie = &self.tries[self.slot_trie[slot_of(source)]]
        if kind < 0 or kind >= MAX_KINDS or trie.nodes == NULL or n < 0:
            return False
        if n > 0 and path[0] != b'/':
            return False
        add_grants(trie, &trie.nodes[0], principals, n_principals, &allow, &deny)
        while start < n:
            slash = <const char*>memchr(path + start, b'/', <size_t>(n - start))
            end = (slash - path) if slash != NULL else n
            node = find_child(trie, &trie.nodes[node], path + start, end - start)
            if node < 0:
                break
            add_grants(trie, &trie.nodes[node], principals, n_principals, &allow, &deny)
            start = end + 1
        return (allow & ~deny) >> kind & 1

    cdef bytes principal_ids_of(self, identity):
        """The identity's principal ids as packed int32 (cached: readers repeat)."""
        try:
            packed = self.principal_cache.get(identity)
        except TypeError:  # an unhashable identity-like object: just don't cache
            identity_key = None
            packed = None
        else:
            identity_key = identity
        if packed is None:
            ids = self.principal_ids
            packed = array("i", sorted(ids[p] for p in identity.principals() if p in ids)).tobytes()
            if identity_key is not None:
                if len(self.principal_cache) >= PRINCIPAL_CACHE_SIZE:
                    self.principal_cache.clear()
                self.principal_cache[identity_key] = packed
        return packed

    def allows(self, identity, str path, kind, source=None) -> bool:
        cdef int ordinal = kind_ordinal(kind)
        cdef int slot = source_slot(source)
        cdef bytes key = canonical_key(path)
        cdef bytes ids
        if key is None:
            return False
        ids = self.principal_ids_of(identity)
        return self.match_ids(key, len(key), ordinal, slot, <const int32_t*><const char*>ids,
                              len(ids) // sizeof(int32_t))

    def view(self, identity) -> IdentityView:
        return IdentityView(self.rules, identity)
