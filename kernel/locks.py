"""Serialising writers per key (origin code), so a hot origin code is written by one
command at a time instead of collapsing into optimistic-concurrency retry storms.

:class:`KeyedLocks` serialises the threads of one process. Across processes the
storage layer may add a database-level lock (see ``adapters.storage``); both satisfy
:class:`Locker`. Keys are always taken in sorted order, all at once, so two commands
can never wait on each other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Protocol


class Locker(Protocol):
    """Something that holds exclusive locks on a set of keys."""

    def hold(self, keys: Sequence[str]) -> AbstractContextManager[None]:
        """Hold all ``keys`` for the duration of the context."""
        ...


class KeyedLocks:
    """In-process exclusive locks by key, reference counted so idle keys are freed."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self.timeout_s = timeout_s

    def _acquire_ref(self, key: str) -> threading.Lock:
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[key] = (lock, users + 1)
            return lock

    def _release_ref(self, key: str) -> None:
        with self._guard:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @contextmanager
    def _one(self, key: str) -> Iterator[None]:
        lock = self._acquire_ref(key)
        try:
            if not lock.acquire(timeout=self.timeout_s):
                raise TimeoutError(f"lock {key!r} not acquired in {self.timeout_s}s")
            try:
                yield
            finally:
                lock.release()
        finally:
            self._release_ref(key)

    @contextmanager
    def hold(self, keys: Sequence[str]) -> Iterator[None]:
        """Hold every key (sorted, deduplicated) until the context exits."""
        with ExitStack() as stack:
            for key in sorted(set(keys)):
                stack.enter_context(self._one(key))
            yield

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)


class ChainedLocker:
    """Hold the keys in each locker in turn (e.g. in-process first, then database)."""

    def __init__(self, *lockers: Locker) -> None:
        self.lockers = lockers

    @contextmanager
    def hold(self, keys: Sequence[str]) -> Iterator[None]:
        with ExitStack() as stack:
            for locker in self.lockers:
                stack.enter_context(locker.hold(keys))
            yield
