"""Push subscriptions end to end, driven by pytest against the real gateway on RabbitMQ.

Run by test/python/push.test.ts, which starts the Python receiver (push_receiver.py), then a
gateway whose registry pushes ``test.event.created`` to it (``ordered: true``, signed with
``secret_env``), and passes here (one test per run, by node id):

- ``BLOODBANK_TEST_GATEWAY_URL``: the gateway, published to with ``Client.publish``;
- ``BLOODBANK_TEST_PUSH_RECORD``: the receiver's JSON-lines record of what it got and answered;
- ``BLOODBANK_TEST_PUSH_RECEIVER_URL``: the receiver itself;
- ``BLOODBANK_TEST_PUSH_QUEUE``: the push subscription's queue (its dead letters are read
  through the gateway's ``/dead-letters`` API);
- ``BLOODBANK_TEST_PUSH_MAX_ATTEMPTS``: the registry's ``queue_options.max_attempts``;
- ``BLOODBANK_TEST_PUSH_PUBLISHED``: where the ids published here are written, for the Node
  side to check the same events on the broker.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Optional, TypeVar

import pytest

from bloodbank_client import Client, sign_delivery, uuid7

EVENT_TYPE = "test.event.created"
MODEL = "bloodbank_client.events.test.TestEventCreatedV1Event"
ORDERED_EVENTS = 20
FAILING_EVENTS = 3
WAIT_SECONDS = 90.0

T = TypeVar("T")


def setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through `node scripts/test.mjs --no-check test/python/push.test.ts`")
    return value


def records(kind: str) -> List[Dict[str, Any]]:
    path = setting("BLOODBANK_TEST_PUSH_RECORD")
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [r for r in lines if r["kind"] == kind]


def wait_until(probe: Callable[[], T], what: str) -> T:
    """Polls until ``probe`` returns something truthy; a deadline only so a broken run ends."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def get_json(url: str) -> Any:
    """GET a JSON document; None while the gateway answers 503 (the shared broker restarting)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return json.loads(res.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return None
        raise


def publish_all(count: int, label: str, after_first: Optional[Callable[[str], None]] = None) -> List[str]:
    """Publishes ``count`` events of one correlation through the gateway; returns their ids in order."""
    client = Client(setting("BLOODBANK_TEST_GATEWAY_URL"), retry_for=60)
    correlation = uuid7()
    ids = []
    for seq in range(count):
        result = client.publish(EVENT_TYPE, {"message": f"{label} {seq}", "seq": seq}, correlation_id=correlation)
        assert result.correlation_id == correlation
        ids.append(result.event_id)
        if seq == 0 and after_first is not None:
            after_first(result.event_id)
    with open(setting("BLOODBANK_TEST_PUSH_PUBLISHED"), "w", encoding="utf-8") as f:
        json.dump({"correlation_id": correlation, "event_ids": ids}, f)
    return ids


def test_pushed_events_arrive_verified_parsed_and_in_publish_order() -> None:
    receiver_url = setting("BLOODBANK_TEST_PUSH_RECEIVER_URL")

    def first_is_held(event_id: str) -> None:
        # The receiver keeps the first event in its handler: the others are published and
        # queued behind it, so an endpoint sent them side by side would show it (in_flight).
        wait_until(
            lambda: [r for r in records("event") if r["event_id"] == event_id and r["held"]],
            "the first event, held by the receiver",
        )

    ids = publish_all(ORDERED_EVENTS, "ordered", after_first=first_is_held)
    release = urllib.request.Request(urllib.parse.urljoin(receiver_url, "/release"), data=b"", method="POST")
    with urllib.request.urlopen(release, timeout=10) as res:
        assert res.status == 204
    wanted = set(ids)

    got = wait_until(
        lambda: (lambda mine: mine if len(mine) >= len(ids) else None)(
            [r for r in records("event") if r["event_id"] in wanted]
        ),
        f"{len(ids)} pushed events at the receiver",
    )
    # Each once, in the order published (one correlation: ordered delivery, one at a time).
    assert [r["event_id"] for r in got] == ids
    assert [r["payload"] for r in got] == [{"message": f"ordered {i}", "seq": i} for i in range(len(ids))]
    assert {r["correlation_id"] for r in got} == {got[0]["correlation_id"]}
    assert [r["in_flight"] for r in got] == [1] * len(ids), "two events of one correlation at once"
    assert [r["held"] for r in got] == [True] + [False] * (len(ids) - 1)
    # Read into the generated Pydantic model, inside the delivery's context.
    assert {r["model"] for r in got} == {MODEL}
    assert all(r["event_type"] == EVENT_TYPE and r["delivery_event_id"] == r["event_id"] for r in got)

    # Every request a signed structured CloudEvent that verifies with the secret, answered 204.
    # (A request is recorded once the Receiver answered it, just after its handler's record.)
    requests = wait_until(
        lambda: (lambda mine: mine if len(mine) >= len(ids) else None)(
            [r for r in records("request") if r["webhook_id"] in wanted]
        ),
        f"{len(ids)} answered requests",
    )
    assert [r["webhook_id"] for r in requests] == ids
    for r in requests:
        assert r["method"] == "POST"
        assert r["content_type"] == "application/cloudevents+json"
        assert r["verified"] is True, r
        assert r["status"] == 204, r

    # The receiver does check: a delivery signed with another secret is refused, not handled.
    body = json.dumps({"specversion": "1.0", "id": "forged", "type": EVENT_TYPE, "source": "/x", "data": {"message": "x"}})
    now = int(time.time())
    request = urllib.request.Request(
        receiver_url,
        data=body.encode(),
        method="POST",
        headers={
            "content-type": "application/cloudevents+json",
            "webhook-id": "forged",
            "webhook-timestamp": str(now),
            "webhook-signature": sign_delivery("forged", now, body.encode(), "whsec_" + "QUFBQUFBQUFBQUFBQUFBQQ=="),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert not [r for r in records("event") if r["event_id"] == "forged"]


def test_an_endpoint_answering_500_sends_each_event_through_the_retries_to_the_dead_letters() -> None:
    ids = publish_all(FAILING_EVENTS, "failing")
    attempts = int(setting("BLOODBANK_TEST_PUSH_MAX_ATTEMPTS"))
    queue = setting("BLOODBANK_TEST_PUSH_QUEUE")
    gateway = setting("BLOODBANK_TEST_GATEWAY_URL").rstrip("/")
    page_url = f"{gateway}/dead-letters/{urllib.parse.quote(queue, safe='')}?limit=100"

    page = wait_until(
        lambda: (lambda p: p if p and p["count"] >= len(ids) else None)(get_json(page_url)),
        f"{len(ids)} dead letters in {queue}.dlq",
    )
    letters = {item["event_id"]: item for item in page["items"]}
    assert sorted(letters) == sorted(ids), page
    assert page["count"] == len(ids)

    requests = [r for r in records("request") if r["webhook_id"] in set(ids)]
    events = [r for r in records("event") if r["event_id"] in set(ids)]
    for event_id in ids:
        tries = [r for r in requests if r["webhook_id"] == event_id]
        # Each attempt was verified, parsed into the model, handled, and answered 500.
        assert len(tries) == attempts, tries
        assert all(r["verified"] is True and r["status"] == 500 for r in tries), tries
        handled = [r for r in events if r["event_id"] == event_id]
        assert len(handled) == attempts and {r["model"] for r in handled} == {MODEL}
        answer = tries[-1]["response"]
        assert json.loads(answer)["code"] == "HANDLER_FAILED"

        letter = letters[event_id]
        assert letter["queue"] == queue and letter["dlq"] == f"{queue}.dlq"
        assert letter["error_class"] == "PUSH_DELIVERY_FAILED"
        assert letter["attempts"] == attempts
        # The reason names the status and holds the start of what the endpoint answered.
        assert "endpoint answered 500: " + answer[:100] in letter["reason"], (letter["reason"], answer)
        assert letter["event_type"] == EVENT_TYPE
        assert letter["envelope"]["payload"]["message"].startswith("failing ")
