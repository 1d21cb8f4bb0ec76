"""Hypothesis strategies: realistic and adversarial records of every source, and mutations."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st


class Lit(str):
    """Emitted verbatim (number literals such as 3.97E9, 1e400, -0)."""


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as (key, value) pairs, so keys may repeat."""


def dumps(v: Any, mode: int = 0) -> str:
    """mode 0: compact, 1: ensure_ascii with spaces, 2: every string char \\u-escaped."""
    if isinstance(v, Lit):
        return str(v)
    if isinstance(v, dict):
        v = Obj(v.items())
    sep = ", " if mode == 1 else ","
    colon = " : " if mode == 1 else ":"
    if isinstance(v, Obj):
        return "{" + sep.join(_str(k, mode) + colon + dumps(x, mode) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + sep.join(dumps(x, mode) for x in v) + "]"
    if isinstance(v, str):
        return _str(v, mode)
    return json.dumps(v)


def _str(s: str, mode: int) -> str:
    if mode == 2:
        out = []
        for ch in s:
            cp = ord(ch)
            if cp >= 0x10000:
                cp -= 0x10000
                out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04X}")
            else:
                out.append(f"\\u{cp:04x}")
        return '"' + "".join(out) + '"'
    return json.dumps(s, ensure_ascii=(mode == 1))


chars = st.characters(blacklist_categories=("Cs",))
small_text = st.one_of(st.sampled_from(["", "a", "door", "pool", "read", "write", "Unknown", "é", "\u2028",
                                        "😀", "x\ny", "tab\t", "\x00", "a:b:c", "Https-1.1:h:1"]),
                       st.text(chars, max_size=8))
components = st.one_of(st.sampled_from(["a", "b", "data", ".", "..", "", "é", "e\u0301", "\n", "\r", "\x00",
                                        "😀", "x y", "%41", "+", "a+b", "%zz", "%C3%A9", "%FF", "..."]),
                       st.text(chars, min_size=1, max_size=4))
paths = st.one_of(
    st.lists(components, max_size=5).map(lambda ps: "/" + "/".join(ps)),
    st.lists(components, min_size=1, max_size=3).map(lambda ps: "/".join(ps)),
    st.sampled_from(["/", "//", "/a/", "Unknown", "", "/pnfs/lab.example/photon/x", "/gpfs/scratch/f",
                     "/pnfs/lab.example/cms/a"]),
)
big_ints = st.one_of(st.integers(-5, 5000), st.integers(-2**65, 2**65),
                     st.sampled_from([2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**63 - 1, 2**63, -2**63]))
num_lits = st.one_of(big_ints.map(lambda i: Lit(str(i))),
                     st.sampled_from(["3.97E9", "1.5", "-0", "0.0", "1e400", "2E-3", "10e+2", "-1.25e-7",
                                      "00012"]).map(Lit))
text_ints = st.one_of(big_ints.map(str), st.sampled_from(["", "12a", "-0", "007", " 5", "1.0", "٣"]))
scalars = st.one_of(st.none(), st.booleans(), num_lits, small_text)
any_value = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(small_text, inner, max_size=3)),
                         max_leaves=6)


BAD = [True]


def maybe(valid: Any) -> Any:
    """Invalid mode: mostly the given strategy, sometimes anything (wrong types, null)."""
    if not BAD[0]:
        return valid
    return st.one_of(valid, valid, valid, valid, valid, valid, any_value)


good_components = st.one_of(st.sampled_from(["a", "b", "data", "", "é", "e\u0301", "\n", "\r", "😀", "x y", "+",
                                             "a+b", "...", ".a", "\\", '"', "\u2028"]),
                            st.text(chars.filter(lambda c: c not in "/\x00"), min_size=1, max_size=4)
                            .filter(lambda c: c not in (".", "..")))
good_paths = st.lists(good_components, max_size=5).map(lambda ps: "/" + "/".join(ps))
good_ints = st.one_of(st.integers(0, 5000), st.integers(0, 2**63 - 1), st.sampled_from([0, 2**63 - 1, 2**32]))
good_num = good_ints.map(lambda i: Lit(str(i)))
good_text_num = st.one_of(good_ints.map(str), good_num, st.just(""), st.sampled_from(["007", "-0"]))


def P() -> Any:
    return paths if BAD[0] else good_paths


def N() -> Any:
    return num_lits if BAD[0] else good_num


def TN() -> Any:
    return st.one_of(text_ints, num_lits) if BAD[0] else good_text_num


def iso_time() -> Any:
    if not BAD[0]:
        return st.builds(
            lambda y, mo, d, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}",
            st.integers(0, 9999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59),
            st.integers(0, 59), st.sampled_from(["", ".1", ".31", ".004", ".123456789"]),
            st.sampled_from(["Z", "+01:00", "-05:30", "+23:59"]))
    good = st.builds(
        lambda y, mo, d, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}",
        st.integers(0, 9999), st.integers(1, 12), st.integers(1, 31), st.integers(0, 23), st.integers(0, 59),
        st.integers(0, 59), st.sampled_from(["", ".1", ".31", ".004", ".123456789", ".1234567890", "."]),
        st.sampled_from(["Z", "+01:00", "-05:30", "+0100", "+24:00", "+01:60", "z", ""]))
    return st.one_of(good, st.sampled_from(["2026-02-29T00:00:00Z", "2024-02-29T23:59:59.999999Z",
                                            "0000-01-01T00:00:00Z", "2026-02-11_09:14:05Z", "bad"]))


def gpfs_time() -> Any:
    if not BAD[0]:
        return st.builds(
            lambda y, mo, d, h, frac, off: f"{y:04d}-{mo:02d}-{d:02d}_{h:02d}:53:11{frac}{off}",
            st.integers(1900, 2100), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
            st.sampled_from(["", ".869", ".1", ".123456789"]), st.sampled_from(["+0100", "-07:00", "Z"]))
    return st.builds(
        lambda y, mo, d, h, frac, off: f"{y:04d}-{mo:02d}-{d:02d}_{h:02d}:53:11{frac}{off}",
        st.integers(1900, 2100), st.integers(1, 13), st.integers(0, 31), st.integers(0, 24),
        st.sampled_from(["", ".869", ".1", ".123456789"]), st.sampled_from(["+0100", "-07:00", "Z", "+01", "+2400"]))


GOOD_SUBJECT_ITEMS = st.sampled_from([
    "UserNamePrincipal[alice]", "UserNamePrincipal[]", "UidPrincipal[1000]", "GidPrincipal[1000,primary]",
    "GidPrincipal[2000]", "FQANPrincipal[/atlas/Role=production,primary]", "FQANPrincipal[/atlas]",
    "GroupNamePrincipal[atlas,primary]", "OpenIdGroup[/dune]", "Origin[192.0.2.10]", "/DC=org/CN=Dan", "Weird",
    "X[y", "UserNamePrincipal[bob,primary]", "Origin[]", "é[x]", "UidPrincipal[0009]", "a[b]c]", "Origin[2001:db8::1]"])
SUBJECT_ITEMS = st.one_of(st.sampled_from([
    "UserNamePrincipal[alice]", "UserNamePrincipal[]", "UidPrincipal[1000]", "UidPrincipal[x]",
    "UidPrincipal[99999999999999999999]", "GidPrincipal[1000,primary]", "GidPrincipal[2000]",
    "GidPrincipal[-1]", "FQANPrincipal[/atlas/Role=production,primary]", "FQANPrincipal[/atlas]",
    "GroupNamePrincipal[atlas,primary]", "OpenIdGroup[/dune]", "OpenIdGroup[/dune]", "Origin[192.0.2.10]",
    "/DC=org/CN=Dan", "Weird", "X[y", "UserNamePrincipal[bob,primary]", "Origin[]", "é[x]",
    "GidPrincipal[9223372036854775807]", "UidPrincipal[0009]"]), small_text)


def billing() -> Any:
    required = {"msgType": maybe(st.sampled_from(["transfer", "request", "remove", "store", "restore", "hit",
                                                  "check", "warning", "other", ""])),
                "date": maybe(iso_time())}
    optional = {
        "isP2p": maybe(st.booleans()), "isWrite": maybe(st.sampled_from(["read", "write", "", "x"])),
        "cellType": maybe(st.sampled_from(["door", "pool", ""])),
        "transferPath": maybe(P()), "billingPath": maybe(P()),
        "fileSize": maybe(N()), "filesize": maybe(N()), "transferSize": maybe(N()),
        "transferTime": maybe(N()), "pnfsid": maybe(small_text), "storageInfo": maybe(small_text),
        "cellName": maybe(small_text), "cellDomain": maybe(small_text),
        "subject": maybe(st.lists(SUBJECT_ITEMS if BAD[0] else GOOD_SUBJECT_ITEMS, max_size=7)),
        "owner": maybe(small_text),
        "mappedUID": maybe(N()), "mappedGID": maybe(N()), "client": maybe(small_text),
        "protocol": maybe(small_text), "version": maybe(scalars), "VERSION": maybe(scalars),
        "status": maybe(st.fixed_dictionaries({}, optional={"code": maybe(N()), "msg": maybe(small_text),
                                                             "extra": any_value})),
        "protocolInfo": maybe(st.fixed_dictionaries({}, optional={
            "host": maybe(small_text), "protocol": maybe(st.sampled_from(["Https", "Xrootd", ""])),
            "versionMajor": maybe(N()), "versionMinor": maybe(N()), "transferTag": maybe(scalars),
            "port": maybe(N())})),
        "hsm": maybe(st.fixed_dictionaries({}, optional={"type": scalars, "instance": scalars,
                                                         "provider": scalars})),
        "meanReadBandwidth": num_lits, "meanWriteBandwidth": num_lits, "session": maybe(small_text),
        "initiator": maybe(small_text), "queuingTime": maybe(num_lits), "cached": maybe(st.booleans()),
        "readIdle": scalars, "localEndpoint": small_text, "moverInfo": any_value, "unread": any_value,
    }
    return st.fixed_dictionaries(required, optional=optional)


def gpfs(watch: bool) -> Any:
    events = (["IN_CREATE", "IN_CLOSE_WRITE", "IN_MOVED_FROM", "IN_MOVED_TO", "IN_DELETE|IN_ISDIR",
               "IN_MOVED_FROM|IN_ISDIR", "IN_IGNORED", "IN_Q_OVERFLOW", "IN_ATTRIB", "IN_OPEN|IN_MOVED_TO", "",
               "X|IN_MOVED_TO"] if watch else
              ["CREATE", "OPEN", "CLOSE", "CLOSEWRITE", "RENAME", "UNLINK", "RMDIR", "XATTRCHANGE",
               "ACCESS_DENIED", "DESTROY", ""])
    text_num = maybe(TN())
    d = {"event": maybe(st.sampled_from(events)), "path": maybe(P()), "eventTime": maybe(gpfs_time())}
    optional = {"fileSize": text_num, "inode": maybe(TN()), "clientUserId": text_num,
                "clientGroupId": text_num, "nfsClientIp": maybe(small_text), "clusterName": maybe(small_text),
                "fsName": maybe(small_text), "poolName": maybe(small_text), "nodeName": maybe(small_text),
                "linkCount": maybe(TN()), "openFlags": maybe(TN()), "ownerUserId": maybe(TN()),
                "ownerGroupId": maybe(TN()), "atime": gpfs_time(), "acls": st.none()}
    if watch:
        d["WF_JSON"] = st.just("0.0.1")
        optional.update({"cookie": maybe(st.sampled_from(["0", "1", "2", "77", ""])), "wd": maybe(TN()),
                         "mask": maybe(st.sampled_from(["0x00000100", "0x40000040", "0X4000000000000000", "0x",
                                                        "100", "0x1g", "0x0123456789abcdef0"])),
                         "filesetID": maybe(TN())})
    else:
        d["LWE_JSON"] = st.just("0.0.5")
        optional.update({"oldPath": maybe(P()), "bytesRead": text_num, "bytesWritten": text_num,
                         "processId": maybe(TN()), "permissions": maybe(TN())})
    return st.fixed_dictionaries(d, optional=optional)


def s3_record() -> Any:
    obj = st.fixed_dictionaries({"key": maybe(P())},
                                optional={"size": maybe(TN()), "eTag": maybe(small_text),
                                          "versionId": maybe(small_text), "sequencer": maybe(small_text)})
    s3 = st.fixed_dictionaries({}, optional={
        "bucket": maybe(st.fixed_dictionaries({}, optional={"name": maybe(st.sampled_from(
            ["beamline-7", "b", "", "a/b", "é"]))})),
        "object": maybe(obj), "s3SchemaVersion": st.just("1.0")})
    rec = st.fixed_dictionaries(
        {"eventName": maybe(st.sampled_from(["ObjectCreated:Put", "s3:ObjectRemoved:Delete", "ObjectRestore:Completed",
                                             "s3:ObjectAccessed:Get", "s3:TestEvent", "s3:", ""])),
         "eventTime": maybe(iso_time()), "s3": maybe(s3)},
        optional={"eventSource": maybe(small_text), "awsRegion": maybe(scalars),
                  "userIdentity": maybe(st.fixed_dictionaries({}, optional={"principalId": maybe(small_text)})),
                  "requestParameters": maybe(st.fixed_dictionaries({}, optional={
                      "sourceIPAddress": maybe(small_text)}))})
    return st.fixed_dictionaries({}, optional={
        "Records": maybe(st.lists(st.one_of(rec, rec, rec, any_value), max_size=3)),
        "EventName": small_text, "Key": small_text})


SOURCES = {"dcache-billing": billing(), "gpfs-audit": gpfs(False), "gpfs-watch": gpfs(True), "s3": s3_record()}
BAD[0] = False
VALID_SOURCES = {"dcache-billing": billing(), "gpfs-audit": gpfs(False), "gpfs-watch": gpfs(True), "s3": s3_record()}
BAD[0] = True

BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe2\x82", b"\x80"]


@st.composite
def record_bytes(draw: Any, source: str, mutate: bool) -> bytes:
    value = draw((SOURCES if mutate else VALID_SOURCES)[source])
    mode = draw(st.integers(0, 2))
    if mutate and isinstance(value, dict) and value and draw(st.booleans()):
        pairs = Obj(value.items())
        k, v = draw(st.sampled_from(list(pairs)))
        pairs.insert(draw(st.integers(0, len(pairs))), (k, draw(st.one_of(st.just(v), any_value))))
        value = pairs
    text = dumps(value, mode).encode("utf-8")
    if not mutate:
        return text
    op = draw(st.integers(0, 7))
    n = len(text)
    i = draw(st.integers(0, n))
    if op == 0:
        return text[:i]
    if op == 1 and n:
        j = min(i, n - 1)
        return text[:j] + bytes([draw(st.integers(0, 255))]) + text[j + 1:]
    if op == 2:
        return text[:i] + draw(st.sampled_from(BAD_UTF8)) + text[i:]
    if op == 3:
        depth = draw(st.sampled_from([63, 64, 65, 100]))
        return text[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}" if n > 2 else text
    if op == 4:
        return draw(st.sampled_from([b"[]", b"1", b'"x"', b"null", b"", b"  ", b"{}", b"\xef\xbb\xbf{}",
                                     b"NaN", b'{"a":Infinity}', b'{"a":"\\ud800"}', b'{"a":"\\udc00x"}',
                                     b'{"a":"\x01"}', b"{,}", b'{"a":1,}', b"[1,]"]))
    if op == 5:
        return text[:i] + draw(st.sampled_from([b"{", b"[", b'"', b"\\", b",", b":", b" ", b"}", b"\\u12"])) + text[i:]
    if op == 6:
        return b"[" * 65 + text
    return text
