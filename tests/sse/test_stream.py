"""Filters, frame safety, resume, event loss, keepalive, token expiry, health and metrics over real HTTP."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from fastev.acl import Acl
from fastev.sse import AclAuthorizer, EventHub, ScopeAuthorizer
from tests.sse.helpers import claims, event, rs256, run, serving
from tests.sse.test_delivery import ACL_TEXT, authenticator


def acl_authz() -> AclAuthorizer:
    return AclAuthorizer(Acl.from_text(ACL_TEXT))


def test_path_filters_inside_grants_narrow_and_outside_are_403(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    alice = rs256(signing_key, claims("alice", groups=["/atlas"]))
    scoped = rs256(signing_key, claims("svc", scope="storage.read:/atlas/raw"))
    hub = EventHub(replay=50)
    for i, (path, kind) in enumerate([("/data/atlas/raw/a", "UPLOAD"), ("/data/atlas/calib/b", "UPLOAD"),
                                      ("/data/atlas/raw/c", "DELETE"), ("/data/public/d", "UPLOAD"),
                                      ("/data/atlas/raw/e", "UPLOAD")], 1):
        hub.publish(event(path, kind, i), i)

    async def main() -> None:
        auth = authenticator(pem_file)
        async with serving(hub, auth, acl_authz()) as srv:
            for bad in (["/data"], ["/data/cms"], ["/data/atlasx"], ["/data/atlas/raw", "/data/cms"], ["/"]):
                resp = await srv.get("/events", alice, path=bad)
                assert resp.status == 403, (bad, resp.status)
            for bad_params in ({"path": ["relative"]}, {"path": ["/data/atlas/../cms"]}, {"kind": ["NOPE"]},
                               {"from": "yesterday"}):
                resp = await srv.get("/events", alice, **bad_params)
                assert resp.status == 400, (bad_params, resp.status)
            s = await srv.stream(alice, path=["/data/atlas/raw"], kind=["UPLOAD"], **{"from": "earliest"})
            await s.until_id(5)
            assert s.ids() == [1, 5]
            s2 = await srv.stream(alice, path=["/data/atlas/calib", "/data/public"], **{"from": "earliest"})
            await s2.until_id(4)
            assert s2.ids() == [2, 4]
            await s.close()
            await s2.close()
        async with serving(hub, auth, ScopeAuthorizer("/data")) as srv:
            for bad in (["/data/atlas"], ["/data/atlas/calib"], ["/data/atlas/rawx"]):
                resp = await srv.get("/events", scoped, path=bad)
                assert resp.status == 403, (bad, resp.status)
            s = await srv.stream(scoped, path=["/data/atlas/raw/c"], **{"from": "earliest"})
            await s.until_id(3)
            assert s.ids() == [3]
            await s.close()
    run(main())


def test_path_with_newlines_and_field_names_is_one_frame(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    evil = "/data/public/evil\nid: 999\r\ndata: {\"path\":\"/data/atlas/secret\"}\r\revent: DELETE\n\n:x\u2028\u0085end"
    hub = EventHub(replay=10)
    hub.publish(event(evil, "UPLOAD", 1), 1)
    hub.publish(event("/data/public/nul\x00\nid: 3", "UPLOAD", 2), 2)  # NUL: never canonical, never delivered

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), acl_authz()) as srv:
            s = await srv.stream(rs256(signing_key, claims("nobody")), **{"from": "earliest"})
            hub.publish(event("/data/public/after", "UPLOAD", 3), 3)
            await s.until_id(3)
            assert [(f.id, f.event) for f in s.frames] == [(1, "UPLOAD"), (3, "UPLOAD")]
            assert s.frames[0].data["path"] == evil
            await s.close()
    run(main())


def test_last_event_id_resume_gets_exactly_the_missed_allowed_frames(pem_file: Path,
                                                                     signing_key: rsa.RSAPrivateKey) -> None:
    bob = rs256(signing_key, claims("bob", groups=["/atlas"]))
    hub = EventHub(replay=100)
    paths = ["/data/atlas/a", "/data/cms/x", "/data/atlas/secret/s", "/data/atlas/b", "/data/other",
             "/data/atlas/c", "/data/atlas/secret/t", "/data/atlas/d", "/data/cms/y", "/data/atlas/e"]
    bob_sees = [i for i, p in enumerate(paths, 1) if p.startswith("/data/atlas/") and "/secret" not in p]

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), acl_authz()) as srv:
            s = await srv.stream(bob)
            for i, p in enumerate(paths[:4], 1):
                hub.publish(event(p, "UPLOAD", i), i)
            await s.until_id(4)
            assert s.ids() == [1, 4]
            await s.close()
            for i, p in enumerate(paths[4:8], 5):  # missed while disconnected
                hub.publish(event(p, "UPLOAD", i), i)
            # Header form, then the browser's query form: both replay 6 and 8 only, then go live.
            for how in ("header", "query"):
                if how == "header":
                    r = await srv.stream(bob, srv.after(4))
                else:
                    r = await srv.stream(bob, lastEventId=srv.hub.id_after(4))
                await r.until_id(8)
                assert r.ids() == [6, 8], how
                await r.close()
            r = await srv.stream(bob, srv.after(4))
            for i, p in enumerate(paths[8:], 9):
                hub.publish(event(p, "UPLOAD", i), i)
            await r.until_id(10)
            assert r.ids() == [6, 8, 10]
            assert r.ids() == [i for i in bob_sees if i > 4]
            # A Last-Event-ID at the head replays nothing; from=earliest replays everything bob may see.
            head = await srv.stream(bob, srv.after(10))
            full = await srv.stream(bob, **{"from": "earliest"})
            await full.until_id(10)
            assert full.ids() == bob_sees
            hub.publish(event("/data/atlas/f", "UPLOAD", 11), 11)
            await head.until_id(11)
            assert head.ids() == [11]
            assert all(f.event != "EVENT_LOSS" for st in (r, head, full) for f in st.frames)
            for st in (r, head, full):
                await st.close()
    run(main())


def test_too_old_id_gets_event_loss_then_window_then_live(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    bob = rs256(signing_key, claims("bob", groups=["/atlas"]))
    hub = EventHub(replay=5)
    for i in range(1, 21):  # window keeps 16..20
        hub.publish(event("/data/atlas/f" if i % 2 else "/data/cms/x", "UPLOAD", i), i)

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), acl_authz()) as srv:
            s = await srv.stream(bob, srv.after(3))
            hub.publish(event("/data/atlas/live", "UPLOAD", 21), 21)
            await s.until_id(21)
            assert [(f.id, f.event) for f in s.frames] == [(None, "EVENT_LOSS"), (17, "UPLOAD"), (19, "UPLOAD"),
                                                           (21, "UPLOAD")]
            loss = s.frames[0].data
            assert set(loss) == {"reason"} and not any(ch.isdigit() for ch in loss["reason"])
            await s.close()
            # The id just before the window is still complete: no loss frame.
            ok = await srv.stream(bob, srv.after(16))
            await ok.until_id(21)
            assert [(f.id, f.event) for f in ok.frames] == [(17, "UPLOAD"), (19, "UPLOAD"), (21, "UPLOAD")]
            await ok.close()
    run(main())


def test_keepalive_comments_and_stream_closes_when_token_expires(pem_file: Path,
                                                                  signing_key: rsa.RSAPrivateKey) -> None:
    hub = EventHub(replay=10)

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), acl_authz(), keepalive_s=0.1) as srv:
            exp = int(time.time()) + 2
            short = rs256(signing_key, claims("alice", groups=["/atlas"], exp=exp))
            s = await srv.stream(short)
            hub.publish(event("/data/atlas/a", "UPLOAD", 1), 1)
            await s.until_id(1)
            await s.wait_for(lambda st: st.comments.count("keepalive") >= 3, timeout=3)
            await asyncio.wait_for(s.ended.wait(), timeout=exp - time.time() + 2)
            assert time.time() >= exp - 0.05
            assert s.comments[-1] == "token expired"
            assert s.ids() == [1]
            await s.close()
            resp = await srv.get("/events", short)  # and the same token is now refused
            assert resp.status == 401
    run(main(), timeout=15)


def test_healthz_and_metrics(pem_file: Path, signing_key: rsa.RSAPrivateKey) -> None:
    hub = EventHub(replay=10)

    async def main() -> None:
        async with serving(hub, authenticator(pem_file), acl_authz()) as srv:
            resp = await srv.get("/healthz")
            assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
            s = await srv.stream(rs256(signing_key, claims("alice", groups=["/atlas"])))
            hub.publish(event("/data/atlas/a", "UPLOAD", 1), 1)
            hub.publish(event("/data/cms/a", "UPLOAD", 2), 2)
            hub.publish(event("/data/atlas/b", "UPLOAD", 3), 3)
            await s.until_id(3)
            await srv.get("/events")  # one refused
            text = await (await srv.get("/metrics")).text()
            values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                      if line and not line.startswith("#")}
            assert values["fastev_sse_clients_connected"] == 1
            assert values["fastev_sse_frames_sent_total"] == 2
            assert values["fastev_sse_events_published_total"] == 3
            assert values["fastev_sse_drops_total"] == 0
            assert values["fastev_sse_auth_failures_total"] == 1
            assert "fastev_sse_client_lag_max" in values
            await s.close()
    run(main())
