"""The logger aiohttp's HTTP protocol writes to for the SSE server: never a byte of a request.

aiohttp logs a request it cannot parse with the parser's exception, whose message quotes the first
~100 bytes of the offending line: for an oversized ``Authorization`` header, part of a bearer token.
The SSE server hands aiohttp this logger instead of ``aiohttp.server``; its filter replaces such a
record by one line naming the peer and the error class and status, with no exception text.
"""
from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ("HTTP_LOG", "RedactRequestBytes")


class RedactRequestBytes(logging.Filter):
    """Rewrites records about unparsable requests so that nothing the client sent is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused a malformed HTTP request from %s: %s (status %s; request bytes not logged)"
            record.args = (peer, type(exc).__name__, exc.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


HTTP_LOG = logging.getLogger("fastev.sse.http")
HTTP_LOG.addFilter(RedactRequestBytes())
