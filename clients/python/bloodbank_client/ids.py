"""What the client stamps on an event it makes: a UUIDv7 id (RFC 9562, sortable by time) and the time."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timezone

_lock = threading.Lock()
_last_ms = 0
_last_counter = 0


def uuid7() -> str:
    """A UUIDv7; ids made by one process in one millisecond still sort in the order made."""
    global _last_ms, _last_counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or earlier: the clock stepped back) millisecond: bump the 12-bit counter in
            # rand_a, moving to the next millisecond when it overflows.
            ms = _last_ms
            _last_counter += 1
            if _last_counter > 0xFFF:
                ms += 1
                _last_counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _last_counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        _last_ms = ms
        counter = _last_counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def now_rfc3339() -> str:
    """The current time as the envelope writes it: RFC 3339, UTC, milliseconds (`2026-01-15T10:30:00.000Z`)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
