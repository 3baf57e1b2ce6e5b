import base64
import json
import os

import pytest

from bloodbank_client import GenericEvent, InvalidEventError, events, model_for, parse_event
from bloodbank_client.parse import cloudevent_to_envelope

from .support import envelope


def test_a_known_type_becomes_its_generated_model_from_bytes_text_or_dict() -> None:
    env = envelope(payload={"message": "hi"})
    for body in (json.dumps(env).encode(), json.dumps(env), env):
        event = parse_event(body)
        assert type(event) is events.TestEventCreatedV1Event
        assert isinstance(event.payload, events.TestEventCreatedV1Payload)
        assert event.payload.message == "hi"
        assert event.event_id == env["event_id"]


def test_an_unknown_type_falls_back_to_the_generic_envelope_keeping_extensions() -> None:
    env = envelope("theboard.meeting.adjourned", {"anything": [1, 2]}, meeting_id="m-1")
    event = parse_event(env)
    assert type(event) is GenericEvent
    assert event.payload == {"anything": [1, 2]}
    assert event.model_extra["meeting_id"] == "m-1"


def test_wildcard_schemas_apply_by_topic_pattern() -> None:
    assert model_for("webhook.github.issues.opened") is events.WebhookGithubV1Event
    assert model_for("webhook.plane.issue.created") is events.WebhookPlaneV1Event
    assert model_for("webhook.gitlab.push") is GenericEvent


def test_a_payload_that_breaks_its_schema_is_a_schema_violation_with_pointers() -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(envelope(payload={"msg": "no message member"}))
    assert info.value.code == "SCHEMA_VIOLATION"
    assert {"pointer": "/payload/message", "message": "Field required"} in info.value.errors


def test_bad_json_and_bad_envelopes_are_refused() -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event(b"{not json")
    assert (info.value.code, info.value.status) == ("MALFORMED_JSON", 400)
    with pytest.raises(InvalidEventError) as info:
        parse_event(b"[1, 2]")
    assert info.value.code == "INVALID_ENVELOPE"
    with pytest.raises(InvalidEventError) as info:
        parse_event({"payload": {}})
    assert info.value.code == "INVALID_ENVELOPE"
    bad_id = envelope("some.unknown.type")
    bad_id["event_id"] = "not-a-uuid"
    with pytest.raises(InvalidEventError) as info:
        parse_event(bad_id)
    assert info.value.code == "INVALID_ENVELOPE"
    assert any(e["pointer"] == "/event_id" for e in info.value.errors)


def test_the_model_continues_the_trace_members_it_declares_or_keeps() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event = parse_event(envelope(traceparent=tp, tracestate="vendor=1"))
    assert event.traceparent == tp
    assert event.tracestate == "vendor=1"


STRUCTURED = {
    "specversion": "1.0",
    "id": "01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f",
    "type": "test.event.created",
    "source": "urn:33god:app:my%20app?host=box&trigger_type=cli&user_id=u%2B1",
    "time": "2026-01-15T10:30:00.000Z",
    "datacontenttype": "application/json",
    "eventversion": "1.0.0",
    "correlationid": "01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e01",
    "causationid": "01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e02",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "envelopeext": json.dumps({"meeting_id": "m-9", "attempt": 2}),
    "data": {"message": "from a CloudEvent"},
}


def test_a_structured_cloudevent_maps_onto_the_envelope_as_core_does() -> None:
    for content_type in ("application/cloudevents+json; charset=utf-8", None):
        event = parse_event(json.dumps(STRUCTURED).encode(), content_type)
        assert type(event) is events.TestEventCreatedV1Event
        assert event.event_id == STRUCTURED["id"]
        assert event.timestamp == STRUCTURED["time"]
        assert event.version == "1.0.0"
        assert event.correlation_id == STRUCTURED["correlationid"]
        assert event.causation_id == STRUCTURED["causationid"]
        assert event.traceparent == STRUCTURED["traceparent"]
        assert event.payload.message == "from a CloudEvent"
        assert event.source.app == "my app"
        assert (event.source.host, event.source.trigger_type, event.source.user_id) == ("box", "cli", "u+1")
        assert event.model_extra["meeting_id"] == "m-9"
        assert event.model_extra["attempt"] == 2
        assert "datacontenttype" not in event.model_extra


def test_cloudevent_details_data_base64_foreign_sources_and_defaults() -> None:
    ce = {
        "specversion": "1.0",
        "id": "01936f4e-8c2a-7b3d-9e4f-5a6b7c8d9e0f",
        "type": "some.thing.happened",
        "source": "https://GitHub.com/org/repo",
        "data_base64": base64.b64encode(b'{"n": 1}').decode(),
    }
    env = cloudevent_to_envelope(ce)
    assert env["payload"] == {"n": 1}
    assert env["source"] == {"app": "github.com", "host": "unknown", "trigger_type": "api", "uri": ce["source"]}
    assert env["version"] == "1.0.0"
    assert env["correlation_id"] is None and env["causation_id"] is None
    assert cloudevent_to_envelope({**ce, "source": "/sensors/room-7", "data_base64": None})["source"]["app"] == "room-7"
    assert cloudevent_to_envelope({k: v for k, v in ce.items() if k != "data_base64"})["payload"] == {}
    with pytest.raises(InvalidEventError) as info:
        cloudevent_to_envelope({"specversion": "0.3", "type": "", "source": "x"})
    assert info.value.code == "INVALID_CLOUDEVENT"
    assert [e["pointer"] for e in info.value.errors] == ["/specversion", "/id", "/type"]
    with pytest.raises(InvalidEventError, match="envelopeext"):
        cloudevent_to_envelope({**ce, "envelopeext": "{oops"})


def test_the_mapping_agrees_with_core_cloud_event_to_envelope() -> None:
    """Cases mapped by packages/core's cloudEventToEnvelope, written by test/python/client.test.ts."""
    path = os.environ.get("BLOODBANK_TEST_CLOUDEVENT_CASES")
    if not path:
        if os.environ.get("BLOODBANK_TEST_REQUIRE_GATEWAY") == "1":
            pytest.fail("BLOODBANK_TEST_CLOUDEVENT_CASES is not set")
        pytest.skip("run through `node scripts/test.mjs --no-check test/python` for the cross-check with core")
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    assert len(cases) >= 3
    for case in cases:
        assert cloudevent_to_envelope(case["cloudevent"]) == case["envelope"], case["name"]
