"""The webhook action against a real aiohttp receiver on 127.0.0.1 (issue 10, "webhook action")."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import pytest
from aiohttp import web

from fastev.errors import ConfigError
from fastev.workflow.attempt import Attempt, Job
from fastev.workflow.webhook import (
    RETRY_AFTER_MAX_S,
    SIGNATURE_HEADER,
    WebhookRunner,
    cloudevent,
    parse_retry_after,
)
from tests.workflow.receiver import Received, job_of, receiver, run, storage_event

SECRET = b"s3cret-shared-with-the-receiver"
HOSTILE = "/data/atlas/a b/\"quoted\" 'single'/semi;colon $(touch x)/new\nline/é ü %41.root"


def fixed(text: str) -> Any:
    return lambda job: text


def signature_ok(got: Received, secret: bytes = SECRET) -> bool:
    expected = "sha256=" + hmac.new(secret, got.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(got.headers.get(SIGNATURE_HEADER, ""), expected)


def verifying(answer: web.Response) -> Any:
    """A receiver reply that refuses (401) requests whose HMAC does not verify."""
    def reply(got: Received) -> web.Response:
        return answer if signature_ok(got) else web.Response(status=401, text="bad signature")
    return reply


async def once(action: WebhookRunner, job: Job) -> Attempt:
    try:
        return await action.run(job)
    finally:
        await action.close()


def test_structured_mode_sends_the_cloudevent_signed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")  # the editor's trailing newline is not part of the secret
    event = storage_event()
    job = job_of(event)

    async def main() -> tuple[Attempt, list[Received]]:
        async with receiver(verifying(web.json_response({"adler32": "0a1b2c3d"}))) as rec:
            action = WebhookRunner(url=fixed(rec.url + "/hook"), hmac_secret_file=secret)
            return await once(action, job), rec.requests

    attempt, got = run(main())
    assert attempt.outcome == "succeeded" and attempt.http_status == 200
    assert attempt.output == {"adler32": "0a1b2c3d"}
    (req,) = got
    assert req.method == "POST" and req.path == "/hook"
    assert req.headers["Content-Type"] == "application/cloudevents+json"
    assert signature_ok(req)
    ce = orjson.loads(req.body)
    assert ce == {"specversion": "1.0", "id": event["id"], "source": "urn:fastev:dcache-billing",
                  "type": "org.fastev.storage.UPLOAD", "subject": event["path"],
                  "time": "2026-02-11T08:14:05.310000Z", "datacontenttype": "application/json", "data": event}
    assert ce == cloudevent(job)
    assert not any(name.lower().startswith("ce-") for name in req.headers)


def test_binary_mode_sends_ce_headers_and_the_event_json(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    event = storage_event(kind="CLOSE_WRITE", source="GPFS_AUDIT")
    job = job_of(event)

    async def main() -> tuple[Attempt, list[Received]]:
        async with receiver(verifying(web.Response(status=204))) as rec:
            action = WebhookRunner(url=fixed(rec.url + "/bin"), mode="binary", method="PUT",
                                   hmac_secret_file=secret)
            return await once(action, job), rec.requests

    attempt, got = run(main())
    assert attempt.outcome == "succeeded" and attempt.http_status == 204 and attempt.output is None
    (req,) = got
    assert req.method == "PUT"
    assert req.headers["Content-Type"] == "application/json"
    assert req.body == job.event_json and orjson.loads(req.body) == event
    assert signature_ok(req)
    assert req.headers["ce-specversion"] == "1.0"
    assert req.headers["ce-id"] == event["id"]
    assert req.headers["ce-source"] == "urn:fastev:gpfs-audit"
    assert req.headers["ce-type"] == "org.fastev.storage.CLOSE_WRITE"
    assert req.headers["ce-subject"] == event["path"]
    assert req.headers["ce-time"] == "2026-02-11T08:14:05.310000Z"
    assert "ce-datacontenttype" not in req.headers  # binary mode: Content-Type carries it (§3.1.1)


def test_a_wrong_secret_fails_the_receivers_check_and_is_rejected(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"not-the-shared-secret")

    async def main() -> Attempt:
        async with receiver(verifying(web.Response(status=200))) as rec:
            return await once(WebhookRunner(url=fixed(rec.url), hmac_secret_file=secret), job_of(storage_event()))

    attempt = run(main())
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("dead", "rejected", 401)
    assert "bad signature" in attempt.detail


def test_bearer_token_and_its_renewal_are_used(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-first\n")
    job = job_of(storage_event())

    async def main() -> list[str]:
        async with receiver() as rec:
            action = WebhookRunner(url=fixed(rec.url), token_file=token)
            try:
                assert (await action.run(job)).outcome == "succeeded"
                assert (await action.run(job)).outcome == "succeeded"
                renewed = tmp_path / "token.new"
                renewed.write_text("tok-second-renewed\n")
                renewed.replace(token)  # the usual atomic renewal
                assert (await action.run(job)).outcome == "succeeded"
            finally:
                await action.close()
            return [r.headers["Authorization"] for r in rec.requests]

    assert run(main()) == ["Bearer tok-first", "Bearer tok-first", "Bearer tok-second-renewed"]


def test_an_unusable_token_file_sends_nothing_and_retries(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("two words\n")

    async def main() -> tuple[Attempt, Attempt, int]:
        async with receiver() as rec:
            action = WebhookRunner(url=fixed(rec.url), token_file=token)
            try:
                bad = await action.run(job_of(storage_event()))
                token.unlink()
                gone = await action.run(job_of(storage_event()))
            finally:
                await action.close()
            return bad, gone, len(rec.requests)

    bad, gone, sent = run(main())
    assert sent == 0
    for attempt in (bad, gone):
        assert (attempt.outcome, attempt.reason) == ("retry", "failed") and "token_file" in attempt.detail


def test_503_retries_then_200_succeeds() -> None:
    answers = [web.Response(status=503, text="overloaded\nplease wait"), web.json_response({"ok": True})]

    async def main() -> list[Attempt]:
        async with receiver(lambda got: answers.pop(0)) as rec:
            action = WebhookRunner(url=fixed(rec.url))
            try:
                return [await action.run(job_of(storage_event())) for _ in range(2)]
            finally:
                await action.close()

    first, second = run(main())
    assert (first.outcome, first.reason, first.http_status) == ("retry", "failed", 503)
    assert first.retry_after_s is None
    assert first.detail == "HTTP 503: overloaded please wait"
    assert (second.outcome, second.http_status, second.output) == ("succeeded", 200, {"ok": True})


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_retryable_statuses(status: int) -> None:
    async def main() -> Attempt:
        async with receiver(lambda got: web.Response(status=status)) as rec:
            return await once(WebhookRunner(url=fixed(rec.url)), job_of(storage_event()))

    attempt = run(main())
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("retry", "failed", status)


def test_retry_after_seconds_and_http_date_are_honoured() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    answers = [web.Response(status=429, headers={"Retry-After": "7"}),
               web.Response(status=503, headers={"Retry-After": later}),
               web.Response(status=503, headers={"Retry-After": "86400"})]

    async def main() -> list[Attempt]:
        async with receiver(lambda got: answers.pop(0)) as rec:
            action = WebhookRunner(url=fixed(rec.url))
            try:
                return [await action.run(job_of(storage_event())) for _ in range(3)]
            finally:
                await action.close()

    seconds, date, capped = run(main())
    assert seconds.retry_after_s == 7.0
    assert date.retry_after_s is not None and 100 <= date.retry_after_s <= 120
    assert capped.retry_after_s == RETRY_AFTER_MAX_S


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("0", now) == 0.0
    assert parse_retry_after(" 30 ", now) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:00 GMT", now) == 100.0  # now + 100 s
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0    # in the past
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:00 -0000", now) == 100.0  # zone unknown: UTC
    for unreadable in (None, "", "soon", "-5", "1.5e3", "٣"):
        assert parse_retry_after(unreadable, now) is None


def test_400_is_dead_rejected_at_once() -> None:
    async def main() -> Attempt:
        async with receiver(lambda got: web.Response(status=400, text="x" * 500)) as rec:
            return await once(WebhookRunner(url=fixed(rec.url)), job_of(storage_event()))

    attempt = run(main())
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("dead", "rejected", 400)
    assert attempt.detail == "HTTP 400: " + "x" * 200


def test_302_is_rejected_and_not_followed() -> None:
    def reply(got: Received) -> web.Response:
        if got.path == "/elsewhere":
            return web.Response(status=200)
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async def main() -> tuple[Attempt, list[str]]:
        async with receiver(reply) as rec:
            attempt = await once(WebhookRunner(url=fixed(rec.url + "/hook")), job_of(storage_event()))
            return attempt, [r.path for r in rec.requests]

    attempt, paths = run(main())
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("dead", "rejected", 302)
    assert paths == ["/hook"]


def test_a_slow_receiver_is_a_timeout_retry() -> None:
    async def main() -> Attempt:
        async with receiver() as rec:
            async def slow(got: Received) -> web.Response:
                await rec.release.wait()
                return web.Response(status=200)
            rec.reply = slow
            return await once(WebhookRunner(url=fixed(rec.url), timeout_s=0.3), job_of(storage_event()))

    attempt = run(main())
    assert (attempt.outcome, attempt.reason) == ("retry", "timeout")
    assert "0.3 s" in attempt.detail


def test_connection_refused_retries() -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    attempt = run(once(WebhookRunner(url=fixed(f"http://127.0.0.1:{port}/hook")), job_of(storage_event())))
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("retry", "failed", None)
    assert attempt.detail and "\n" not in attempt.detail


def test_batch_with_partial_failure() -> None:
    jobs = [job_of(storage_event(f"/data/f{i}", id=f"{i:032x}")) for i in range(5)]
    failed = [jobs[1].event["id"], jobs[3].event["id"], "ffffffffffffffffffffffffffffffff"]  # last: not ours

    async def main() -> tuple[list[Attempt], list[Received]]:
        async with receiver(lambda got: web.json_response({"failed": failed})) as rec:
            action = WebhookRunner(url=fixed(rec.url), batch_max_events=100, batch_max_wait_ms=50)
            try:
                return await action.run_batch(jobs), rec.requests
            finally:
                await action.close()

    attempts, got = run(main())
    assert [a.outcome for a in attempts] == ["succeeded", "retry", "succeeded", "retry", "succeeded"]
    assert all(a.http_status == 200 for a in attempts)
    assert {a.reason for a in attempts if a.outcome == "retry"} == {"failed"}
    (req,) = got
    assert req.headers["Content-Type"] == "application/cloudevents-batch+json"
    assert orjson.loads(req.body) == [cloudevent(job) for job in jobs]


def test_batch_whole_failure_and_per_target_requests() -> None:
    jobs = [job_of(storage_event(f"/data/{d}/f{i}", id=f"{d}{i:031x}")) for d in "ab" for i in range(3)]

    def reply(got: Received) -> web.Response:
        if got.path == "/a":
            return web.Response(status=503, headers={"Retry-After": "2"})
        return web.Response(status=200, text="not json")

    async def main() -> tuple[list[Attempt], list[Received]]:
        async with receiver(reply) as rec:
            action = WebhookRunner(url=lambda job: rec.url + "/" + job.event["path"].split("/")[2],
                                   batch_max_events=10)
            try:
                return await action.run_batch(jobs), rec.requests
            finally:
                await action.close()

    attempts, got = run(main())
    assert [(a.outcome, a.retry_after_s) for a in attempts] == [("retry", 2.0)] * 3 + [("succeeded", None)] * 3
    assert sorted(r.path for r in got) == ["/a", "/b"]
    for req in got:
        assert [ce["subject"].split("/")[2] for ce in orjson.loads(req.body)] == [req.path[1:]] * 3


def test_hostile_path_reaches_the_receiver_intact() -> None:
    event = storage_event(HOSTILE)
    job = job_of(event)

    async def main() -> list[Received]:
        async with receiver() as rec:
            for mode in ("structured", "binary"):
                attempt = await once(WebhookRunner(url=fixed(rec.url), mode=mode), job)
                assert attempt.outcome == "succeeded"
            return rec.requests

    structured, binary = run(main())
    ce = orjson.loads(structured.body)
    assert ce["data"]["path"] == HOSTILE and ce["subject"] == HOSTILE
    assert orjson.loads(binary.body)["path"] == HOSTILE
    encoded = binary.headers["ce-subject"]  # §3.1.3.2 percent-encoding keeps the header one printable line
    assert encoded.isascii() and " " not in encoded and "\n" not in encoded and '"' not in encoded
    assert unquote(encoded) == HOSTILE


@pytest.mark.parametrize("where", ["header", "url"])
@pytest.mark.parametrize("bad", ["x\r\nX-Injected: 1", "x\nX-Injected: 1", "x\x00y"])
def test_header_injection_through_a_rendered_value_is_refused(where: str, bad: str) -> None:
    async def main() -> tuple[Attempt, list[Attempt], int]:
        async with receiver() as rec:
            if where == "header":
                action = WebhookRunner(url=fixed(rec.url), headers=[("X-Path", fixed(bad))])
            else:
                action = WebhookRunner(url=fixed(rec.url + "/" + bad))
            try:
                return (await action.run(job_of(storage_event())),
                        await action.run_batch([job_of(storage_event())]), len(rec.requests))
            finally:
                await action.close()

    single, batch, sent = run(main())
    assert sent == 0
    for attempt in (single, *batch):
        assert (attempt.outcome, attempt.reason, attempt.http_status) == ("dead", "rejected", None)
        assert "rendered value contains a control character" in attempt.detail  # the action refuses it first


def test_a_failed_rendering_is_rejected_with_its_message() -> None:
    def missing(job: Job) -> str:
        raise ValueError("{output.checksum}: the upstream output has no key 'checksum'")

    attempt = run(once(WebhookRunner(url=fixed("http://127.0.0.1:9/"), headers=[("X-Sum", missing)]),
                       job_of(storage_event())))
    assert (attempt.outcome, attempt.reason) == ("dead", "rejected")
    assert "checksum" in attempt.detail


def test_rendered_headers_and_urls_are_sent() -> None:
    job = job_of(storage_event("/data/run 7/f.root"), output={"sum": "0a1b"})

    async def main() -> list[Received]:
        async with receiver() as rec:
            action = WebhookRunner(url=lambda j: rec.url + "/files?path=" + j.event["path"],
                                   headers=[("X-Sum", lambda j: str((j.output or {})["sum"]))])
            assert (await once(action, job)).outcome == "succeeded"
            return rec.requests

    (req,) = run(main())
    assert req.headers["X-Sum"] == "0a1b"
    where = urlsplit(req.path)
    assert (where.path, parse_qs(where.query)) == ("/files", {"path": ["/data/run 7/f.root"]})


@pytest.mark.parametrize("kwargs, key", [
    ({"mode": "grpc"}, "mode"), ({"method": "GET"}, "method"), ({"timeout_s": 0}, "timeout_s"),
    ({"concurrency": 0}, "concurrency"), ({"batch_max_events": 0}, "batch.max_events"),
    ({"headers": [("Content-Type", fixed("text/plain"))]}, "Content-Type"),
    ({"headers": [("ce-id", fixed("x"))]}, "ce-id"),
    ({"headers": [("X-Fastev-Signature", fixed("x"))]}, "X-Fastev-Signature"),
    ({"headers": [("Bad Name", fixed("x"))]}, "Bad Name"),
])
def test_configuration_mistakes_name_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        WebhookRunner(url=fixed("http://127.0.0.1/"), **kwargs)


def test_authorization_is_reserved_only_with_a_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    auth = [("Authorization", fixed("Basic dXNlcjpwdw=="))]
    assert WebhookRunner(url=fixed("http://127.0.0.1/"), headers=auth).headers[0][0] == "Authorization"
    with pytest.raises(ConfigError, match="Authorization"):
        WebhookRunner(url=fixed("http://127.0.0.1/"), headers=auth, token_file=token)


def test_an_oversized_answer_is_cut_and_gives_no_output() -> None:
    big = b'{"pad": "' + b"x" * (2 << 20) + b'"}'

    async def main() -> Attempt:
        async with receiver(lambda got: web.Response(body=big, content_type="application/json")) as rec:
            return await once(WebhookRunner(url=fixed(rec.url)), job_of(storage_event()))

    attempt = run(main())
    assert (attempt.outcome, attempt.output) == ("succeeded", None)


def test_no_time_attribute_for_an_unrepresentable_time() -> None:
    job = job_of(storage_event(time_us=-70_000_000_000_000_000, path=""))
    ce = cloudevent(job)
    assert "time" not in ce and "subject" not in ce and ce["data"] == job.event


def test_a_reset_connection_retries() -> None:
    def reset(got: Received) -> web.Response:
        assert got.request is not None and got.request.transport is not None
        got.request.transport.abort()  # the receiver's connection drops before any answer
        return web.Response(status=200)

    async def main() -> tuple[Attempt, int]:
        async with receiver(reset) as rec:
            return await once(WebhookRunner(url=fixed(rec.url)), job_of(storage_event())), len(rec.requests)

    attempt, sent = run(main())
    assert sent == 1
    assert (attempt.outcome, attempt.reason, attempt.http_status) == ("retry", "failed", None)


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"{broken", b'"a string"', b""])
def test_a_2xx_body_that_is_not_a_json_object_gives_no_output(body: bytes) -> None:
    async def main() -> Attempt:
        async with receiver(lambda got: web.Response(status=201, body=body)) as rec:
            return await once(WebhookRunner(url=fixed(rec.url)), job_of(storage_event()))

    attempt = run(main())
    assert (attempt.outcome, attempt.http_status, attempt.output) == ("succeeded", 201, None)


def test_connections_are_limited_to_concurrency_and_kept_alive() -> None:
    in_flight = [0, 0]  # now, most seen

    async def main() -> tuple[list[Attempt], set[tuple[str, int] | None]]:
        async with receiver() as rec:
            async def slow(got: Received) -> web.Response:
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
                await asyncio.sleep(0.02)
                in_flight[0] -= 1
                return web.Response(status=200)
            rec.reply = slow
            action = WebhookRunner(url=fixed(rec.url), concurrency=3)
            try:
                attempts = list(await asyncio.gather(*(action.run(job_of(storage_event())) for _ in range(30))))
            finally:
                await action.close()
            return attempts, {r.peer for r in rec.requests}

    attempts, peers = run(main())
    assert [a.outcome for a in attempts] == ["succeeded"] * 30
    assert in_flight[1] <= 3
    assert len(peers) <= 3  # 30 requests over at most 3 kept-alive connections
