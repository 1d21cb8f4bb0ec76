"""The hub's per-reader costs stay linear: catch-up reads each window entry once, leaving a group is O(1).

Costs are counted (window reads, equality checks), not timed, so the bounds hold on any machine.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastev.sse import hub as hub_module
from fastev.sse.hub import Entry, EventHub, MemoryWriter
from fastev.sse.subscription import Subscription
from fastev.sse.window import ReplayWindow
from tests.sse.helpers import AllowAll, event, position


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 6), n=st.integers(0, 20))
def test_replay_window_is_the_last_entries_in_order(capacity: int, n: int) -> None:
    window, model = ReplayWindow(capacity), deque[Entry](maxlen=capacity)
    for i in range(n):
        entry = Entry(event(f"/x/{i}"), 0, i, f"id-{i}", i)
        gone = window.append(entry)
        assert gone is (model[0] if len(model) == capacity else None)
        model.append(entry)
    assert len(window) == len(model) and list(window) == list(model)
    assert [window[i] for i in range(len(window))] == list(model)
    for bad in (-1, len(model)):
        with pytest.raises(IndexError):
            window[bad]


class Trickle(MemoryWriter):
    """A socket with room for one byte: every drain of a catching-up reader sends one frame."""

    def __init__(self, hub: EventHub) -> None:
        super().__init__()
        self.hub = hub

    def buffered(self) -> int:
        return self.hub.high_water - 1


def test_a_slow_reader_catching_up_reads_each_window_entry_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = [0]

    class CountingWindow(ReplayWindow):
        def __getitem__(self, index: int) -> Any:
            reads[0] += 1
            return super().__getitem__(index)

    monkeypatch.setattr(hub_module, "ReplayWindow", CountingWindow)
    n = 3000
    hub = EventHub(replay=n)  # no event loop: the hub delivers synchronously
    for i in range(n):
        hub.publish(event(f"/x/{i}"), i)
    sub = hub.subscribe(AllowAll(), last_event_id="earliest")
    writer = Trickle(hub)
    hub.attach(sub, writer)
    drains = 1
    while sub.replay_next is not None:
        hub._deliver()  # what the retry timer does every RETRY_S
        drains += 1
        assert drains <= n + 1
    frames = writer.frames()
    assert [position(hub.ids, f.split(b"\n", 1)[0][4:].decode()) for f in frames] == list(range(n))
    # One drain per frame; a deque walked to the reader's position every time read n^2/2 entries.
    assert drains >= n // 2 and reads[0] <= n + drains, reads[0]


def test_leaving_a_large_group_costs_no_scan_and_keeps_delivery_order(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = [0]

    class CountingSubscription(Subscription):
        __hash__ = Subscription.__hash__

        def __eq__(self, other: object) -> bool:  # a list's remove() compares every earlier member
            compared[0] += 1
            return self is other

    monkeypatch.setattr(hub_module, "Subscription", CountingSubscription)
    hub = EventHub(replay=0)
    grant = AllowAll()  # one grant object: one group
    order: list[int] = []

    class Recording(MemoryWriter):
        def __init__(self, number: int) -> None:
            super().__init__()
            self.raw_write = lambda data: order.append(number)

    n = 2000
    subs = [hub.subscribe(grant) for _ in range(n)]
    for number, sub in enumerate(subs):
        hub.attach(sub, Recording(number))
    assert hub.groups == 1
    for sub in reversed(subs[n // 2:]):  # newest first: the worst order for a list
        hub.unsubscribe(sub)
    assert compared[0] <= n, compared[0]
    hub.publish(event("/x/1"), 1)
    assert order == list(range(n // 2))  # the remaining readers, in subscription order
