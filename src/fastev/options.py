"""Decoder and transcoder options: defaults, limits and their validation, in one place.

Both implementations (the native ``fastev._core.codec`` and the reference ``fastev._ref``)
and the command line read these, so a limit is stated once and a bad value gets the same
message everywhere. Messages name the option as the Python API spells it; the command line
maps them to its flags (``flag_names``).
"""
from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .event import DECODER_NAMES

SOURCE_NAMES = DECODER_NAMES + ("auto",)   # the decoders, and per-record detection

DEFAULT_MAX_RECORD_BYTES = 1 << 20
MAX_RECORD_BYTES_LIMIT = 1 << 30
DEFAULT_PAIRING_WINDOW = 128
MAX_PAIRING_WINDOW = 1 << 20
FRAMINGS = ("avro", "confluent")
MAX_SCHEMA_ID = (1 << 31) - 1

# Rejected Records[] items of one S3 message reported one by one; the rest are summarised in
# one final ``too-many-errors`` error (docs/formats.md §4), so a hostile message cannot turn
# into one error object per item.
MAX_ERRORS_PER_MESSAGE = 100

# Distinct groups a dCache billing ``subject`` may name (docs/formats.md §3.1); more rejects the
# record (``out-of-range`` at ``subject``). The cap keeps de-duplication linear in the record size.
MAX_GROUPS = 256


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_decoder_options(source: str, source_names: tuple[str, ...], max_record_bytes: Any,
                          pairing_window: Any) -> None:
    """Raise ConfigError for a decoder option out of its documented range."""
    if source not in source_names:
        raise ConfigError(f"source: unknown decoder {source!r}; choose one of {', '.join(source_names)}")
    if not _is_int(max_record_bytes) or not 1 <= max_record_bytes <= MAX_RECORD_BYTES_LIMIT:
        raise ConfigError(f"max_record_bytes: {max_record_bytes!r} must be a positive integer "
                          f"up to {MAX_RECORD_BYTES_LIMIT}")
    if not _is_int(pairing_window) or not 1 <= pairing_window <= MAX_PAIRING_WINDOW:
        raise ConfigError(f"pairing_window: {pairing_window!r} is outside 1..{MAX_PAIRING_WINDOW}")


def check_transcoder_options(routes: Any, framing: Any, schema_id: Any) -> None:
    """Raise ConfigError for a transcoder option out of its documented range."""
    if framing not in FRAMINGS:
        raise ConfigError(f"framing: {framing!r} is not one of {FRAMINGS}")
    if framing == "confluent" and not (_is_int(schema_id) and 0 <= schema_id <= MAX_SCHEMA_ID):
        raise ConfigError(f"schema_id: {schema_id!r} is outside 0..2**31-1")
    names = [r.name for r in routes]
    if len(set(names)) != len(names):
        raise ConfigError("routes: names must be unique")
