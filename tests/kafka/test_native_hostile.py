"""Every Python-visible method of the native producer classes, called with hostile arguments,
raises; none crashes the interpreter. Each probe runs in a subprocess so a segfault (the old
``Producer.seal(-5)``) is a failed test with the signal named, not a dead test run."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
pytestmark = pytest.mark.skipif(NO_EXTENSIONS, reason="native extension disabled by FASTEV_NO_EXTENSIONS")

# Runs in the child: every call must raise one of the expected exceptions (printed per call).
PROBES = r'''
import math
from fastev._core import kproducer as kp

from fastev._core import cloudevents as ce
from fastev import RouteSpec, Transcoder
LINE = b'{"msgType": "store", "date": "2024-01-01T00:00:00Z", "billingPath": "/p/x"}'
batch = Transcoder("dcache-billing", [RouteSpec("all")]).feed(LINE, final=True)
cbatch = Transcoder("dcache-billing", [RouteSpec("all")], framing="confluent", schema_id=2**31 - 1).feed(
    LINE, final=True)
assert batch.count("all") == cbatch.count("all") == 1
p = kp.Producer({"bootstrap.servers": "127.0.0.1:1", "log_level": "0"})
bare = kp.Producer.__new__(kp.Producer)  # never initialised
sealed = p.new_slot()  # stays in use, sealed
p.seal(sealed)
slot = p.new_slot()
p.seal(slot)
p.free_slot(slot)  # nothing was sent: freeing is fine once

HUGE = 1 << 40
calls = {
    "seal(-5)": lambda: p.seal(-5),
    "seal(huge)": lambda: p.seal(HUGE),
    "seal(int32 max)": lambda: p.seal(2**31 - 1),
    "seal(str)": lambda: p.seal("0"),
    "seal(None)": lambda: p.seal(None),
    "seal(freed)": lambda: p.seal(slot),
    "pending(-1)": lambda: p.pending(-1),
    "pending(10**6)": lambda: p.pending(10**6),
    "pending(float)": lambda: p.pending(1.5),
    "slot_error(-1)": lambda: p.slot_error(-1),
    "slot_error(huge)": lambda: p.slot_error(HUGE),
    "free_slot(twice)": lambda: p.free_slot(slot),
    "free_slot(-1)": lambda: p.free_slot(-1),
    "free_slot(never handed out)": lambda: p.free_slot(63),
    "free_slot(str)": lambda: p.free_slot("x"),
    "produce(slot -1)": lambda: p.produce("t", [b"x"], None, None, -1, 0),
    "produce(freed slot)": lambda: p.produce("t", [b"x"], None, None, slot, 0),
    "produce(sealed slot)": lambda: p.produce("t", [b"x"], None, None, sealed, 0),
    "produce(sealed slot in a list)": lambda: p.produce("t", [b"x"], None, None, [sealed], 0),
    "produce(slots list bad)": lambda: p.produce("t", [b"x"], None, None, [HUGE], 0),
    "produce(start -1)": lambda: p.produce("t", [b"x"], None, None, p.new_slot(), -1),
    "produce(start past end)": lambda: p.produce("t", [b"x"], None, None, p.new_slot(), 5),
    "produce(payload int)": lambda: p.produce("t", [5], None, None, p.new_slot(), 0),
    "produce(payloads None)": lambda: p.produce("t", None, None, None, p.new_slot(), 0),
    "produce(short keys)": lambda: p.produce("t", [b"x", b"y"], [b"k"], None, p.new_slot(), 0),
    "produce(header name int)": lambda: p.produce("t", [b"x"], None, [[(1, b"v")]], p.new_slot(), 0),
    "produce(header not pair)": lambda: p.produce("t", [b"x"], None, [[b"abc"]], p.new_slot(), 0),
    "produce(ce without subjects)": lambda: p.produce(
        "t", [b"x"], None, None, p.new_slot(), 0, kp.CloudEvents((), (), 0, [])),
    "CloudEvents(start -1)": lambda: kp.CloudEvents(("a",), ("b",), -1, []),
    "CloudEvents(too many)": lambda: kp.CloudEvents(("a",) * 300, ("b",), 0, []),
    "CloudEvents(tail not pairs)": lambda: kp.CloudEvents(("a",), ("b",), 0, [1]),
    "CloudEvents(uri int)": lambda: kp.CloudEvents((1,), ("b",), 0, []),
    "poll(-1)": lambda: p.poll(-1),
    "poll(nan)": lambda: p.poll(math.nan),
    "flush(-5)": lambda: p.flush(-5),
    "topic_metadata(nan)": lambda: p.topic_metadata("t", math.nan),
    "bare.new_slot()": lambda: bare.new_slot(),
    "bare.seal(0)": lambda: bare.seal(0),
    "bare.free_slot(0)": lambda: bare.free_slot(0),
    "bare.pending(0)": lambda: bare.pending(0),
    "bare.slot_error(0)": lambda: bare.slot_error(0),
    "bare.poll()": lambda: bare.poll(0),
    "bare.flush(0)": lambda: bare.flush(0),
    "bare.produce": lambda: bare.produce("t", [b"x"], None, None, 0, 0),
    "bare.topic_metadata": lambda: bare.topic_metadata("t", 0.1),
    "ce.read_event_head(None)": lambda: ce.read_event_head(None, 0, "iskSt", 5, 20),
    "ce.read_event_head(start huge)": lambda: ce.read_event_head(b"\x02a", 2**62, "iskSt", 5, 20),
    "ce.read_event_head(start -1)": lambda: ce.read_event_head(b"\x02a", -1, "iskSt", 5, 20),
    "ce.read_event_head(layout NUL)": lambda: ce.read_event_head(b"\x02a", 0, "isk\0t", 5, 20),
    "ce.read_event_head(nsrc -1)": lambda: ce.read_event_head(b"\x02a\x00\x00\x00\x00", 0, "iskSt", -1, 20),
    "ce.rfc3339_us(2**70)": lambda: ce.rfc3339_us(2**70),
    "ce.rfc3339_us(float)": lambda: ce.rfc3339_us(1.5),
    "ce.message_headers(path int)": lambda: ce.message_headers(b"", 5, (), (), 0, "iskSt", []),
    "ce.route_headers(lengths)": lambda: ce.route_headers([b""], [], (), (), 0, "iskSt", []),
    "codec.ce_headers(start -1)": lambda: batch.ce_headers("all", ("s",) * 5, ("k",) * 20, -1, "iskSt", []),
    "codec.ce_headers(start huge)": lambda: batch.ce_headers("all", ("s",) * 5, ("k",) * 20, 2**40, "iskSt", []),
    "codec.ce_headers(no sources)": lambda: batch.ce_headers("all", (), ("k",) * 20, 0, "iskSt", []),
    "codec.ce_headers(bad layout)": lambda: batch.ce_headers("all", ("s",) * 5, ("k",) * 20, 0, "x", []),
    "codec.ce_headers(confluent read as avro)": lambda: cbatch.ce_headers("all", ("s",) * 5, ("k",) * 20, 0,
                                                                            "iskSt", []),
    "init twice": lambda: p.__init__({"bootstrap.servers": "x"}),
    "init bad permanent": lambda: kp.Producer({"bootstrap.servers": "x"}, True, ("a",)),
    "init too many permanent": lambda: kp.Producer({"bootstrap.servers": "x"}, True, tuple(range(33))),
}
for name, call in calls.items():
    try:
        call()
    except (IndexError, ValueError, TypeError, OverflowError, RuntimeError) as exc:
        print(f"ok {name}: {type(exc).__name__}", flush=True)
    else:
        print(f"NO ERROR {name}", flush=True)
# After all that, the producer still hands out distinct slots and accounts correctly.
a, b = p.new_slot(), p.new_slot()
assert a != b and p.pending(a) == 0 and p.seal(a) is True
print("intact", flush=True)
'''


def test_hostile_arguments_raise_and_never_crash() -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBES)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, f"child died (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("NO ERROR")] == []
    assert sum(ln.startswith("ok ") for ln in lines) == PROBES.count('": lambda')
    assert lines[-1] == "intact"


def test_a_double_free_never_hands_one_slot_to_two_tokens() -> None:
    from fastev._core import kproducer

    p = kproducer.Producer({"bootstrap.servers": "127.0.0.1:1", "log_level": "0"})
    slot = p.new_slot()
    p.free_slot(slot)
    with pytest.raises(ValueError, match="not in use"):
        p.free_slot(slot)
    taken = [p.new_slot() for _ in range(200)]  # past the initial 64: the arrays grow
    assert len(set(taken)) == len(taken)


# Runs in the child: arguments whose own code (a lying __len__, an unpacking that appends) changes a
# container while the native code reads it. Each call may succeed or raise; none may crash.
GROWING = r'''
from fastev._core import kproducer as kp

class LyingHeaders:
    """len() says 1, iteration yields 200k pairs (the old produce() wrote them past its table)."""
    def __len__(self):
        return 1
    def __iter__(self):
        return iter([("h", b"v")] * 200_000)

class GrowingPair:
    """A (name, value) pair whose unpacking appends to the list it is read from."""
    def __init__(self, target, extra):
        self.target, self.extra = target, extra
    def __iter__(self):
        self.target.extend([("h", b"v")] * self.extra)
        return iter(("h", b"v"))

p = kp.Producer({"bootstrap.servers": "127.0.0.1:1", "log_level": "0", "message.timeout.ms": "100"})

class Calling:
    """A header pair whose unpacking calls the producer that is reading it."""
    def __init__(self, call):
        self.call = call
    def __iter__(self):
        self.call()
        return iter(("h", b"v"))

busy_slot = p.new_slot()
headers = []
headers.append(GrowingPair(headers, 200_000))
tail = []
tail.append(GrowingPair(tail, 100_000))
calls = {
    "produce(headers whose len lies)": lambda: p.produce("t", [b"x"], None, [LyingHeaders()], p.new_slot(), 0),
    "produce(headers growing while unpacked)": lambda: p.produce("t", [b"x"], None, [headers], p.new_slot(), 0),
    "CloudEvents(tail growing while unpacked)": lambda: kp.CloudEvents(("a",), ("b",), 0, "iskSt", tail),
    "produce(header unpacking produces)": lambda: p.produce(
        "t", [b"x"], None, [[Calling(lambda: p.produce("t", [b"y"] * 100, None, None, p.new_slot(), 0))]],
        busy_slot, 0),
    "produce(header unpacking seals its slot)": lambda: p.produce(
        "t", [b"x"], None, [[Calling(lambda: p.seal(busy_slot))]], busy_slot, 0),
}
for name, call in calls.items():
    try:
        print(f"survived {name}: returned {call()!r}", flush=True)
    except (ValueError, TypeError, OverflowError, RuntimeError, BufferError) as exc:
        print(f"survived {name}: {type(exc).__name__}", flush=True)
p.flush(5)
print("intact", flush=True)
'''


def test_containers_changed_by_their_own_code_never_overflow() -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(GROWING)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    assert proc.returncode == 0, f"child died (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    assert sum(ln.startswith("survived ") for ln in lines) == 5, proc.stdout
    # the producer's own code called while it reads a chunk would reuse that chunk, or seal a slot
    # it is about to produce into: refused
    assert "produce(header unpacking produces): RuntimeError" in proc.stdout
    assert "produce(header unpacking seals its slot): RuntimeError" in proc.stdout
    # the tail is read as it was when passed: one header, the items its unpacking appended are not read
    assert "CloudEvents(tail growing while unpacked): returned <" in proc.stdout
    assert lines[-1] == "intact"


def test_cloud_events_keeps_the_strings_its_headers_point_into() -> None:
    import gc
    import weakref

    from fastev._core import kproducer

    class Text(str):  # a str that can be watched by a weak reference
        pass

    made = {"uri": Text("https://storage.example/source"), "type": Text("org.example.kind"),
            "name": Text("ce_extra"), "value": Text("constant")}
    watch = {k: weakref.ref(v) for k, v in made.items()}
    ce = kproducer.CloudEvents((made["uri"],), (made["type"],), 0, "iskSt",
                               [(made["name"], made["value"])])
    del made
    gc.collect()
    assert {k: w() is not None for k, w in watch.items()} == dict.fromkeys(watch, True)
    del ce
    gc.collect()
    assert {k: w() is None for k, w in watch.items()} == dict.fromkeys(watch, True)  # kept, not leaked


def test_a_completion_that_finds_the_done_table_full_is_raised_not_dropped(broker: Any, new_topic: Any) -> None:
    from fastev._core import kproducer

    topic = new_topic()
    p = kproducer.Producer({"bootstrap.servers": broker.bootstrap, "log_level": "0"})
    # One slot completed, freed and reused before collect(): once more than the 64 entries of the
    # done table (sized by slot count) - the old callback dropped the 65th completion silently.
    for _ in range(65):
        slot = p.new_slot()
        assert p.produce(topic, [b"x"], None, None, slot, 0) == 1
        p.seal(slot)
        assert p.flush(10) == 0
        p.free_slot(slot)
    with pytest.raises(RuntimeError, match="1 completed slot"):
        p.collect()
    assert p.collect() == (None, None, [slot] * 64)  # the overflow is reported once; what fitted follows
