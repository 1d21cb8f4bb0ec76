"""fastev: fast, secure, lossless storage-event streams.

Raw dCache, GPFS and S3 records in; validated, normalised, routed Avro out.
The codec core is native (Cython) with a pure-Python reference of identical
behaviour (FASTEV_NO_EXTENSIONS=1 selects it).
"""
from ._version import __version__

# name -> module that defines it; imported on first use, so the CLI starts fast
_LAZY = {
    "IMPLEMENTATION": "decoding", "Decoder": "decoding", "DecodeResult": "decoding", "decode": "decoding",
    "Acl": "acl", "Identity": "acl",
    "AclError": "errors", "ConfigError": "errors", "DecodeError": "errors", "DeliveryError": "errors",
    "FastevError": "errors",
    "Kind": "event", "Source": "event", "StorageEvent": "event", "schema_text": "event",
    "RoutesConfig": "routes", "RouteSpec": "routes", "load_routes": "routes",
    "Transcoder": "transcode",
    "EventProducer": "kafka.producer",
}

__all__ = (
    # version and implementation
    "__version__", "IMPLEMENTATION",
    # events and schema; Avro writers in the submodule fastev.avro
    "StorageEvent", "Source", "Kind", "avro_schema", "schema_text", "avro",
    # decoding
    "decode", "Decoder", "DecodeResult",
    # access control and routing
    "Acl", "Identity", "RouteSpec", "RoutesConfig", "load_routes", "Transcoder",
    # delivery
    "EventProducer",
    # errors
    "FastevError", "DecodeError", "ConfigError", "AclError", "DeliveryError",
)


def __getattr__(name: str) -> object:
    import importlib

    if name == "avro_schema":
        from .event import schema

        return schema
    if name == "avro":  # the Avro writers (encode_event, OcfWriter...): fastev.avro without a second import
        return importlib.import_module(".avro", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastev' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
