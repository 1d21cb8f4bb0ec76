"""fastev: fast, secure, lossless storage-event streams.

Raw dCache, GPFS and S3 records in; validated, normalised, routed Avro out.
The codec core is native (Cython) with a pure-Python reference of identical
behaviour (FASTEV_NO_EXTENSIONS=1 selects it).
"""
from ._version import __version__
from .acl import Acl, Identity
from .decoding import IMPLEMENTATION, Decoder, DecodeResult, decode
from .errors import AclError, ConfigError, DecodeError, DeliveryError, FastevError
from .event import Kind, Source, StorageEvent, schema_text
from .event import schema as avro_schema
from .routes import RoutesConfig, RouteSpec, load_routes
from .transcode import Transcoder

__all__ = (
    # version and implementation
    "__version__", "IMPLEMENTATION",
    # events and schema
    "StorageEvent", "Source", "Kind", "avro_schema", "schema_text",
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
    # Kafka pulls in librdkafka: load it only for callers who use it, not for `fastev decode`.
    if name == "EventProducer":
        from .kafka.producer import EventProducer

        return EventProducer
    raise AttributeError(f"module 'fastev' has no attribute {name!r}")
