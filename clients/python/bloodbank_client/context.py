"""The delivery being handled, and what events published while handling it inherit.

The receiver sets the delivery for the duration of the handler (a context variable, so it
follows threads started with ``contextvars.copy_context`` / ``asyncio.to_thread`` and
asyncio tasks); ``Client.publish`` reads it. As in the TypeScript SDK's correlation
middleware: ``correlation_id`` is the delivered event's ``correlation_id`` (its ``event_id``
when it has none) and ``causation_id`` its ``event_id``. W3C trace context continues: same
trace id, a new span id, the parent's flags, ``tracestate`` carried unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional

# Version 00 is what we write; a later version is read by its first four fields (W3C Trace
# Context, "versioning of traceparent"), and ff is invalid.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class Delivery:
    """What a handler's publishes inherit from the event it is handling."""

    event_id: str
    event_type: str
    correlation_id: Optional[str]
    traceparent: Optional[str] = None
    tracestate: Optional[str] = None
    event: Any = None

    @classmethod
    def of(cls, event: Any) -> "Delivery":
        """From a parsed event model or an envelope dict."""
        get = event.get if isinstance(event, Mapping) else lambda k: getattr(event, k, None)
        event_id = get("event_id")
        if not isinstance(event_id, str):
            raise ValueError("a delivery needs the event's event_id")
        str_or_none = lambda v: v if isinstance(v, str) else None  # noqa: E731
        return cls(
            event_id=event_id,
            event_type=str_or_none(get("event_type")) or "",
            correlation_id=str_or_none(get("correlation_id")),
            traceparent=str_or_none(get("traceparent")),
            tracestate=str_or_none(get("tracestate")),
            event=event,
        )


_current: contextvars.ContextVar[Optional[Delivery]] = contextvars.ContextVar(
    "bloodbank_client_delivery", default=None
)


def current_delivery() -> Optional[Delivery]:
    """The delivery whose handler is running here, if any."""
    return _current.get()


@contextlib.contextmanager
def delivery_scope(event: Any) -> Iterator[Delivery]:
    """Runs the block as if handling ``event`` (for code that consumes without ``Receiver``)."""
    delivery = event if isinstance(event, Delivery) else Delivery.of(event)
    token = _current.set(delivery)
    try:
        yield delivery
    finally:
        _current.reset(token)


def parse_traceparent(value: Any) -> Optional[tuple]:
    """``(trace_id, span_id, flags)`` of a valid traceparent, else ``None`` (then it is not continued)."""
    if not isinstance(value, str):
        return None
    m = _TRACEPARENT.match(value)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, flags


def new_span_id() -> str:
    while True:
        span = secrets.token_hex(8)
        if span != "0" * 16:
            return span


def child_traceparent(parent: Any) -> Optional[str]:
    """A traceparent for a span under ``parent``: its trace id and flags, a new span id."""
    parsed = parse_traceparent(parent)
    if parsed is None:
        return None
    trace_id, _, flags = parsed
    return f"00-{trace_id}-{new_span_id()}-{flags}"


def inherited(delivery: Optional[Delivery]) -> dict:
    """The envelope members an event published now inherits from ``delivery``."""
    if delivery is None:
        return {}
    out: dict = {
        "correlation_id": delivery.correlation_id or delivery.event_id,
        "causation_id": delivery.event_id,
    }
    traceparent = child_traceparent(delivery.traceparent)
    if traceparent is not None:
        out["traceparent"] = traceparent
        if delivery.tracestate:
            out["tracestate"] = delivery.tracestate
    return out
