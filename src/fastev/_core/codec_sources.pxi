# Source and kind ordinals shared by the per-source decoders (included by codec.pyx).
# One decoder per file, each mirroring its reference module field for field, in the same
# read order, so the first bad field decides the reason exactly as there:
# codec_billing.pxi (_ref/billing.py), codec_inotify_flags.pxi (_ref/inotify_flags.py),
# codec_gpfs.pxi (_ref/gpfs.py), codec_s3.pxi (_ref/s3.py), codec_inotify.pxi (_ref/inotify_sse.py).

# Ordinals of fastev.event.SOURCES / KINDS (checked at import).
cdef enum:
    S_DCACHE_BILLING = 0
    S_DCACHE_INOTIFY = 1
    S_GPFS_AUDIT = 2
    S_GPFS_WATCH = 3
    S_S3 = 4

cdef enum:
    K_UPLOAD = 0
    K_DOWNLOAD = 1
    K_DELETE = 2
    K_CREATE = 3
    K_MODIFY = 4
    K_CLOSE_WRITE = 5
    K_CLOSE = 6
    K_OPEN = 7
    K_ACCESS = 8
    K_ATTRIB = 9
    K_RENAME = 10
    K_MOVED_OUT = 11
    K_MOVED_IN = 12
    K_REPLICATE = 13
    K_EVICT = 14
    K_FLUSH = 15
    K_STAGE = 16
    K_REQUEST = 17
    K_ACCESS_DENIED = 18
    K_OTHER = 19
    K_MOVED_FROM = 100    # pseudo kinds, resolved by the rename pairer
    K_MOVED_TO = 101

