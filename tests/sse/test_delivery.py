"""Each identity receives exactly its subset of a mixed stream, live and replayed (ACL mode and scope mode)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.acl import Acl
from fastev.sse import AclAuthorizer, Authenticator, EventHub, ScopeAuthorizer
from tests.sse.helpers import AUDIENCE, ISSUER, claims, event, rs256, run, serving

ACL_TEXT = """
[[allow]]
principals = ["group:/atlas"]
paths = ["/data/atlas"]

[[deny]]
principals = ["user:bob"]
paths = ["/data/atlas/secret"]

[[allow]]
principals = ["*"]
paths = ["/data/public"]
kinds = ["UPLOAD"]

[[allow]]
principals = ["user:carol"]
paths = ["/data/cms"]
"""

# (path, kind, who may see it in ACL mode). The last event is the end marker every reader sees.
ACL_EVENTS: list[tuple[str, str, set[str]]] = [
    ("/data/atlas/f1", "UPLOAD", {"alice", "bob"}),
    ("/data/atlas/secret/s1", "UPLOAD", {"alice"}),
    ("/data/cms/c1", "DELETE", {"carol"}),
    ("/data/atlasx/f", "UPLOAD", set()),  # sibling, not under /data/atlas
    ("/data/public/p1", "DOWNLOAD", set()),  # public is UPLOAD only
    ("/data/public/p2", "UPLOAD", {"alice", "bob", "carol", "nobody"}),
    ("/data/atlas/secret", "DELETE", {"alice"}),
    ("/data/atlas//f2/", "STAGE", {"alice", "bob"}),  # canonicalised before the decision
    ("/data/atlas/../cms/c2", "UPLOAD", set()),  # never canonicalisable: nobody
    ("", "OTHER", set()),  # the no-file path: only rules on "/" cover it
    ("/data/cms/c3", "FLUSH", {"carol"}),
    ("/data/other", "UPLOAD", set()),
    ("/data/atlas/f3", "RENAME", {"alice", "bob"}),
]
MARKER = ("/data/public/end", "UPLOAD")


def identities(key: rsa.RSAPrivateKey) -> dict[str, str]:
    return {
        "alice": rs256(key, claims("alice", groups=["/atlas"])),
        "bob": rs256(key, claims("bob", **{"wlcg.groups": ["/atlas"]})),
        "carol": rs256(key, claims("carol")),
        "nobody": rs256(key, claims("nobody")),
    }


def authenticator(pem: Path) -> Authenticator:
    return Authenticator.from_config({"jwt_algorithms": ["RS256"], "jwt_public_keys": [str(pem)],
                                      "issuer": ISSUER, "audience": AUDIENCE})


def check_subsets(hub: EventHub, auth: Authenticator, authorizer: Any, tokens: dict[str, str],
                  events: list[tuple[str, str, set[str]]], marker: bool = True) -> None:
    """Half the events before the clients connect (replayed with from=earliest), half live, then a marker."""
    half = len(events) // 2
    expected: dict[str, list[int]] = {name: [] for name in tokens}
    for i, (_, _, who) in enumerate(events, 1):
        for name in who:
            expected[name].append(i)

    async def main() -> None:
        async with serving(hub, auth, authorizer) as srv:
            for i, (path, kind, _) in enumerate(events[:half], 1):
                hub.publish(event(path, kind, i), i)
            streams = {name: await srv.stream(tok, **{"from": "earliest"}) for name, tok in tokens.items()}
            for i, (path, kind, _) in enumerate(events[half:], half + 1):
                hub.publish(event(path, kind, i), i)
            end = len(events) + 1 if marker else len(events)
            if marker:
                hub.publish(event(MARKER[0], MARKER[1], end), end)
            for name, s in streams.items():
                await s.until_id(end)
                assert s.ids() == expected[name] + ([end] if marker else []), name
                for f in s.frames:
                    assert f.data["id"] == f"ev-{f.id}" and f.event == f.data["kind"]
                    assert f.data["path"] == (events[f.id - 1][0] if f.id <= len(events) else MARKER[0])
                await s.close()
    run(main())


def test_acl_mode_each_identity_gets_exactly_its_subset(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    check_subsets(EventHub(replay=100), authenticator(pem_file), AclAuthorizer(Acl.from_text(ACL_TEXT)),
                  identities(signing_key), ACL_EVENTS)


SCOPE_EVENTS: list[tuple[str, str, set[str]]] = [
    ("/store/vo/atlas/f1", "UPLOAD", {"atlas", "both"}),
    ("/store/vo/cms/c1", "DELETE", {"both"}),
    ("/store/vo/atlasx/f", "UPLOAD", set()),
    ("/store/vo/cms/c2", "STAGE", {"both"}),
    ("/atlas/f", "UPLOAD", set()),  # outside scope_base
    ("/store/vo/atlas/deep/er/f2", "DOWNLOAD", {"atlas", "both"}),
    ("/store/vo/pub/p", "UPLOAD", {"both"}),
    ("/store/vo", "DELETE", set()),  # the base itself: only a storage.read:/ scope covers it
    ("/store/vo/atlas", "ATTRIB", {"atlas", "both"}),
    ("/store/vo/other/x", "UPLOAD", set()),
]


def test_scope_mode_each_identity_gets_exactly_its_subset(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    # Every token also reads /end, where the end marker goes, so "received nothing else" is checked exactly.
    tokens = {
        "atlas": rs256(signing_key, claims("svc1", scope="storage.read:/atlas storage.create:/cms openid "
                                                          "storage.read:/end")),
        "both": rs256(signing_key, claims("svc2", scope="storage.read:/atlas storage.read:/cms read:/pub "
                                                         "storage.read:/end")),
        "write-only": rs256(signing_key, claims("svc3", scope="storage.create:/ storage.modify:/ storage.read:/end")),
        "escape": rs256(signing_key, claims("svc4", scope="storage.read:/../other storage.read:atlas "
                                                           "storage.read:/end")),
        "groups-ignored": rs256(signing_key, claims("svc5", groups=["/atlas"], scope="storage.read:/end")),
    }
    events = SCOPE_EVENTS + [("/store/vo/end", "UPLOAD", set(tokens))]
    check_subsets(EventHub(replay=100), authenticator(pem_file), ScopeAuthorizer("/store/vo"), tokens, events,
                  marker=False)


def test_old_path_from_a_forbidden_area_is_redacted(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    tok = identities(signing_key)
    hub = EventHub(replay=10)

    def renamed(src: str, dst: str, n: int) -> dict[str, Any]:
        e = event(dst, "RENAME", n)
        e["old_path"] = src
        return e

    hub.publish(renamed("/data/atlas/secret/x", "/data/atlas/y", 1), 1)  # replayed

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), AclAuthorizer(Acl.from_text(ACL_TEXT))) as srv:
            alice = await srv.stream(tok["alice"], **{"from": "earliest"})
            bob = await srv.stream(tok["bob"], **{"from": "earliest"})
            carol = await srv.stream(tok["carol"], **{"from": "earliest"})
            hub.publish(renamed("/data/cms/c", "/data/atlas/z", 2), 2)  # live
            hub.publish(renamed("/data/atlas/q", "/data/atlas/r", 3), 3)
            hub.publish(event("/data/cms/end", "UPLOAD", 4), 4)
            for s in (alice, bob):
                await s.until_id(3)
            await carol.until_id(4)
            assert [f.data["old_path"] for f in alice.frames] == ["/data/atlas/secret/x", None, "/data/atlas/q"]
            assert [f.data["old_path"] for f in bob.frames] == [None, None, "/data/atlas/q"]
            assert carol.ids() == [4]
            assert [f.data["path"] for f in bob.frames] == ["/data/atlas/y", "/data/atlas/z", "/data/atlas/r"]
            for s in (alice, bob, carol):
                await s.close()
    run(main())
