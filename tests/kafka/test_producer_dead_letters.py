"""EventProducer sends one dead letter per rejected raw message, carrying all its reasons, exactly as
`fastev run` does (before: one dead letter per error, the same message bytes repeated once per bad item)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastev import decode
from fastev.kafka import EmbeddedBroker, EventProducer
from fastev.kafka.dead_letter import MAX_LISTED_ERRORS

from ..pipeline.conftest import header

BAD_ITEMS = 150


def s3_message(good: bytes, bad_items: int) -> bytes:
    """One S3 message: a good record, ``bad_items`` items that are not objects, the good record again."""
    item = json.loads(good)["Records"][0]
    records = [json.dumps(item).encode(), *([b"1"] * bad_items), json.dumps(item).encode()]
    return b'{"Records":[' + b",".join(records) + b"]}"


def test_a_message_with_many_bad_items_is_one_dead_letter(broker: EmbeddedBroker, new_topic: Any, consume: Any,
                                                          samples: Path) -> None:
    good = (samples / "s3.jsonl").read_bytes().splitlines()[0]
    many = s3_message(good, BAD_ITEMS)
    bad_json = b'{"Records": ['
    events, dead = new_topic(), new_topic()
    producer = EventProducer({"bootstrap.servers": broker.bootstrap, "fastev.source": "s3",
                              "fastev.topic": events, "fastev.dead_letter_topic": dead})
    first = producer.produce_raw(many)
    second = producer.produce_batch([good, bad_json])
    assert producer.flush(10) == 0

    # the errors as decode() reports them: 100 one by one, the other 50 in one summary
    assert [(e.reason, e.field) for e in first.errors] == [(e.reason, e.field) for e in decode(many, "s3").errors]
    assert len(first.errors) == MAX_LISTED_ERRORS + 1
    letters = consume(dead, expected=2)
    assert [m.value() for m in letters] == [many, bad_json]
    assert header(letters[0], "fastev_error_count") == str(BAD_ITEMS)
    listed = json.loads(header(letters[0], "fastev_errors") or "")
    assert len(listed) == MAX_LISTED_ERRORS
    assert listed[:2] == [{"reason": "not-an-object", "field": "Records[1]"},
                          {"reason": "not-an-object", "field": "Records[2]"}]
    assert (header(letters[0], "fastev_reason"), header(letters[0], "fastev_field")) == ("not-an-object",
                                                                                      "Records[1]")
    assert header(letters[1], "fastev_error_count") == "1"
    assert header(letters[1], "fastev_index") == "2"  # records are counted across calls (one stream)
    assert [e.reason for e in second.errors] == ["invalid-json"]
    # the good records around the bad ones are delivered: two of the big message, one of the batch
    assert len(consume(events, expected=3)) == 3
    producer.close()
