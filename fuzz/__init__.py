"""Differential fuzzing of the native core against the pure-Python reference.

``python -m fuzz run`` mutates seed records of all five decoders and compares,
batch by batch, the native Decoder and Transcoder (with routes and ACL views)
to the reference ones, feeding records one per item and as streams cut at
random places. Any difference, exception, crash or sanitizer report is a
finding, saved as a replayable reproducer (``python -m fuzz replay FILE``).
Not part of the installed package: it needs the repository's tests and samples.
"""
