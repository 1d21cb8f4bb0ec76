"""Record mutations: byte-level edits and JSON-aware edits, driven by one seeded random.Random.

Every mutation is a pure function of (rng state, record, corpus), so a batch is
reproducible from the campaign seed and its index alone. JSON-aware edits find
their targets with regular expressions over the bytes rather than parsing, so
they also apply to records an earlier edit already broke.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_MEMBER = re.compile(rb'"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null|\[\]|\{\})')
_VALUE = re.compile(rb':\s*("(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null)')
_ARRAY_HEAD = re.compile(rb'\[\s*("(?:[^"\\]|\\.)*"|-?[\d.eE+-]+|true|false|null|\{[^{}\[\]]*\})')
_STRING_ITEM = re.compile(rb'(?<=[\[,])("(?:[^"\\]|\\.)*")(?=\s*[,\]])')
_TIME = re.compile(rb'"\d{4}-\d\d-\d\d[T_ ][^"]*"')

LIMIT_NUMBERS = [
    b"0", b"-0", b"0.0", b"-1", b"1e400", b"-1e400", b"1e-400", b"1.5", b"3.97E9", b"00012",
    b"2147483647", b"2147483648", b"-2147483648", b"-2147483649", b"4294967295", b"4294967296",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808", b"-9223372036854775809",
    b"18446744073709551615", b"18446744073709551616", b"99999999999999999999999999999999999999",
    b"1" + b"0" * 400, b"-", b"1.", b".5", b"1e", b"0x10", b"1_000", b"Infinity", b"NaN",
]
LIMIT_TIMES = [
    b'"0000-01-01T00:00:00+23:59"', b'"9999-12-31T23:59:59.999999-23:59"', b'"0000-01-01T00:00:00Z"',
    b'"0000-02-29T00:00:00Z"', b'"0001-01-01T00:00:00Z"', b'"0001-01-01T00:00:00+00:01"',
    b'"9999-12-31T23:59:59.9999999Z"', b'"10000-01-01T00:00:00Z"', b'"2026-02-30T00:00:00Z"',
    b'"2024-02-29T24:00:00Z"', b'"2026-02-11T09:14:05.123456789+14:00"', b'"2026-02-11_09:14:05.869+0100"',
    b'"2026-02-11_09:14:05-2359"', b'"1970-01-01T00:00:00Z"', b'"1969-12-31T23:59:59.999999Z"',
    b'"2026-13-01T00:00:00Z"', b'"2026-02-11T09:14:05"', b'"2026-02-11T09:14:05+01"',
]
WRONG_TYPES = [b"null", b"true", b"false", b"0", b"-1", b'""', b'"x"', b"[]", b"{}", b"[1,\"a\",null]",
               b'{"a":1}', b'[{"name":"x"}]', b"1.0", b'"\\u0000"']
BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82", b"\x80",
            b"\xef\xbf\xbe", b"\xf0\x9f\x98", b"\xfe\xff"]
ESCAPES = [b"\\u0000", b"\\ud800", b"\\udc00", b"\\ud83d\\ude00", b"\\u00e9", b"\\/", b"\\\\", b"\\n",
           b"\\u2028", b"\\uZZZZ", b"\\x41", b"\\", b"\\u12"]
STRUCTURAL = [b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b" ", b"\n", b"\r", b"\t", b"\x00", b"/",
              b"data: ", b"event: inotify\n", b"\n\n", b"id: 7\n", b":", b"\xef\xbb\xbf"]


def _pick(rng: random.Random, pattern: re.Pattern[bytes], data: bytes) -> re.Match[bytes] | None:
    """A random match of pattern in data (None if there is none)."""
    if len(data) > 1024:  # look in a random window: regex over whole records would dominate the run
        start = rng.randrange(len(data) - 512)
        matches = list(pattern.finditer(data, start, start + 768))
    else:
        matches = list(pattern.finditer(data))
    return rng.choice(matches) if matches else None


def _replace(data: bytes, m: re.Match[bytes], new: bytes, group: int = 0) -> bytes:
    return data[: m.start(group)] + new + data[m.end(group):]


def flip(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 4))):
        i = rng.randrange(len(b))
        b[i] = b[i] ^ (1 << rng.randrange(8)) if rng.random() < 0.7 else rng.randrange(256)
    return bytes(b)


def insert(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    i = rng.randint(0, len(data))
    return data[:i] + rng.choice(STRUCTURAL) * rng.choice((1, 1, 2, 3)) + data[i:]


def delete(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.choice((1, 1, 2, 8, 64, len(data))):]


def splice(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    other = rng.choice(corpus)
    return data[: rng.randint(0, len(data))] + other[rng.randint(0, len(other)):]


def json_number(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _NUMBER, data) or _pick(rng, _STRING, data)
    if m is None:
        return data
    new = rng.choice(LIMIT_NUMBERS)
    if rng.random() < 0.3:  # numbers in strings (GPFS and S3 carry many numbers as text)
        new = b'"' + new + b'"'
    return _replace(data, m, new)


def json_time(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _TIME, data) or _pick(rng, _STRING, data)
    return _replace(data, m, rng.choice(LIMIT_TIMES)) if m else data


def json_huge_string(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _STRING, data)
    if m is None:
        return data
    unit = rng.choice((b"a", b"/", b"/a", b"\\u00e9", b"\xc3\xa9", b"\\\\", b"[x],", b"%41"))
    return _replace(data, m, b'"' + unit * rng.choice((255, 256, 1024, 4096, 4096, 65536)) + b'"')


def json_wrong_type(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _VALUE, data)
    return _replace(data, m, rng.choice(WRONG_TYPES), 1) if m else data


def json_duplicate_key(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _MEMBER, data)
    if m is None:
        return data
    member = m.group(0)
    if rng.random() < 0.5:  # the same key with another value
        key = member[: member.index(b":") + 1]
        member = key + rng.choice(WRONG_TYPES + LIMIT_NUMBERS[:6])
    copies = rng.choice((1, 1, 2, 100))
    return data[: m.end()] + (b"," + member) * copies + data[m.end():]


def json_deep(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    depth = rng.choice((31, 32, 63, 64, 65, 100, 1000, 100000))
    opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}")))
    nest = opener * depth + b"1" + closer * depth if rng.random() < 0.8 else opener * depth
    m = _pick(rng, _VALUE, data)
    return _replace(data, m, nest, 1) if m else nest + data


def json_bad_utf8(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _STRING, data)
    i = rng.randint(m.start() + 1, m.end() - 1) if m else rng.randint(0, len(data))
    return data[:i] + rng.choice(BAD_UTF8) + data[i:]


def json_nul(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _STRING, data)
    i = rng.randint(m.start() + 1, m.end() - 1) if m else rng.randint(0, len(data))
    return data[:i] + rng.choice((b"\x00", b"\\u0000", b"\x01", b"\x1f", b"\x7f")) + data[i:]


def json_escape(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    m = _pick(rng, _STRING, data)
    if m is None:
        return data
    i = rng.randint(m.start() + 1, m.end() - 1)
    return data[:i] + rng.choice(ESCAPES) + data[i:]


def json_repeat_item(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    """Repeat an array item: a first item, or any string item (many Records, subject principals and
    groups, mask flags)."""
    m = _pick(rng, _STRING_ITEM, data) if rng.random() < 0.5 else None
    m = m or _pick(rng, _ARRAY_HEAD, data)
    if m is None:
        return data
    item = m.group(1)
    return data[: m.start(1)] + (item + b",") * rng.choice((1, 2, 16, 200)) + data[m.start(1):]


Mutation = Callable[[random.Random, bytes, Sequence[bytes]], bytes]

# name -> (weight, function)
MUTATIONS: dict[str, tuple[int, Mutation]] = {
    "flip": (5, flip),
    "insert": (4, insert),
    "delete": (4, delete),
    "splice": (3, splice),
    "json-number": (8, json_number),
    "json-time": (6, json_time),
    "json-huge-string": (1, json_huge_string),
    "json-wrong-type": (8, json_wrong_type),
    "json-duplicate-key": (4, json_duplicate_key),
    "json-deep": (2, json_deep),
    "json-bad-utf8": (3, json_bad_utf8),
    "json-nul": (3, json_nul),
    "json-escape": (4, json_escape),
    "json-repeat-item": (2, json_repeat_item),
}
UNCHANGED = 0.3  # share of records left as they are, so the success paths (routing, encoding) are compared too
_NAMES = list(MUTATIONS)
_WEIGHTS = [MUTATIONS[n][0] for n in _NAMES]


def mutate(rng: random.Random, data: bytes, corpus: Sequence[bytes], counts: dict[str, int]) -> tuple[bytes, str]:
    """Apply one to three weighted mutations (or none): the record and the mutations' names.
    ``counts`` tallies the mutations by name."""
    if rng.random() < UNCHANGED:
        counts["unchanged"] = counts.get("unchanged", 0) + 1
        return data, "unchanged"
    names = rng.choices(_NAMES, _WEIGHTS, k=rng.choice((1, 1, 1, 2, 3)))
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        data = MUTATIONS[name][1](rng, data, corpus)
    return data, "+".join(names)
