"""A push endpoint for test/python/push.test.ts: ``bloodbank_client.Receiver`` served by wsgiref.

    python3 test/python/push_receiver.py --record FILE --secret-env NAME [--fail] [--hold-first]

Listens on 127.0.0.1 with a port the OS chooses and prints ``LISTENING <port>`` once it
accepts connections. Every request is appended to FILE as one JSON line, flushed at once:

- ``{"kind": "event", ...}`` from the handler, which only runs once the Receiver verified the
  signature and parsed the event: the model class it got, the event's ids and payload, and
  how many handlers of the same correlation were running when it began (1: one at a time);
- ``{"kind": "request", ...}`` from a WSGI wrapper around the Receiver: the ``webhook-id``,
  whether the signature verifies with the secret here (checked again, independently of the
  Receiver), the status the Receiver answered and the body it sent.

The server is threaded, so deliveries the gateway sent side by side would also run side by
side here (and show in ``in_flight``). With ``--hold-first`` the handler keeps the first event
(after recording it) until something POSTs to ``/release``: whatever the sender does meanwhile
with the events queued behind it shows in the record. With ``--fail`` the handler raises and
the Receiver answers 500 (problem+json), as a broken endpoint does. Ends on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Dict, List, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bloodbank_client import Receiver, WebhookVerificationError, current_delivery, verify_delivery


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class Journal:
    """Appends JSON lines to a file, one writer at a time."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, record: Dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def make_handler(journal: Journal, fail: bool, release: Optional[threading.Event]) -> Callable[[Any], None]:
    lock = threading.Lock()
    running: Dict[str, int] = {}
    seen = [0]

    def handle(event: Any) -> None:
        key = event.correlation_id or event.event_id
        with lock:
            running[key] = running.get(key, 0) + 1
            in_flight = running[key]
            seen[0] += 1
            hold = release is not None and seen[0] == 1
        try:
            delivery = current_delivery()
            journal.write(
                {
                    "kind": "event",
                    "model": f"{type(event).__module__}.{type(event).__name__}",
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "correlation_id": event.correlation_id,
                    "payload": event.payload.model_dump(),
                    "in_flight": in_flight,
                    "held": hold,
                    "delivery_event_id": delivery.event_id if delivery else None,
                }
            )
            if hold:
                assert release is not None
                release.wait(120)
            if fail:
                raise RuntimeError("this endpoint is configured to fail")
        finally:
            with lock:
                running[key] -= 1

    return handle


def recording(app: Callable, journal: Journal, secret: str, release: threading.Event) -> Callable:
    """Wraps the Receiver's WSGI app: records the request and what the Receiver answered."""

    def wrapped(environ: Dict[str, Any], start_response: Callable) -> List[bytes]:
        if environ.get("PATH_INFO") == "/release":
            release.set()
            start_response("204 No Content", [])
            return []
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        try:
            verify_delivery(headers, body, secret)
            verified = True
        except WebhookVerificationError:
            verified = False
        answered: Dict[str, Any] = {}

        def capture(status: str, response_headers: list, exc_info: Any = None) -> Any:
            answered["status"] = int(status.split(" ", 1)[0])
            return start_response(status, response_headers, exc_info)

        chunks = list(app(environ, capture))
        journal.write(
            {
                "kind": "request",
                "method": environ.get("REQUEST_METHOD"),
                "content_type": environ.get("CONTENT_TYPE"),
                "webhook_id": headers.get("webhook-id"),
                "verified": verified,
                "status": answered.get("status"),
                "response": b"".join(chunks).decode("utf-8"),
            }
        )
        return chunks

    return wrapped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", required=True, help="JSON-lines file to append to")
    parser.add_argument("--secret-env", required=True, help="variable holding the whsec_ secret")
    parser.add_argument("--fail", action="store_true", help="the handler raises: the Receiver answers 500")
    parser.add_argument("--hold-first", action="store_true", help="keep the first event until POST /release")
    args = parser.parse_args()
    secret = os.environ[args.secret_env]

    journal = Journal(args.record)
    release = threading.Event()
    receiver = Receiver(secret, make_handler(journal, args.fail, release if args.hold_first else None))
    server = make_server(
        "127.0.0.1",
        0,
        recording(receiver.wsgi_app, journal, secret, release),
        server_class=_ThreadingWSGIServer,
        handler_class=_Quiet,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    print(f"LISTENING {server.server_port}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
