"""The engine's pure parts: the offset ledger (what may be committed), pacing (backoff, rate limit) and
route-message reading (all three formats; hostile payloads are clean MessageErrors)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastev.workflow.messages import MessageError, message_format, read_events
from fastev.workflow.offsets import OffsetLedger
from fastev.workflow.pacing import RateLimit, backoff_delay

from .helpers import event, route_message

TP = ("t", 0)


def test_ledger_commits_up_to_the_oldest_unfinished_message() -> None:
    ledger = OffsetLedger()
    ledger.add(TP, 0, 0)             # nothing matched: committable at once
    ledger.add(TP, 1, 2)             # two pairs
    ledger.add(TP, 2, 1)
    ledger.add(("t", 1), 5, 1)       # another partition is independent
    assert ledger.committable() == {TP: 1, ("t", 1): 5}
    ledger.finish(TP, 2)             # a later message finished first: still held by offset 1
    assert ledger.committable() == {}
    ledger.finish(TP, 1)
    assert ledger.committable() == {}
    ledger.finish(TP, 1)
    assert ledger.committable() == {TP: 3}
    ledger.forget({("t", 1)})
    ledger.finish(("t", 1), 5)       # a revoked partition's late finish is ignored
    assert ledger.committable(changed=False) == {TP: 3}


@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_ledger_never_passes_an_unfinished_message(jobs: list[int], rnd: random.Random) -> None:
    ledger = OffsetLedger()
    for offset, n in enumerate(jobs):
        ledger.add(TP, offset, n)
    pending = [offset for offset, n in enumerate(jobs) for _ in range(n)]
    rnd.shuffle(pending)
    committed = -1
    while True:
        position = ledger.committable(changed=False).get(TP, committed)
        unfinished = sorted(set(pending))
        assert position == (unfinished[0] if unfinished else len(jobs))
        assert position >= committed
        committed = position
        if not pending:
            break
        ledger.finish(TP, pending.pop())


def test_backoff_grows_caps_and_honours_retry_after() -> None:
    exp = [backoff_delay(n, backoff="exponential", initial_s=1, max_s=10, jitter=False) for n in range(1, 7)]
    assert exp == [1, 2, 4, 8, 10, 10]
    lin = [backoff_delay(n, backoff="linear", initial_s=0.5, max_s=1.2, jitter=False) for n in range(1, 4)]
    assert lin == [0.5, 1.0, 1.2]
    rng = random.Random(1)
    jittered = [backoff_delay(4, backoff="exponential", initial_s=1, max_s=60, jitter=True, rng=rng)
                for _ in range(200)]
    assert all(4 <= d <= 8 for d in jittered) and len(set(jittered)) > 100
    assert backoff_delay(1, backoff="linear", initial_s=1, max_s=5, jitter=False, retry_after_s=30) == 30


def test_rate_limit_never_overshoots() -> None:
    limit = RateLimit(5.0)           # 5/s, burst 5
    now = 100.0
    waits = [limit.reserve(now) for _ in range(20)]
    starts = [now + w for w in waits]
    assert waits[:5] == pytest.approx([0.0] * 5, abs=1e-9)   # the burst
    for i in range(len(starts)):
        for j in range(i, len(starts)):
            assert j - i + 1 <= 5 + 5 * (starts[j] - starts[i]) + 1e-9
    assert starts[-1] == pytest.approx(now + 3.0)   # 20 starts at 5/s after a burst of 5


@pytest.mark.parametrize("fmt", ["avro", "confluent", "ocf"])
def test_every_route_format_reads_back(fmt: str) -> None:
    ev = event(7, "/a/b c.h5")
    value = route_message(ev, fmt)
    assert message_format(value) == fmt
    assert read_events(value) == [ev]


@given(st.binary(max_size=400))
def test_any_bytes_are_events_or_a_message_error(value: bytes) -> None:
    try:
        events = read_events(value)
    except MessageError as e:
        assert str(e)
    else:
        assert events and all(isinstance(e, dict) for e in events)


def test_truncations_and_trailing_bytes_are_message_errors() -> None:
    for fmt in ("avro", "confluent", "ocf"):
        value = route_message(event(1, "/x"), fmt)
        for cut in range(len(value)):
            with pytest.raises(MessageError):
                read_events(value[:cut])
    with pytest.raises(MessageError, match="after the event"):
        read_events(route_message(event(1, "/x")) + b"\x00")
