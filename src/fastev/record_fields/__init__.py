"""Per source, the fields of its records that the decoders read (shared by the native codec and the reference)."""
