"""The live page ``GET /`` in a real headless Chromium, driven over the Chrome DevTools Protocol.

The browser loads the page from a real server on loopback; the page's own EventSource connects with the
token from the URL, and the test reads the rendered table back with ``Runtime.evaluate``. Chromium is the
Debian ``chromium`` package (``.ci/run`` installs it when missing); without it this test fails, never skips.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.acl import Acl
from fastev.event import KINDS
from fastev.sse import AclAuthorizer, Authenticator, EventHub
from fastev.sse.server import STATS
from tests.sse.helpers import AUDIENCE, ISSUER, claims, event, position, rs256, run, serving

CHROMIUM = os.environ.get("FASTEV_CHROMIUM", "/usr/bin/chromium")
ACL_TEXT = """
[[allow]]
principals = ["user:alice"]
paths = ["/data/atlas"]
"""
XSS_PATH = '/data/atlas/<img src=x onerror="window.pwned=1">&amp;'
END = "/data/atlas/end-marker"


def _chromium() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    assert path, (f"headless Chromium not found at {CHROMIUM}: install Debian's chromium package "
                  "(apt-get install -y chromium; .ci/run does this) or set FASTEV_CHROMIUM")
    return path


class Page:
    """One CDP session on a page target: navigate, evaluate, poll."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self._id = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            msg = await self.ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.TEXT, f"DevTools connection closed: {msg}"
            data = json.loads(msg.data)
            if data.get("id") == my_id:
                assert "error" not in data, f"{method}: {data['error']}"
                return data["result"]  # type: ignore[no-any-return]

    async def eval(self, expression: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in res, f"{expression}: {res['exceptionDetails']}"
        return res["result"].get("value")

    async def poll(self, expression: str, pred: Callable[[Any], bool], what: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = await self.eval(expression)
            if pred(value):
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.poll("document.readyState + ' ' + location.href", lambda v: v == f"complete {url}",
                        f"page load of {url}")

    async def state(self) -> dict[str, Any]:
        """The page as a user sees it: status, table rows (cell texts), row ids, and markup-injection probes."""
        state: dict[str, Any] = json.loads(await self.eval("""JSON.stringify({
            status: document.getElementById('status').getAttribute('data-state'),
            text: document.getElementById('status').textContent,
            rows: Array.from(document.querySelectorAll('#events tr.event')).map(tr =>
                Array.from(tr.querySelectorAll('td')).map(td => td.textContent)),
            ids: Array.from(document.querySelectorAll('#events tr.event')).map(tr => tr.dataset.id),
            imgs: document.querySelectorAll('img').length,
            pwned: window.pwned === 1,
        })"""))
        return state


@asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    """A headless Chromium with a DevTools port; always killed (its whole process group) on exit."""
    binary = _chromium()
    profile = tempfile.mkdtemp(prefix="fastev-chromium-")
    log = open(os.path.join(profile, "stderr.log"), "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--no-default-browser-check", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1", "--remote-allow-origins=*", f"--user-data-dir={profile}",
         "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        port_file = Path(profile, "DevToolsActivePort")
        deadline = time.monotonic() + 15
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = Path(profile, "stderr.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"chromium did not open its DevTools port (exit={proc.poll()}):\n{tail}")
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            ws_url = None
            while ws_url is None:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
                    pages = [t for t in await r.json() if t.get("type") == "page"]
                if pages:
                    ws_url = pages[0]["webSocketDebuggerUrl"]
                else:
                    assert time.monotonic() < deadline, "chromium opened no page target"
                    await asyncio.sleep(0.05)
            async with session.ws_connect(ws_url, max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                yield page
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def _event(path: str, kind: str, n: int) -> dict[str, Any]:
    e = event(path, kind, n)
    e.update(user="alice", size=1000 + n)
    return e


def test_live_page_in_headless_chromium(pem_file: Path, signing_key: rsa.RSAPrivateKey,
                                        other_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator.from_config({"jwt_algorithms": ["RS256"], "jwt_public_keys": [str(pem_file)],
                                      "issuer": ISSUER, "audience": AUDIENCE})
    good = rs256(signing_key, claims("alice"))
    forged = rs256(other_key, claims("alice"))  # right claims, wrong signer
    hub = EventHub(replay=100)
    hub.publish(_event("/data/atlas/before-1", "UPLOAD", 1), 1)
    hub.publish(_event("/data/cms/hidden-1", "UPLOAD", 2), 2)  # not alice's

    async def main() -> None:
        async with serving(hub, auth, AclAuthorizer(Acl.from_text(ACL_TEXT))) as srv, chromium() as page:
            # The page itself: served with a CSP, listening for every kind.
            async with srv.session.get(srv.base + "/") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
                assert "default-src 'none'" in r.headers["Content-Security-Policy"]
                assert "connect-src 'self'" in r.headers["Content-Security-Policy"]

            # 1. Good token in the fragment, replay from the start of the window, then live events.
            await page.goto(f"{srv.base}/?from=earliest#authz={good}")
            assert await page.eval("fastevLive.kinds") == list(KINDS)
            await page.poll("document.getElementById('status').getAttribute('data-state')",
                            lambda v: v == "open", "the EventSource to open")
            await page.poll("document.querySelectorAll('#events tr.event').length", lambda v: v == 1,
                            "the replayed event")
            hub.publish(_event("/data/atlas/live-3", "DELETE", 3), 3)
            hub.publish(_event("/data/cms/hidden-4", "UPLOAD", 4), 4)
            hub.publish(_event(XSS_PATH, "STAGE", 5), 5)
            hub.publish(_event("/data/atlas/live-6", "UPLOAD", 6), 6)
            hub.publish(_event(END, "CLOSE", 7), 7)  # the end marker: once shown, everything before it is
            await page.poll("document.querySelector('#events tr.event td.path').textContent", lambda v: v == END,
                            "the end marker")
            st = await page.state()
            assert st["status"] == "open", st
            assert st["rows"][0][2] == END and st["rows"][0][1] == "CLOSE"
            st["rows"], st["ids"] = st["rows"][1:], st["ids"][1:]
            # newest first, hidden ones never shown; the rows carry the opaque SSE ids of their frames
            assert [position(hub.ids, i) for i in st["ids"]] == [6, 5, 3, 1], st
            assert [row[2] for row in st["rows"]] == ["/data/atlas/live-6", XSS_PATH, "/data/atlas/live-3",
                                                      "/data/atlas/before-1"]
            assert [row[1] for row in st["rows"]] == ["UPLOAD", "STAGE", "DELETE", "UPLOAD"]
            assert all(row[3] == "alice" for row in st["rows"]) and st["rows"][0][4] == "1,006"
            assert st["imgs"] == 0 and not st["pwned"], "event text was rendered as markup"
            assert st["rows"][0][0].startswith("2023-11-14 22:13:20"), st["rows"][0]
            rates = await page.eval("fastevLive.rates()")
            assert rates["UPLOAD"] > 0 and rates["DELETE"] > 0 and rates["REQUEST"] == 0, rates

            # 2. The token in the query works too, with a path filter from the page's own query; from=now: live only.
            await page.goto(f"{srv.base}/?path=/data/atlas&from=now&authz={good}")
            await page.poll("document.getElementById('status').getAttribute('data-state')",
                            lambda v: v == "open", "the EventSource to open (query token)")
            assert "live events only" in await page.eval("document.getElementById('start').textContent")
            hub.publish(_event("/data/atlas/live-8", "MODIFY", 8), 8)
            st = await page.poll("JSON.stringify(Array.from(document.querySelectorAll('#events tr.event td.path'))"
                                 ".map(td => td.textContent))", lambda v: json.loads(v) == ["/data/atlas/live-8"],
                                 "the live event on the query-token page")

            # 3. The README's URL (no position): the page opens on the replay window, so it is useful even
            # when nothing new arrives (file sources finished); a link switches to live only.
            await page.goto(f"{srv.base}/#authz={good}")
            st = await page.poll("JSON.stringify(Array.from(document.querySelectorAll('#events tr.event td.path'))"
                                 ".map(td => td.textContent))", lambda v: len(json.loads(v)) == 6,
                                 "the replay window on the README's URL")
            assert json.loads(st) == ["/data/atlas/live-8", END, "/data/atlas/live-6", XSS_PATH, "/data/atlas/live-3",
                                      "/data/atlas/before-1"]
            assert "replay window" in await page.eval("document.getElementById('start').textContent")
            assert "from=now" in await page.eval("document.getElementById('switch').getAttribute('href')")

            # 4. A bad token: an error state, never events.
            next_id = 9
            for bad in (forged, "not-a-jwt"):
                failures = srv.app[STATS]["auth_failures"]
                await page.goto(f"{srv.base}/?from=earliest&attempt={next_id}#authz={bad}")  # a new document
                await page.poll("document.getElementById('status').getAttribute('data-state')",
                                lambda v: v == "error", f"the error state for a bad token ({bad[:12]}…)")
                assert srv.app[STATS]["auth_failures"] == failures + 1
                # The refused EventSource is CLOSED (it never reconnects): nothing published can reach it.
                assert await page.eval("fastevLive.source.readyState") == 2  # EventSource.CLOSED
                hub.publish(_event(f"/data/atlas/after-bad-{next_id}", "UPLOAD", next_id), next_id)
                next_id += 1
                st = await page.state()
                assert st["status"] == "error" and st["rows"] == [], st
                assert "token" in st["text"], st

            # 5. No token at all: an error state without a request.
            await page.goto(f"{srv.base}/")
            st = await page.state()
            assert st["status"] == "error" and st["rows"] == [] and "no token" in st["text"], st


    run(main(), timeout=45)
