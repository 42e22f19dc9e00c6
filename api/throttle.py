"""Throttling of password attempts (docs/identity.md).

Wrong passwords never lock an account (a lock anyone can trigger is a denial of
service). Instead, before a password is checked:

* per (username, client address): the first ``free`` failures cost nothing, then each
  further failure makes the next try wait ``base_delay_s`` × 2ⁿ (capped);
* per client address: the same progressive delay over every username it tries;
* per account: after ``account_limit`` consecutive failures (NIST SP 800-63B: at most
  100) the account takes passwords only from clients that completed a login for it
  before, until ``account_cooldown_s`` pass without failures or a login completes.

A refused attempt gets 429 with Retry-After and its password is not checked. State is
keyed by the normalised username's user id, whether or not the user exists, so unknown
and existing users are throttled alike. The state lives in this process (each API
worker keeps its own); the second-factor lock is in the event store and holds across
processes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from kernel.errors import RateLimitedError


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class ThrottlePolicy:
    """Numbers of the password throttle."""

    free: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0
    client_free: int = 20
    account_limit: int = 100
    account_cooldown_s: float = 3600.0
    max_keys: int = 100_000


@dataclass
class LoginThrottle:
    """Progressive delays per (account, client) and per client; the per-account bound."""

    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self._clients: OrderedDict[str, _Failures] = OrderedDict()
        self._accounts: OrderedDict[str, _Failures] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()

    def _delay(self, f: _Failures | None, free: int) -> float:
        if f is None or f.count < free:
            return 0.0
        p = self.policy
        return float(min(p.base_delay_s * 2.0 ** (f.count - free), p.max_delay_s))

    def retry_after(self, account: str, client: str, *, now: float | None = None) -> float:
        """Seconds before this client may try a password for this account (0: now)."""
        t = time.monotonic() if now is None else now
        p = self.policy
        with self._lock:
            waits = [0.0]
            pair = self._pairs.get((account, client))
            if pair is not None:
                waits.append(pair.last + self._delay(pair, p.free) - t)
            per_client = self._clients.get(client)
            if per_client is not None:
                waits.append(per_client.last + self._delay(per_client, p.client_free) - t)
            acc = self._accounts.get(account)
            if (
                acc is not None
                and acc.count >= p.account_limit
                and (account, client) not in self._trusted
            ):
                waits.append(acc.last + p.account_cooldown_s - t)
            return max(waits)

    def check(self, account: str, client: str, *, now: float | None = None) -> None:
        """RateLimitedError (429 + Retry-After) while this try must wait."""
        wait = self.retry_after(account, client, now=now)
        if wait > 0:
            raise RateLimitedError(
                "Demasiados intentos de ingreso; espere antes de volver a intentar.",
                field=None,
                retry_after_s=max(1, math.ceil(wait)),
            )

    def _bump(self, table: OrderedDict[object, _Failures], key: object, t: float) -> None:
        f = table.get(key)
        if f is None:
            if len(table) >= self.policy.max_keys:
                table.popitem(last=False)
            f = table[key] = _Failures()
        else:
            table.move_to_end(key)
        f.count += 1
        f.last = t

    def failed(self, account: str, client: str, *, now: float | None = None) -> None:
        """A wrong password (or an unknown username)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            acc = self._accounts.get(account)
            if acc is not None and t - acc.last >= self.policy.account_cooldown_s:
                acc.count = 0
            self._bump(self._pairs, (account, client), t)  # type: ignore[arg-type]
            self._bump(self._clients, client, t)  # type: ignore[arg-type]
            self._bump(self._accounts, account, t)  # type: ignore[arg-type]

    def password_accepted(self, account: str, client: str) -> None:
        """The right password: this client's delays start over (the account's count of
        consecutive failures waits for a completed login)."""
        with self._lock:
            self._pairs.pop((account, client), None)
            self._clients.pop(client, None)

    def login_completed(self, account: str, client: str, *, now: float | None = None) -> None:
        """Both factors were right: the client is known for this account from now on."""
        t = time.monotonic() if now is None else now
        with self._lock:
            self._pairs.pop((account, client), None)
            self._accounts.pop(account, None)
            self._trusted[(account, client)] = t
            self._trusted.move_to_end((account, client))
            while len(self._trusted) > self.policy.max_keys:
                self._trusted.popitem(last=False)

    def reset(self) -> None:
        with self._lock:
            self._pairs.clear()
            self._clients.clear()
            self._accounts.clear()
            self._trusted.clear()
