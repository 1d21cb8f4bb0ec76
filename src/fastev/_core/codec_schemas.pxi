# The per-source key tables (Schema) the scanner fills, source detection, and the import-time checks
# that the C tables match the Python ones (included by codec.pyx). Separate: built once at import.

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
