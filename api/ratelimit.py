"""Sliding-window rate limits per key (client address, username, attempt), in process.

Limits here slow down guessing; the hard limits (5 failures lock the account, 5 wrong
acceptance codes lock the purchase) live in the domain and hold across processes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from kernel.errors import RateLimitedError


@dataclass(frozen=True)
class Limit:
    """At most ``hits`` per ``window_s`` seconds."""

    hits: int
    window_s: float


class RateLimiter:
    """Thread-safe sliding windows, with a bound on how many keys are remembered."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}
        self.max_keys = max_keys

    def hit(self, key: str, limit: Limit, *, now: float | None = None) -> None:
        """Count one hit; RateLimitedError (429 with Retry-After) when over the limit."""
        t = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                if len(self._hits) >= self.max_keys:
                    self._evict(t)
                q = self._hits[key] = deque()
            while q and q[0] <= t - limit.window_s:
                q.popleft()
            if len(q) >= limit.hits:
                retry = int(q[0] + limit.window_s - t) + 1
                raise RateLimitedError(field=None, retry_after_s=retry)
            q.append(t)

    def _evict(self, t: float) -> None:
        # Drop the idle keys first; if all are busy, drop the oldest half.
        idle = [k for k, q in self._hits.items() if not q or q[-1] < t - 3600]
        for k in idle or list(self._hits)[: len(self._hits) // 2]:
            del self._hits[k]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


LOGIN = Limit(10, 60.0)
LOGIN_IP = Limit(60, 60.0)
VERIFY = Limit(10, 60.0)
RESEND = Limit(5, 600.0)
CODE_VALIDATION = Limit(10, 60.0)
#: Seller-channel requests (one-time URL, web-service token) per purchase and per buyer;
#: across processes the seller's own message cap (ledger.guard) also holds.
SELLER_CHANNEL_PURCHASE = Limit(5, 3600.0)
SELLER_CHANNEL_BUYER = Limit(60, 3600.0)
