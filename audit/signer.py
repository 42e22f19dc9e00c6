"""Signing the chain head: on demand and periodically.

The platform signs only a chain that extends what it signed before: before signing a
new head it re-verifies the events recorded since its previous digest, starting from
the link it signed then (not from the stored one). Whoever rewrites stored events and
recomputes their links therefore cannot get the rewrite signed; the signer refuses and
says where the chain breaks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.chain import AuditStore, Digest
from audit.errors import ChainIntegrityError, EmptyLogError
from audit.signing import key_id, sign_digest
from audit.verify import verify_store

log = logging.getLogger(__name__)

#: Latest digests looked through for this key's previous one.
LOOKBACK_DIGESTS = 1000
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 86_400.0


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


def last_digest_of(store: AuditStore, kid: str) -> Digest | None:
    """The newest digest signed with key ``kid`` (among the latest ones kept)."""
    page = 100
    for offset in range(0, LOOKBACK_DIGESTS, page):
        rows = store.latest_digests(offset, page)
        for d in rows:
            if d.key_id == kid:
                return d
        if len(rows) < page:
            return None
    return None


def sign_head(
    store: AuditStore,
    key: Ed25519PrivateKey,
    *,
    clock: Callable[[], datetime] = _utc_now,
) -> tuple[Digest, bool]:
    """Sign the current chain head; returns the digest and whether it is new.

    Raises :class:`EmptyLogError` on an empty log and :class:`ChainIntegrityError` when
    the events since the previous digest do not extend the chain it signed.
    """
    head = store.chain_head()
    if head is None:
        raise EmptyLogError("No hay eventos que firmar.")
    kid = key_id(key.public_key())
    last = last_digest_of(store, kid)
    if last is not None and last.position > head.position:
        raise ChainIntegrityError(
            f"El último resumen firmado está en la posición {last.position}, más allá de la "
            f"cabeza actual ({head.position}): se eliminaron eventos del final.",
            position=head.position,
        )
    if last is not None and last.position == head.position:
        if last.link == head.link.hex():
            return last, False
        raise ChainIntegrityError(
            f"El eslabón almacenado en la posición {head.position} ya no es el que se firmó.",
            position=head.position,
        )
    seed = (last.position, bytes.fromhex(last.link)) if last is not None else None
    report = verify_store(
        store,
        {kid: key.public_key()},
        after=last.position if last is not None else 0,
        stop=head.position,
        seed=seed,
        check_stored_digests=False,
    )
    if not report.ok or report.head_link != head.link.hex():
        first = report.problems[0].detail if report.problems else "la cabeza no coincide"
        raise ChainIntegrityError(
            f"La cadena no verifica desde la posición {report.from_position}: {first}",
            position=report.problems[0].position if report.problems else head.position,
        )
    digest = sign_digest(key, head.position, head.link, clock())
    created = store.add_digest(digest)
    return digest, created


class PeriodicSigner:
    """Signs the chain head every ``interval_s`` seconds when it has moved.

    Run :meth:`run_forever` in a thread (the embedded server's background workers) or
    as its own process (``ptm audit sign-loop``) beside PostgreSQL deployments; several
    signers with the same key are harmless (one digest per position and key).
    """

    def __init__(
        self,
        store: AuditStore,
        key: Ed25519PrivateKey,
        *,
        interval_s: float = 300.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        assert MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S, interval_s
        self.store = store
        self.key = key
        self.interval_s = interval_s
        self.clock = clock
        self.failures = 0

    def run_once(self) -> Digest | None:
        """Sign if the head moved since the last digest; the new digest or None."""
        if self.store.chain_head() is None:
            return None
        digest, created = sign_head(self.store, self.key, clock=self.clock)
        return digest if created else None

    def run_forever(self, stop: threading.Event) -> None:
        """Sign now, then every ``interval_s`` until ``stop`` is set; never dies on an
        error (a restarted worker signs at once)."""
        while True:
            try:
                digest = self.run_once()
                if digest is not None:
                    log.info("resumen firmado en la posición %s", digest.position)
            except ChainIntegrityError as e:
                # Loud and repeated: an operator must look, the signer must not go quiet.
                self.failures += 1
                log.error("cadena de auditoría rota; no se firma: %s", e.detail)
            except Exception:
                self.failures += 1
                log.exception("no se pudo firmar la cabeza de la cadena")
            if stop.wait(self.interval_s):
                return
