"""Avro output for StorageEvents: binary encoding, Object Container Files, framing.

The native writer (fastev._core.avro) or the pure-Python reference
(fastev._ref.avro) is chosen once, here, at import; FASTEV_NO_EXTENSIONS=1 forces
the reference. Both produce the same bytes and raise the same errors. The schema
identity (Parsing Canonical Form, CRC-64-AVRO fingerprint) comes from
fastev.avro_format in both cases: it is a constant of the shipped schema.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from fastev._native import load
from fastev.avro_format import (
    SCHEMA_CANONICAL,
    SCHEMA_FINGERPRINT,
    SCHEMA_FINGERPRINT_BYTES,
    SCHEMA_JSON,
    fingerprint_bytes,
    parsing_canonical_form,
    single_object_frame,
)

__all__ = (
    # events
    "encode_event", "OcfWriter", "ocf_bytes",
    # framing
    "confluent_frame", "single_object_frame",
    # schema identity
    "SCHEMA_JSON", "SCHEMA_CANONICAL", "SCHEMA_FINGERPRINT", "SCHEMA_FINGERPRINT_BYTES",
    "parsing_canonical_form", "fingerprint64", "fingerprint_bytes",
    "IMPLEMENTATION",
)


_impl, IMPLEMENTATION = load("avro", "fastev._ref.avro")  # the reference only when native is off

if TYPE_CHECKING:  # both implementations share the reference's signatures
    from fastev._ref.avro import OcfWriter, confluent_frame, encode_event, fingerprint64, ocf_bytes
else:
    encode_event = _impl.encode_event
    OcfWriter = _impl.OcfWriter
    ocf_bytes = _impl.ocf_bytes
    confluent_frame = _impl.confluent_frame
    fingerprint64 = _impl.fingerprint64
