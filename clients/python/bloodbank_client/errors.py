"""Errors of the client: one base class, one subclass per family a caller handles differently.

The gateway answers every error as an RFC 9457 ``application/problem+json`` document whose
``code`` comes from the project's one catalogue (``packages/core/src/errors.ts``,
``docs/errors.md``). The class is chosen by the HTTP status, so a code added to the
catalogue later still lands in the right family; ``code`` keeps the exact one.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence


class BloodbankError(Exception):
    """An error from the gateway (or from this client, for local failures).

    ``code`` is the catalogue code (``SCHEMA_VIOLATION``, ``UNAUTHORIZED``...), ``status`` the
    HTTP status (``None`` when no answer arrived), ``detail`` the problem's detail, ``errors``
    its violations (``[{"pointer": "/payload/message", "message": "..."}]``) and ``problem``
    the whole document as received.
    """

    def __init__(
        self,
        code: str,
        status: Optional[int] = None,
        detail: Optional[str] = None,
        *,
        title: Optional[str] = None,
        errors: Sequence[Mapping[str, Any]] = (),
        problem: Optional[Mapping[str, Any]] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        self.code = code
        self.status = status
        self.detail = detail
        self.title = title
        self.errors = [dict(e) for e in errors]
        self.problem = dict(problem) if problem is not None else {}
        self.retry_after = retry_after
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.code}" if self.status is None else f"{self.status} {self.code}"
        text = ": ".join(p for p in (self.title, self.detail) if p)
        lines = [f"{head}: {text}" if text else head]
        for e in self.errors[:10]:
            lines.append(f"  {e.get('pointer') or '/'}: {e.get('message', '')}")
        return "\n".join(lines)


class ValidationError(BloodbankError):
    """The event or request was refused as it is (400, 413, 415, 422): sending it again will not help."""


class InvalidEventError(ValidationError):
    """A received body is not an event this client can read (bad JSON, envelope or schema)."""


class AuthError(BloodbankError):
    """The token is missing, unknown (401) or lacks what the request needs (403)."""


class UnauthorizedError(AuthError):
    """401: no token, or one the gateway does not know."""


class ForbiddenError(AuthError):
    """403: the token may not do this (scope, source, event type, webhook types)."""


class RateLimitedError(BloodbankError):
    """429: over the gateway's rate limit; retried until the deadline, then raised."""


class UnavailableError(BloodbankError):
    """503 (broker down, no confirm, nack) or no answer at all; retried until the deadline, then raised."""


class ConnectionFailedError(UnavailableError):
    """The gateway could not be reached (refused, reset, timed out); ``status`` is ``None``."""


class WebhookVerificationError(Exception):
    """A delivery's Standard Webhooks signature did not verify; the message says why."""


def error_class_for(status: int) -> type:
    if status in (400, 413, 415, 422):
        return ValidationError
    if status == 401:
        return UnauthorizedError
    if status == 403:
        return ForbiddenError
    if status == 429:
        return RateLimitedError
    if status == 503:
        return UnavailableError
    return BloodbankError


def error_from_response(
    status: int, body: bytes, content_type: str, retry_after: Optional[float] = None
) -> BloodbankError:
    """The typed error for a non-2xx answer: from its problem document, else from the status alone."""
    import json

    problem: Mapping[str, Any] = {}
    if body:
        try:
            parsed = json.loads(body.decode("utf-8"))
            if isinstance(parsed, dict):
                problem = parsed
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
    code = problem.get("code") if isinstance(problem.get("code"), str) else f"HTTP_{status}"
    detail = problem.get("detail") if isinstance(problem.get("detail"), str) else None
    if detail is None and not problem and body and not content_type.startswith("text/html"):
        detail = body[:200].decode("utf-8", "replace")
    title = problem.get("title") if isinstance(problem.get("title"), str) else None
    raw_errors = problem.get("errors")
    errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
    cls = error_class_for(status)
    return cls(
        code, status, detail, title=title, errors=errors, problem=problem, retry_after=retry_after
    )
