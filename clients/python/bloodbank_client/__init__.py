"""Python client of the 33GOD event bus: publish through the Bloodbank gateway, receive signed deliveries.

- ``Client`` / ``publish``: ``POST /events`` with retries (503, 429, lost connections) that keep the event id;
- ``verify_delivery``: Standard Webhooks signature check;
- ``parse_event``: an envelope or structured CloudEvent into the generated Pydantic model of its type;
- ``Receiver``: WSGI and ASGI endpoint that verifies, parses and calls a handler in the delivery's context.
"""

from . import events
from .client import DEFAULT_GATEWAY_URL, DEFAULT_RETRY_FOR, Client, PublishResult, publish
from .context import Delivery, current_delivery, delivery_scope
from .errors import (
    AuthError,
    BloodbankError,
    ConnectionFailedError,
    ForbiddenError,
    InvalidEventError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
    WebhookVerificationError,
)
from .ids import uuid7
from .parse import GenericEvent, cloudevent_to_envelope, model_for, parse_event
from .receiver import Receiver
from .webhooks import sign_delivery, verify_delivery

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BloodbankError",
    "Client",
    "ConnectionFailedError",
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_RETRY_FOR",
    "Delivery",
    "ForbiddenError",
    "GenericEvent",
    "InvalidEventError",
    "PublishResult",
    "RateLimitedError",
    "Receiver",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
    "WebhookVerificationError",
    "cloudevent_to_envelope",
    "current_delivery",
    "delivery_scope",
    "events",
    "model_for",
    "parse_event",
    "publish",
    "sign_delivery",
    "uuid7",
    "verify_delivery",
]
