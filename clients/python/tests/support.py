"""Shared fixtures: a scripted stand-in gateway, the real gateway's settings, signed deliveries."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, List, Optional, Tuple

import pytest

from bloodbank_client import sign_delivery, uuid7

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def envelope(event_type: str = "test.event.created", payload: Optional[dict] = None, **members: Any) -> dict:
    env = {
        "event_id": uuid7(),
        "event_type": event_type,
        "timestamp": "2026-12-07T04:00:00.000Z",
        "version": "1.0.0",
        "source": {"app": "tests", "host": "localhost", "trigger_type": "api"},
        "correlation_id": None,
        "causation_id": None,
        "payload": {"message": "hello"} if payload is None else payload,
    }
    env.update(members)
    return env


def signed_headers(body: bytes, secret: str = SECRET, timestamp: Optional[int] = None, webhook_id: str = "msg_1") -> dict:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_delivery(webhook_id, ts, body, secret),
    }


class StubGateway:
    """Answers POST /events from a script of (status, headers, body) and records every request."""

    def __init__(self) -> None:
        self.script: List[Tuple[int, dict, dict]] = []
        self.requests: List[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                stub.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                if stub.script:
                    status, headers, doc = stub.script.pop(0)
                else:
                    status, headers, doc = 202, {}, None
                if doc is None and status == 202:
                    doc = {
                        "event_id": body["event_id"],
                        "event_type": body["event_type"],
                        "correlation_id": body.get("correlation_id") or body["event_id"],
                        "causation_id": body.get("causation_id"),
                    }
                data = json.dumps(doc).encode()
                self.send_response(status)
                ctype = "application/json" if status < 300 else "application/problem+json"
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def problem(status: int, code: str, detail: str = "refused") -> dict:
    return {"type": f"https://33god.dev/problems/{code.lower()}", "title": code, "status": status, "code": code, "detail": detail}


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    s = StubGateway()
    yield s
    s.close()


class RealGateway:
    def __init__(self, url: str, token: Optional[str], principal: Optional[str]) -> None:
        self.url = url
        self.token = token
        self.principal = principal


@pytest.fixture
def gateway() -> RealGateway:
    """The gateway the Node test started (test/python/client.test.ts), else the test is skipped."""
    url = os.environ.get("BLOODBANK_TEST_GATEWAY_URL")
    if not url:
        if os.environ.get("BLOODBANK_TEST_REQUIRE_GATEWAY") == "1":
            pytest.fail("BLOODBANK_TEST_GATEWAY_URL is not set")
        pytest.skip("no gateway: run through `node scripts/test.mjs --no-check test/python`")
    return RealGateway(url, os.environ.get("BLOODBANK_TEST_TOKEN"), os.environ.get("BLOODBANK_TEST_PRINCIPAL"))
