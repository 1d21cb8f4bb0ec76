# Native path-prefix ACL trie (see acl.pyx). Declared here so the batch
# transcoder can cimport the nogil entry points and call them per event.
cimport cython
from libc.stdint cimport int32_t, uint32_t, uint64_t


cdef struct TrieNode:
    Py_ssize_t first_child   # children of a node are contiguous, sorted bytewise by key
    Py_ssize_t n_children
    Py_ssize_t key_start     # component bytes (UTF-8) in FlatTrie.keys
    Py_ssize_t key_len
    uint64_t mask            # IdentityView/PrefixFilter: kinds allowed here, ancestors folded in
    Py_ssize_t first_grant   # PathTrie: per-principal masks in FlatTrie.grants, sorted by principal
    Py_ssize_t n_grants


cdef struct Grant:
    int32_t principal
    uint64_t allow
    uint64_t deny


# Lookups take a source slot: a SOURCES ordinal, or UNKNOWN_SOURCE_SLOT (no source given;
# then only rules covering every source apply). Checked against fastev.acl_rules at import.
cdef enum:
    N_SOURCE_SLOTS = 6
    UNKNOWN_SOURCE_SLOT = 5


cdef struct FlatTrie:
    TrieNode* nodes          # nodes[0] is the root (the path "/")
    Py_ssize_t n_nodes
    char* keys
    Grant* grants


cdef Py_ssize_t find_child(const FlatTrie* trie, const TrieNode* node,
                           const char* key, Py_ssize_t n) noexcept nogil
cdef Py_ssize_t deepest_node(const FlatTrie* trie, const char* path, Py_ssize_t n) noexcept nogil


@cython.final
cdef class IdentityView:
    cdef FlatTrie tries[N_SOURCE_SLOTS]          # distinct tries in tries[:n_tries]
    cdef Py_ssize_t n_tries
    cdef Py_ssize_t slot_trie[N_SOURCE_SLOTS]    # source slot -> index in tries
    cdef readonly object identity
    # ``source`` is an Avro Source ordinal; anything out of range is the unknown-source slot.
    cdef bint match(self, const char* path, Py_ssize_t n, int kind, int source) noexcept nogil


@cython.final
cdef class PrefixFilter:
    cdef FlatTrie trie
    cdef uint32_t slots          # bit s: the filter takes events of source slot s
    cdef bint match(self, const char* path, Py_ssize_t n, int kind, int source) noexcept nogil


cdef class PathTrie:
    cdef FlatTrie tries[N_SOURCE_SLOTS]
    cdef Py_ssize_t n_tries
    cdef Py_ssize_t slot_trie[N_SOURCE_SLOTS]
    cdef dict principal_ids      # principal string -> int32 id used in Grant.principal
    cdef dict principal_cache    # identity -> packed sorted int32 ids
    cdef readonly tuple rules
    cdef bytes principal_ids_of(self, identity)
    cdef bint match_ids(self, const char* path, Py_ssize_t n, int kind, int source,
                        const int32_t* principals, Py_ssize_t n_principals) noexcept nogil
