"""An HTTP endpoint for signed event deliveries, as a plain WSGI and a plain ASGI callable.

Mount ``Receiver(secret, handler).wsgi_app`` in Flask/Django/any WSGI server, or
``.asgi_app`` in Starlette/FastAPI/any ASGI server. Each request is checked and answered:

- 204 the signature verified, the event parsed and the handler returned;
- 401 the Standard Webhooks signature is missing, wrong or outside the time tolerance;
- 400 the body is not an event (not JSON, not an envelope or CloudEvent, not its schema);
- 413 the body is larger than ``max_body_bytes`` (not read);
- 405 not a POST; 411 (WSGI) no Content-Length where the server cannot end the stream;
- 500 the handler raised: the sender delivers it again later.

The handler runs inside the delivery's context, so ``Client.publish`` calls it makes
(directly, or in ``asyncio.to_thread``) carry ``correlation_id``, ``causation_id`` and the
trace context of the delivered event. It may be a plain function or a coroutine function.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Optional, Union

from .context import Delivery, delivery_scope
from .errors import InvalidEventError, WebhookVerificationError
from .parse import parse_event
from .webhooks import DEFAULT_TOLERANCE, decode_secret, verify_delivery

log = logging.getLogger("bloodbank_client.receiver")

DEFAULT_MAX_BODY_BYTES = 1 << 20  # the gateway's own default body limit

Handler = Callable[[Any], Union[None, Awaitable[None]]]

_REASONS = {
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
}


class _Refusal(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _problem(status: int, code: str, detail: str) -> bytes:
    doc = {
        "type": f"https://33god.dev/problems/{code.lower().replace('_', '-')}",
        "title": _REASONS.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    return json.dumps(doc).encode("utf-8")


class Receiver:
    """Verifies, parses and hands each delivered event to ``handler``.

    ``secret`` is the endpoint's Standard Webhooks secret (``whsec_<base64>``); a list of
    secrets accepts any of them (rotation on the receiving side). ``tolerance`` is the
    allowed clock difference in seconds, ``max_body_bytes`` the largest body read.
    """

    def __init__(
        self,
        secret: Union[str, bytes, Iterable[Union[str, bytes]]],
        handler: Handler,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        now: Optional[Callable[[], float]] = None,
    ) -> None:
        secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
        if not secrets:
            raise ValueError("a Receiver needs at least one secret")
        for s in secrets:
            decode_secret(s)  # fail at construction, not at the first delivery
        self._secrets = secrets
        self._handler = handler
        self._tolerance = tolerance
        self._max_body = max_body_bytes
        self._now = now

    # --- shared steps -------------------------------------------------------------------

    def _event(self, headers: Any, body: bytes, content_type: Optional[str]) -> Any:
        now = self._now() if self._now is not None else None
        failure: Optional[WebhookVerificationError] = None
        for secret in self._secrets:
            try:
                verify_delivery(headers, body, secret, self._tolerance, now=now)
                break
            except WebhookVerificationError as exc:
                failure = exc
        else:
            assert failure is not None
            raise _Refusal(401, "WEBHOOK_SIGNATURE_INVALID", str(failure))
        try:
            return parse_event(body, content_type)
        except InvalidEventError as exc:
            raise _Refusal(400, exc.code, str(exc)) from None

    def _check_length(self, declared: Optional[str]) -> Optional[int]:
        if declared is None or declared == "":
            return None
        try:
            length = int(declared)
        except ValueError:
            raise _Refusal(400, "INVALID_REQUEST", "Content-Length is not a number") from None
        if length < 0:
            raise _Refusal(400, "INVALID_REQUEST", "Content-Length is negative")
        if length > self._max_body:
            raise _Refusal(413, "BODY_TOO_LARGE", f"the body is {length} bytes; at most {self._max_body}")
        return length

    def _handler_failed(self, event: Any) -> _Refusal:
        log.exception("handler failed for %s %s", getattr(event, "event_type", "?"), getattr(event, "event_id", "?"))
        return _Refusal(500, "HANDLER_FAILED", "the handler failed; deliver again later")

    # --- WSGI ---------------------------------------------------------------------------

    def wsgi_app(self, environ: dict, start_response: Callable) -> list:
        """A WSGI application (PEP 3333)."""
        try:
            if environ.get("REQUEST_METHOD", "GET").upper() != "POST":
                raise _Refusal(405, "INVALID_REQUEST", "deliveries are POST requests")
            length = self._check_length(environ.get("CONTENT_LENGTH"))
            if length is None:
                # Without a Content-Length the stream has an end only where the server says so
                # (`wsgi.input_terminated`, e.g. for chunked bodies); elsewhere reading would block.
                if not environ.get("wsgi.input_terminated"):
                    raise _Refusal(411, "INVALID_REQUEST", "send a Content-Length")
                body = _read_bounded(environ["wsgi.input"], self._max_body + 1)
                if len(body) > self._max_body:
                    raise _Refusal(413, "BODY_TOO_LARGE", f"the body is larger than {self._max_body} bytes")
            else:
                body = _read_bounded(environ["wsgi.input"], length)
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            event = self._event(headers, body, environ.get("CONTENT_TYPE"))
            with delivery_scope(Delivery.of(event)):
                try:
                    result = self._handler(event)
                    if inspect.isawaitable(result):
                        asyncio.run(_awaited(result))
                except Exception:
                    raise self._handler_failed(event) from None
        except _Refusal as refusal:
            payload = _problem(refusal.status, refusal.code, refusal.detail)
            start_response(
                f"{refusal.status} {_REASONS[refusal.status]}",
                [("Content-Type", "application/problem+json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        start_response("204 No Content", [])
        return []

    # --- ASGI ---------------------------------------------------------------------------

    async def asgi_app(self, scope: dict, receive: Callable, send: Callable) -> None:
        """An ASGI 3 application (``http`` and ``lifespan`` scopes)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            raise RuntimeError(f"Receiver serves HTTP, not {scope['type']!r}")
        status = 204
        payload = b""
        try:
            if scope.get("method", "GET").upper() != "POST":
                raise _Refusal(405, "INVALID_REQUEST", "deliveries are POST requests")
            headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]
            declared = next((v for k, v in headers if k == "content-length"), None)
            self._check_length(declared)
            body = await self._read_asgi(receive)
            content_type = next((v for k, v in headers if k == "content-type"), None)
            event = self._event(headers, body, content_type)
            with delivery_scope(Delivery.of(event)):
                try:
                    if inspect.iscoroutinefunction(self._handler):
                        await self._handler(event)
                    else:
                        # A blocking handler (and the blocking publish in it) must not hold the
                        # event loop; to_thread copies the context, delivery included.
                        result = await asyncio.to_thread(self._handler, event)
                        if inspect.isawaitable(result):
                            await result
                except Exception:
                    raise self._handler_failed(event) from None
        except _Refusal as refusal:
            status = refusal.status
            payload = _problem(refusal.status, refusal.code, refusal.detail)
        except _Disconnected:
            return
        headers_out = [] if not payload else [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(payload)).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": payload})

    async def _read_asgi(self, receive: Callable) -> bytes:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _Refusal(413, "BODY_TOO_LARGE", f"the body is larger than {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Disconnected(Exception):
    pass


async def _awaited(awaitable: Awaitable) -> None:
    await awaitable


def _read_bounded(stream: Any, length: int) -> bytes:
    chunks = []
    left = length
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
