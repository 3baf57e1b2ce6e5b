"""Standard Webhooks signatures (symmetric, ``v1``): verifying deliveries, and signing for tests and senders.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``, HMAC-SHA256 with the
base64-decoded secret (``whsec_`` prefix optional). ``webhook-signature`` is a
space-separated list of ``<version>,<base64>`` so a sender can sign with an old and a new
key during a rotation; one matching ``v1`` entry is enough, other versions are skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any, Optional, Union

from .errors import WebhookVerificationError

DEFAULT_TOLERANCE = 300
_SECRET_PREFIX = "whsec_"


def decode_secret(secret: Union[str, bytes]) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` (or bare base64) secret; bytes are used as they are."""
    if isinstance(secret, (bytes, bytearray)):
        key = bytes(secret)
    else:
        text = (secret[len(_SECRET_PREFIX) :] if secret.startswith(_SECRET_PREFIX) else secret).strip()
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the webhook secret is not base64 (optionally prefixed whsec_)") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _header(headers: Any, name: str) -> Optional[str]:
    """A header from a dict (any case), an ``email.message.Message`` or ASGI-style ``[(bytes, bytes)]``."""
    if hasattr(headers, "items"):
        pairs = headers.items()
    else:
        pairs = headers
    for key, value in pairs:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if key.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def _digest(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    signed = webhook_id.encode("utf-8") + b"." + timestamp.encode("ascii") + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_delivery(webhook_id: str, timestamp: int, body: Union[bytes, str], secret: Union[str, bytes]) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of one delivery."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    mac = _digest(decode_secret(secret), webhook_id, str(int(timestamp)), raw)
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify_delivery(
    headers: Any,
    body: Union[bytes, str],
    secret: Union[str, bytes],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: Optional[float] = None,
) -> str:
    """Checks a delivery's signature over the raw body; returns its ``webhook-id`` (an idempotency key).

    Raises ``WebhookVerificationError`` when a header is missing, the timestamp is not an
    integer or lies more than ``tolerance`` seconds in the past or the future (a replay, or
    a clock far off), or no ``v1`` signature matches. ``ValueError`` for an unusable secret.
    Verify the bytes as received: a body parsed and serialised again no longer matches.
    """
    key = decode_secret(secret)
    webhook_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    missing = [
        n
        for n, v in (("webhook-id", webhook_id), ("webhook-timestamp", timestamp), ("webhook-signature", signatures))
        if not v
    ]
    if missing:
        raise WebhookVerificationError(f"missing header {', '.join(missing)}")
    assert webhook_id is not None and timestamp is not None and signatures is not None
    timestamp = timestamp.strip()
    if not timestamp.isdigit() or not timestamp.isascii():
        raise WebhookVerificationError("webhook-timestamp is not an integer number of seconds")
    skew = int(timestamp) - (time.time() if now is None else now)
    if skew < -tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(-skew)} s old, beyond the {int(tolerance)} s tolerance (a replay?)"
        )
    if skew > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(skew)} s in the future, beyond the {int(tolerance)} s tolerance"
        )
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    expected = _digest(key, webhook_id, timestamp, raw)
    seen_v1 = False
    matched = False
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        seen_v1 = True
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Compare every entry, without stopping at the first match: the time taken says nothing.
        matched |= hmac.compare_digest(candidate, expected)
    if not seen_v1:
        raise WebhookVerificationError("webhook-signature has no v1 signature")
    if not matched:
        raise WebhookVerificationError("no webhook-signature entry matches the body and the secret")
    return webhook_id
