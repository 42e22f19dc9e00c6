"""Reading the log page by page while the caller works on the previous page."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Pages read ahead at most (memory stays bounded: depth × page size rows).
DEPTH = 2


def prefetch(pages: Iterator[Sequence[T]], depth: int = DEPTH) -> Iterator[Sequence[T]]:
    """Iterate ``pages`` with the next one read in a thread meanwhile.

    The database works in its own process and psycopg waits for it without the GIL,
    so reading overlaps decoding, folding or hashing (replay: ~1.3× on two cores).
    Errors of the reader are raised here; closing this iterator stops the reader.
    """
    box: queue.Queue[tuple[Sequence[T] | None, BaseException | None]] = queue.Queue(depth)
    cancelled = threading.Event()

    def read() -> None:
        try:
            for page in pages:
                if cancelled.is_set():
                    return
                box.put((page, None))
            box.put((None, None))
        except BaseException as e:  # handed to the consumer, raised there
            box.put((None, e))

    reader = threading.Thread(target=read, name="ptm-audit-reader", daemon=True)
    reader.start()
    try:
        while True:
            page, error = box.get()
            if error is not None:
                raise error
            if page is None:
                return
            yield page
    finally:
        cancelled.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            with contextlib.suppress(queue.Empty):
                box.get(timeout=0.05)
        reader.join()
