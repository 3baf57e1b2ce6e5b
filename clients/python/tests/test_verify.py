import time

import pytest

from bloodbank_client import WebhookVerificationError, sign_delivery, verify_delivery

from .support import SECRET

BODY = b'{"event_type":"test.event.created","payload":{"message":"hi"}}'


def headers_for(body: bytes = BODY, ts: int = 0, secret: str = SECRET, webhook_id: str = "msg_abc") -> dict:
    ts = ts or int(time.time())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_delivery(webhook_id, ts, body, secret),
    }


def test_the_published_test_vector_of_the_standard_webhooks_libraries_verifies() -> None:
    # The vector of the reference libraries (standard-webhooks/standard-webhooks, libraries/*/tests):
    # secret, message id, timestamp and body as published, and their expected signature.
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = '{"test": 2432232314}'
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert verify_delivery(headers, body, secret, now=1614265330) == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert sign_delivery("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, secret) == headers["webhook-signature"]
    # The same vector is stale today: the tolerance applies to it like to any delivery.
    with pytest.raises(WebhookVerificationError, match="old"):
        verify_delivery(headers, body, secret)
    # One bit off in the signature (the libraries' "invalid signature" case).
    headers["webhook-signature"] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
    with pytest.raises(WebhookVerificationError, match="no webhook-signature entry matches"):
        verify_delivery(headers, body, secret, now=1614265330)


def test_a_valid_delivery_verifies_with_or_without_the_whsec_prefix() -> None:
    h = headers_for()
    assert verify_delivery(h, BODY, SECRET) == "msg_abc"
    assert verify_delivery(h, BODY, SECRET[len("whsec_") :]) == "msg_abc"
    assert verify_delivery(h, BODY.decode(), SECRET) == "msg_abc"


def test_header_names_are_case_insensitive_and_asgi_pairs_work() -> None:
    h = headers_for()
    assert verify_delivery({k.upper(): v for k, v in h.items()}, BODY, SECRET)
    assert verify_delivery([(k.encode(), v.encode()) for k, v in h.items()], BODY, SECRET)


def test_a_tampered_body_or_id_fails() -> None:
    h = headers_for()
    with pytest.raises(WebhookVerificationError, match="no webhook-signature entry matches"):
        verify_delivery(h, BODY.replace(b"hi", b"ho"), SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_delivery({**h, "webhook-id": "msg_other"}, BODY, SECRET)


def test_another_secret_fails() -> None:
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    with pytest.raises(WebhookVerificationError):
        verify_delivery(headers_for(secret=other), BODY, SECRET)


def test_stale_and_future_timestamps_fail_both_ways_at_the_tolerance() -> None:
    now = int(time.time())
    with pytest.raises(WebhookVerificationError, match="old"):
        verify_delivery(headers_for(ts=now - 301), BODY, SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify_delivery(headers_for(ts=now + 301), BODY, SECRET, now=now)
    assert verify_delivery(headers_for(ts=now - 300), BODY, SECRET, now=now)
    assert verify_delivery(headers_for(ts=now + 300), BODY, SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="old"):
        verify_delivery(headers_for(ts=now - 11), BODY, SECRET, tolerance=10, now=now)


def test_several_signatures_any_v1_match_passes_others_are_skipped() -> None:
    h = headers_for()
    wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    h["webhook-signature"] = " ".join([wrong, "v2," + h["webhook-signature"][3:], "v1a,AAAA", "v1,not*base64", h["webhook-signature"], wrong])
    assert verify_delivery(h, BODY, SECRET)
    # Only the old key's signature and foreign versions: no match.
    h["webhook-signature"] = f"{wrong} v1a,AAAA"
    with pytest.raises(WebhookVerificationError, match="no webhook-signature entry matches"):
        verify_delivery(h, BODY, SECRET)
    h["webhook-signature"] = "v1a,AAAA v2,BBBB"
    with pytest.raises(WebhookVerificationError, match="no v1 signature"):
        verify_delivery(h, BODY, SECRET)


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(name: str) -> None:
    h = headers_for()
    del h[name]
    with pytest.raises(WebhookVerificationError, match=f"missing header {name}"):
        verify_delivery(h, BODY, SECRET)


def test_a_timestamp_that_is_not_an_integer_fails() -> None:
    h = headers_for()
    for bad in ("hello", "1614265330.5", "-1", "１２３"):
        h["webhook-timestamp"] = bad
        with pytest.raises(WebhookVerificationError, match="not an integer"):
            verify_delivery(h, BODY, SECRET)


def test_an_unusable_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="base64"):
        verify_delivery(headers_for(), BODY, "whsec_not base64!")
