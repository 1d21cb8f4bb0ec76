"""aiohttp's complaint about an oversized header line never reaches the logs with the header's bytes."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from fastev.sse import EventHub
from tests.sse.helpers import AllowAll, run, serving
from tests.sse.test_delivery import authenticator

SECRET = "eyJTOPSECRETTOKENBYTES"


@pytest.mark.parametrize("header", ["Authorization: Bearer ", "X-Token: "])
def test_oversized_header_is_refused_without_logging_its_bytes(pem_file: Path, caplog: pytest.LogCaptureFixture,
                                                                header: str) -> None:
    async def main() -> bytes:
        async with serving(EventHub(), authenticator(pem_file), lambda auth: AllowAll()) as srv:
            host, port = srv.base.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            value = SECRET + "A" * 9000  # over aiohttp's 8190-byte line limit
            writer.write(f"GET /events HTTP/1.1\r\nHost: x\r\n{header}{value}\r\n\r\n".encode())
            await writer.drain()
            answer = await reader.read()
            writer.close()
            return answer

    with caplog.at_level(logging.DEBUG):
        answer = run(main())
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0]
    logged = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records)
    for r in caplog.records:  # what a handler would format, traceback included
        if r.exc_info:
            logged += logging.Formatter().formatException(r.exc_info)
    assert "refused a malformed HTTP request" in logged  # the event is still logged ...
    assert "LineTooLong" in logged
    assert "TOPSECRET" not in logged and "AAAAAAAA" not in logged  # ... without a byte of the request
