from libc.stdint cimport int64_t, int32_t
cdef struct Str:
    const char* ptr
    Py_ssize_t len          # -1 means null / absent
cdef struct Attr:
    Str key
    Str value
cdef struct EventRec:
    char id[32]             # 32 lowercase hex chars, not NUL-terminated
    int source              # ordinal in SOURCES
    int kind                # ordinal in KINDS
    Str raw_type
    int64_t time_us
    Str path                # len 0 = "" (no file); never null
    Str old_path
    bint is_dir
    bint has_size
    int64_t size
    bint has_bytes
    int64_t bytes
    bint has_duration
    int64_t duration_ms
    int32_t status
    Str status_msg
    Str file_id
    Str user
    bint has_uid
    int64_t uid
    bint has_gid
    int64_t gid
    Str* groups
    int n_groups
    Str client
    Str protocol
    Str system
    Str storage_class
    Attr* attrs
    int n_attrs
