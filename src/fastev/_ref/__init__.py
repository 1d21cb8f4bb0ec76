"""Pure-Python reference implementation of the codec core.

It is the oracle for differential tests against the native core and the
fallback where the extension is not built (FASTEV_NO_EXTENSIONS=1).
"""
