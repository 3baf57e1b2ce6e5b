import socket
import time
import uuid
from typing import List

import pytest

import bloodbank_client
from bloodbank_client import (
    BloodbankError,
    Client,
    ConnectionFailedError,
    ForbiddenError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
    delivery_scope,
    events,
    uuid7,
)

from .support import RealGateway, StubGateway, envelope, problem


class Sleeps:
    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# --- against a local stand-in: retries -------------------------------------------------------


def test_503_is_retried_with_the_same_event_id_until_202(stub: StubGateway) -> None:
    stub.script = [
        (503, {"retry-after": "0"}, problem(503, "BROKER_UNAVAILABLE")),
        (503, {"retry-after": "0"}, problem(503, "PUBLISH_TIMEOUT")),
    ]
    result = Client(stub.url).publish("test.event.created", {"message": "again"})
    ids = [r["body"]["event_id"] for r in stub.requests]
    assert len(ids) == 3 and len(set(ids)) == 1
    assert result.event_id == ids[0] and result.attempts == 3
    assert uuid.UUID(ids[0]).version == 7
    # The same bytes every time: the timestamp is made once too.
    assert len({r["body"]["timestamp"] for r in stub.requests}) == 1


def test_retry_after_is_honoured_with_jitter_never_sooner(stub: StubGateway) -> None:
    stub.script = [(429, {"retry-after": "2"}, problem(429, "RATE_LIMITED")), (503, {"retry-after": "60"}, problem(503, "BROKER_UNAVAILABLE"))]
    sleeps = Sleeps()
    Client(stub.url, sleep=sleeps).publish("test.event.created", {"message": "x"}, event_id="01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f")
    assert 2.0 <= sleeps.waits[0] <= 2.4
    assert 10.0 <= sleeps.waits[1] <= 12.0  # a long Retry-After is capped at 10 s
    assert {r["body"]["event_id"] for r in stub.requests} == {"01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f"}


def test_without_retry_after_the_backoff_is_jittered_and_grows(stub: StubGateway) -> None:
    stub.script = [(503, {}, problem(503, "PUBLISH_NACKED"))] * 5
    sleeps = Sleeps()
    Client(stub.url, sleep=sleeps).publish("test.event.created", {"message": "x"})
    assert len(sleeps.waits) == 5
    for i, w in enumerate(sleeps.waits):
        assert 0.025 * 2**i <= w <= 0.05 * 2**i + 1e-9


def test_the_deadline_ends_the_retries_with_the_last_typed_error(stub: StubGateway) -> None:
    stub.script = [(503, {"retry-after": "0"}, problem(503, "BROKER_UNAVAILABLE", "broker down"))] * 1000
    started = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        Client(stub.url, retry_for=0.5).publish("test.event.created", {"message": "x"})
    assert time.monotonic() - started < 3
    assert (info.value.code, info.value.status, info.value.detail) == ("BROKER_UNAVAILABLE", 503, "broker down")
    assert len({r["body"]["event_id"] for r in stub.requests}) == 1
    stub.script = [(429, {"retry-after": "5"}, problem(429, "RATE_LIMITED"))]
    with pytest.raises(RateLimitedError) as info:
        Client(stub.url, retry_for=1).publish("test.event.created", {"message": "x"})
    assert info.value.retry_after == 5.0
    stub.script = [(503, {}, problem(503, "BROKER_UNAVAILABLE"))]
    count = len(stub.requests)
    with pytest.raises(UnavailableError):
        Client(stub.url, retry_for=0).publish("test.event.created", {"message": "x"})
    assert len(stub.requests) == count + 1


def test_connection_errors_are_retried_until_the_deadline() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    clock = iter(range(1000))
    client = Client(f"http://127.0.0.1:{port}", retry_for=5, sleep=sleeps, clock=lambda: next(clock) * 0.5)
    with pytest.raises(ConnectionFailedError) as info:
        client.publish("test.event.created", {"message": "x"})
    assert info.value.status is None and "cannot reach the gateway" in str(info.value)
    assert isinstance(info.value, UnavailableError) and len(sleeps.waits) >= 2


def test_other_errors_are_typed_and_not_retried(stub: StubGateway) -> None:
    cases = [
        (400, "MALFORMED_JSON", ValidationError),
        (422, "SCHEMA_VIOLATION", ValidationError),
        (401, "UNAUTHORIZED", UnauthorizedError),
        (403, "FORBIDDEN_SCOPE", ForbiddenError),
        (502, "PUBLISH_UNROUTABLE", BloodbankError),
    ]
    for status, code, cls in cases:
        doc = problem(status, code, "nope")
        doc["errors"] = [{"pointer": "/payload/message", "message": "is required"}]
        stub.script = [(status, {}, doc)]
        before = len(stub.requests)
        with pytest.raises(cls) as info:
            Client(stub.url).publish("test.event.created", {})
        assert type(info.value) is cls
        assert (info.value.code, info.value.status, info.value.detail) == (code, status, "nope")
        assert info.value.errors == [{"pointer": "/payload/message", "message": "is required"}]
        assert "/payload/message: is required" in str(info.value)
        assert len(stub.requests) == before + 1


def test_token_headers_and_envelope_members(stub: StubGateway) -> None:
    client = Client(stub.url + "/", token="s3cret")
    assert "s3cret" not in repr(client)
    client.publish(
        "test.event.created",
        events.TestEventCreatedV1Payload(message="typed"),
        correlation_id="01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01",
        extra={"meeting_id": "m-1"},
        source={"app": "py", "host": "h", "trigger_type": "api"},
    )
    req = stub.requests[-1]
    assert req["path"] == "/events"
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["content-type"] == "application/json"
    body = req["body"]
    assert body["payload"] == {"message": "typed"}
    assert body["meeting_id"] == "m-1"
    assert body["correlation_id"] == "01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01"
    with pytest.raises(ValueError):
        client.publish("test.event.created", {}, extra={"event_id": "x"})
    with pytest.raises(TypeError):
        client.publish("test.event.created", ["not", "an", "object"])


def test_explicit_ids_override_what_a_delivery_would_give(stub: StubGateway) -> None:
    parent = envelope(correlation_id="01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01")
    with delivery_scope(parent):
        Client(stub.url).publish("test.event.created", {"message": "x"}, causation_id="01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9eff")
    body = stub.requests[-1]["body"]
    assert body["correlation_id"] == parent["correlation_id"]
    assert body["causation_id"] == "01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9eff"


def test_module_level_publish_reads_the_environment(stub: StubGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOODBANK_URL", stub.url)
    monkeypatch.setenv("BB_TOKEN", "from-env")
    result = bloodbank_client.publish("test.event.created", {"message": "x"})
    assert result.event_id == stub.requests[-1]["body"]["event_id"]
    assert {k.lower(): v for k, v in stub.requests[-1]["headers"].items()}["authorization"] == "Bearer from-env"


def test_uuid7_layout_and_order() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    u = uuid.UUID(ids[0])
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert abs((u.int >> 80) - time.time() * 1000) < 5000


# --- against the real gateway (started by test/python/client.test.ts) ------------------------


def test_real_gateway_accepts_with_202_and_the_event_id(gateway: RealGateway) -> None:
    client = Client(gateway.url, gateway.token)
    event_id = uuid7()
    result = client.publish("test.event.created", {"message": "from python"}, event_id=event_id)
    assert result.event_id == event_id
    assert result.event_type == "test.event.created"
    assert result.correlation_id == event_id  # the gateway starts a chain at the event itself
    assert result.attempts == 1


def test_real_gateway_validation_errors_are_typed(gateway: RealGateway) -> None:
    client = Client(gateway.url, gateway.token)
    with pytest.raises(ValidationError) as info:
        client.publish("test.event.created", {"not_message": 1})
    assert (info.value.status, info.value.code) == (422, "SCHEMA_VIOLATION")
    assert any(e["pointer"] == "/payload/message" for e in info.value.errors)
    with pytest.raises(ValidationError) as info:
        client.publish("test.event.created", {"message": "x"}, correlation_id="not-a-uuid")
    assert info.value.status == 422 and info.value.code in ("INVALID_ENVELOPE", "SCHEMA_VIOLATION")


def test_real_gateway_refuses_without_or_with_an_unknown_token(gateway: RealGateway) -> None:
    if not gateway.token:
        pytest.skip("the gateway runs without tokens")
    for token in (None, "not-a-known-token"):
        with pytest.raises(UnauthorizedError) as info:
            Client(gateway.url, token).publish("test.event.created", {"message": "x"})
        assert (info.value.status, info.value.code) == (401, "UNAUTHORIZED")
    # A type the principal's registry entry does not produce.
    with pytest.raises(ForbiddenError) as info:
        Client(gateway.url, gateway.token).publish("agent.task.completed", {"task_id": "T-1", "agent_name": "a", "status": "succeeded"})
    assert (info.value.status, info.value.code) == (403, "FORBIDDEN_EVENT_TYPE")


TRACE_MARK = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_real_gateway_carries_correlation_causation_and_trace_from_a_delivery(gateway: RealGateway) -> None:
    parent = envelope(
        correlation_id=uuid7(),
        traceparent=f"00-{TRACE_MARK}-00f067aa0ba902b7-01",
    )
    with delivery_scope(parent):
        result = Client(gateway.url, gateway.token).publish(
            "test.event.created", {"message": "python trace e2e"}
        )
    assert result.correlation_id == parent["correlation_id"]
    assert result.causation_id == parent["event_id"]
    # What the bus received (traceparent included) is checked by the Node test from its read-back queue.


def test_retry_after_forms() -> None:
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    from bloodbank_client.client import _retry_after_seconds

    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("3") == 3.0
    assert _retry_after_seconds("3600") == 10.0
    assert _retry_after_seconds("soon") is None
    in_five = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=5), usegmt=True)
    assert 3.5 <= _retry_after_seconds(in_five) <= 5.0
    past = format_datetime(datetime.now(timezone.utc) - timedelta(seconds=50), usegmt=True)
    assert _retry_after_seconds(past) == 0.0
