"""Publishing through the Bloodbank gateway (``POST /events``) with the standard library's urllib.

One event is one request, answered 202 once the broker confirmed it. The event id is made
here (UUIDv7) so that every retry of a publish carries the same id and consumers can drop
duplicates: a 503 or a lost connection may hide a publish that in fact went through.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping, Optional

from .context import current_delivery, inherited
from .errors import BloodbankError, ConnectionFailedError, error_from_response
from .ids import now_rfc3339, uuid7

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8682"
#: How long a publish keeps retrying 503, 429 and connection failures, in seconds.
DEFAULT_RETRY_FOR = 30.0
#: The longest one Retry-After makes the client wait before sending again.
MAX_RETRY_AFTER = 10.0
# Backoff when the gateway gives no Retry-After (or 0): 50 ms doubling to 2 s, as the SDK.
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 2.0
_MAX_RESPONSE_BYTES = 1 << 20
_RETRYABLE_STATUS = (429, 503)
# Members the client writes itself; `extra` may not override them.
_ENVELOPE_MEMBERS = frozenset(
    (
        "event_id",
        "event_type",
        "timestamp",
        "version",
        "source",
        "correlation_id",
        "causation_id",
        "payload",
        "traceparent",
        "tracestate",
    )
)


@dataclass(frozen=True)
class PublishResult:
    """The gateway's 202 answer, plus how many requests it took."""

    event_id: str
    event_type: str
    correlation_id: Optional[str]
    causation_id: Optional[str]
    attempts: int



def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped; None when absent or unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _payload_dict(payload: Any) -> Any:
    dump = getattr(payload, "model_dump", None)
    if callable(dump):  # a generated Pydantic payload model
        return dump(mode="json", exclude_unset=True, by_alias=True)
    if not isinstance(payload, Mapping):
        raise TypeError("payload must be a JSON object (a dict or a Pydantic model)")
    return dict(payload)


class Client:
    """A gateway client. Thread-safe: it holds configuration only; every publish is its own request.

    ``token`` is a ``publish`` token (``Authorization: Bearer``), needed when the gateway has
    tokens configured. ``retry_for`` bounds how long 503, 429 and connection failures are
    retried (0: never); ``timeout`` bounds one request.
    """

    def __init__(
        self,
        gateway_url: str = DEFAULT_GATEWAY_URL,
        token: Optional[str] = None,
        *,
        retry_for: float = DEFAULT_RETRY_FOR,
        timeout: float = 15.0,
        source: Optional[Mapping[str, str]] = None,
        user_agent: str = "bloodbank-client-python/0.1",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not gateway_url.startswith(("http://", "https://")):
            raise ValueError(f"gateway_url must be an http(s) URL, got {gateway_url!r}")
        if retry_for < 0 or timeout <= 0:
            raise ValueError("retry_for must be >= 0 and timeout > 0")
        self.gateway_url = gateway_url.rstrip("/")
        self.token = token
        self.retry_for = retry_for
        self.timeout = timeout
        self.source = dict(source) if source is not None else None
        self.user_agent = user_agent
        self._sleep = sleep
        self._clock = clock
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:  # never print the token
        return f"Client({self.gateway_url!r}, token={'***' if self.token else None})"

    def envelope(
        self,
        event_type: str,
        payload: Any,
        *,
        event_id: Optional[str] = None,
        correlation_id: Optional[str] = None,
        causation_id: Optional[str] = None,
        traceparent: Optional[str] = None,
        tracestate: Optional[str] = None,
        source: Optional[Mapping[str, str]] = None,
        version: Optional[str] = None,
        timestamp: Optional[str] = None,
        extra: Optional[Mapping[str, Any]] = None,
    ) -> dict:
        """The envelope ``publish`` sends: ids, timestamp and the delivery's inheritance filled in."""
        env: dict = {}
        for key, value in (extra or {}).items():
            if key in _ENVELOPE_MEMBERS:
                raise ValueError(f"extra member {key!r} is an envelope member: pass it as an argument")
            env[key] = value
        env["event_id"] = event_id or uuid7()
        env["event_type"] = event_type
        env["timestamp"] = timestamp or now_rfc3339()
        if version is not None:
            env["version"] = version
        src = source if source is not None else self.source
        if src is not None:
            env["source"] = dict(src)
        parent = inherited(current_delivery())
        env["correlation_id"] = correlation_id or parent.get("correlation_id")
        env["causation_id"] = causation_id or parent.get("causation_id")
        if traceparent is None:
            traceparent = parent.get("traceparent")
            tracestate = tracestate or parent.get("tracestate")
        if traceparent is not None:
            env["traceparent"] = traceparent
            if tracestate:
                env["tracestate"] = tracestate
        env["payload"] = _payload_dict(payload)
        return env

    def publish(
        self,
        event_type: str,
        payload: Any,
        *,
        retry_for: Optional[float] = None,
        **members: Any,
    ) -> PublishResult:
        """Publishes one event; returns once the gateway answered 202.

        Keyword members are those of ``envelope`` (``event_id``, ``correlation_id``,
        ``causation_id``, ``traceparent``, ``tracestate``, ``source``, ``version``,
        ``timestamp``, ``extra``). Raises a ``BloodbankError`` subclass: ``ValidationError``,
        ``UnauthorizedError``/``ForbiddenError``, or, once ``retry_for`` seconds are spent,
        ``UnavailableError``/``RateLimitedError``/``ConnectionFailedError``.
        """
        env = self.envelope(event_type, payload, **members)
        return self.publish_envelope(env, retry_for=retry_for)

    async def publish_async(self, event_type: str, payload: Any, **kwargs: Any) -> PublishResult:
        """``publish`` in a worker thread (the delivery context goes with it)."""
        return await asyncio.to_thread(self.publish, event_type, payload, **kwargs)

    def publish_envelope(self, envelope: Mapping[str, Any], *, retry_for: Optional[float] = None) -> PublishResult:
        """Sends a complete envelope as it is (same bytes on every retry)."""
        if not isinstance(envelope.get("event_id"), str):
            raise ValueError("the envelope needs an event_id, so that retries carry the same one")
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        budget = self.retry_for if retry_for is None else retry_for
        deadline = self._clock() + budget
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            timeout = self.timeout if budget == 0 else max(0.5, min(self.timeout, remaining))
            try:
                status, headers, data = self._post("/events", body, timeout)
            except _NETWORK_ERRORS as exc:
                if isinstance(getattr(exc, "reason", exc), ssl.SSLCertVerificationError):
                    raise ConnectionFailedError(
                        "SERVICE_UNAVAILABLE", None, f"TLS certificate of {self.gateway_url} not trusted ({_reason(exc)})"
                    ) from exc
                error: BloodbankError = ConnectionFailedError(
                    "SERVICE_UNAVAILABLE",
                    None,
                    f"cannot reach the gateway at {self.gateway_url} ({_reason(exc)})",
                )
                wait = _backoff(attempt)
            else:
                if 200 <= status < 300:
                    return _accepted(data, envelope, attempt)
                retry_after = _retry_after_seconds(headers.get("retry-after"))
                error = error_from_response(status, data, headers.get("content-type", ""), retry_after)
                if status not in _RETRYABLE_STATUS:
                    raise error
                # Never sooner than the gateway asked; jitter keeps many clients from coming back at once.
                wait = max((retry_after or 0.0) * random.uniform(1.0, 1.2), _backoff(attempt))
            if self._clock() + wait > deadline:
                raise error
            self._sleep(wait)

    def _post(self, path: str, body: bytes, timeout: float) -> tuple:
        headers = {
            "content-type": "application/json",
            "accept": "application/json, application/problem+json",
            "user-agent": self.user_agent,
        }
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.gateway_url + path, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return response.status, _lower(response.headers), response.read(_MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as answer:  # a non-2xx answer is an answer, not a network error
            with answer:
                return answer.code, _lower(answer.headers), answer.read(_MAX_RESPONSE_BYTES)


_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, OSError)


def _lower(headers: Any) -> dict:
    return {k.lower(): v for k, v in headers.items()} if headers is not None else {}


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


def _backoff(attempt: int) -> float:
    return random.uniform(0.5, 1.0) * min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1))


def _accepted(data: bytes, envelope: Mapping[str, Any], attempts: int) -> PublishResult:
    try:
        doc = json.loads(data.decode("utf-8")) if data else {}
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    return PublishResult(
        event_id=doc.get("event_id") or envelope["event_id"],
        event_type=doc.get("event_type") or envelope.get("event_type", ""),
        correlation_id=doc.get("correlation_id", envelope.get("correlation_id")),
        causation_id=doc.get("causation_id", envelope.get("causation_id")),
        attempts=attempts,
    )


def publish(
    event_type: str,
    payload: Any,
    *,
    gateway_url: Optional[str] = None,
    token: Optional[str] = None,
    **kwargs: Any,
) -> PublishResult:
    """One-off publish: ``gateway_url`` defaults to ``$BLOODBANK_URL`` (else 127.0.0.1:8682), ``token`` to ``$BB_TOKEN``."""
    client = Client(
        gateway_url or os.environ.get("BLOODBANK_URL") or DEFAULT_GATEWAY_URL,
        token if token is not None else os.environ.get("BB_TOKEN") or None,
    )
    return client.publish(event_type, payload, **kwargs)
