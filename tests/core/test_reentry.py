"""A feed that calls user code (an offsets iterator, a Python route's takes()) which feeds the same
Decoder / Transcoder again: the nested call raises RuntimeError in both cores, the object stays usable.
The native core used to segfault (the nested feed ended the outer feed's route batch), so each probe
runs in a subprocess: a crash is a failed test with its signal, not a dead test run."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ._support import NO_EXTENSIONS

CHILD = r'''
import sys
if sys.argv[1] == "native":
    from fastev._core.codec import Decoder, Transcoder
else:
    from fastev._ref.decoder import Decoder
    from fastev._ref.transcoder import Transcoder
from fastev.routes import CompiledRoute

LINE = b'{"msgType": "store", "date": "2024-01-01T00:00:00Z", "billingPath": "/p/x"}'
NOW = 1_770_800_000_000_000

def offsets_feeding(obj, how):
    def gen():
        yield 0
        how(obj)
        yield 1
    return gen()

class FeedingFilter:
    """A route filter whose matches() feeds the transcoder it belongs to (once)."""
    def __init__(self, how):
        self.how, self.obj, self.done = how, None, False
    def matches(self, path, kind, source):
        if not self.done:
            self.done = True
            self.how(self.obj)
        return True

AGAIN = {
    "feed": lambda o: o.feed(LINE + b"\n"),
    "feed_records": lambda o: o.feed_records([LINE]),
    "finish": lambda o: o.finish(),
}
for cls in (Decoder, Transcoder):
    for name, how in AGAIN.items():
        def make():
            if cls is Decoder:
                return Decoder("dcache-billing", now_us=NOW)
            return Transcoder("dcache-billing", [CompiledRoute("all", None, ())], now_us=NOW)
        obj = make()
        try:
            obj.feed_records([LINE, LINE], offsets_feeding(obj, how))
            print(cls.__name__, "offsets", name, "no error")
        except RuntimeError as e:
            print(cls.__name__, "offsets", name, e)
        after = obj.feed_records([LINE])
        n = len(after.events) if cls is Decoder else after.count("all")
        print(cls.__name__, "usable after", n)
        if cls is Transcoder:
            flt = FeedingFilter(how)
            obj = Transcoder("dcache-billing", [CompiledRoute("all", flt, ())], now_us=NOW)
            flt.obj = obj
            try:
                obj.feed(LINE + b"\n", final=True)
                print("Transcoder takes", name, "no error")
            except RuntimeError as e:
                print("Transcoder takes", name, e)
            print("Transcoder usable after", obj.feed_records([LINE]).count("all"))
print("ok")
'''


def _expected() -> str:
    lines = []
    for cls in ("Decoder", "Transcoder"):
        msg = f"{cls}: feed called again while a feed of the same object is running"
        for name in ("feed", "feed_records", "finish"):
            lines += [f"{cls} offsets {name} {msg}", f"{cls} usable after 1"]
            if cls == "Transcoder":
                lines += [f"Transcoder takes {name} {msg}", "Transcoder usable after 1"]
    return "\n".join(lines + ["ok"]) + "\n"


@pytest.mark.parametrize("impl", ["native", "reference"])
def test_a_nested_feed_is_refused_and_the_object_stays_usable(impl: str) -> None:
    if impl == "native" and NO_EXTENSIONS:
        pytest.skip("FASTEV_NO_EXTENSIONS=1: the native codec core is not under test")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), impl], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, f"child died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout == _expected()
