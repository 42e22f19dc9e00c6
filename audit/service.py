"""The auditors' use cases over one ledger deployment: what the CLI and the API call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from eventsourcing.persistence import Mapper
from sqlalchemy import Engine

from audit import export, replay, signer, signing
from audit.chain import AuditStore, Digest
from audit.errors import EmptyLogError, RangeTooLargeError
from audit.verify import Report, verify_store
from kernel.errors import ConflictError, NotFoundError, ValidationError
from ledger.origin import origin_code_id
from ledger.values import check_instant_range
from projections import queries
from projections.runner import ProjectionRunner

#: Attempts to read the balances read model at a stable position.
LIVE_READ_ATTEMPTS = 5


@dataclass(frozen=True)
class ChainStatus:
    """Where the chain and the signatures stand."""

    event_head: int
    chain_head: int
    chain_link: str | None
    digests: int
    latest_digest: Digest | None
    key_id: str


@dataclass(frozen=True)
class Diff:
    """Replayed balances against the live read model at one position."""

    position: int
    read_model_position: int
    rows: list[replay.DiffRow]


class AuditService:
    """Replay, chain verification, signing and export for one ledger."""

    def __init__(
        self,
        *,
        store: AuditStore,
        mapper: Mapper[Any] | None,
        seed: Callable[[], bytes] | None = None,
        engine: Engine | None = None,
        runner: ProjectionRunner | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.mapper = mapper
        self._seed = seed
        self.engine = engine
        self.runner = runner
        self.clock = clock or (lambda: datetime.now(tz=UTC))
        self._key: Ed25519PrivateKey | None = None
        self._key_lock = threading.Lock()

    # --- keys ----------------------------------------------------------------------

    def private_key(self) -> Ed25519PrivateKey:
        """The platform's signing key (derived once from the seed secret)."""
        with self._key_lock:
            if self._key is None:
                if self._seed is None:
                    raise ConflictError(
                        "Esta instalación no tiene la semilla de firma.", code="no_signing_key"
                    )
                self._key = signing.derive_private_key(self._seed())
            return self._key

    def public_key(self) -> Ed25519PublicKey:
        """The platform's public key."""
        return self.private_key().public_key()

    def public_key_pem(self) -> str:
        """The platform's public key as PEM."""
        return signing.public_key_pem(self.public_key())

    def key_id(self) -> str:
        """Identifier of the platform's public key."""
        return signing.key_id(self.public_key())

    # --- replay --------------------------------------------------------------------

    def replay(
        self,
        *,
        position: int | None = None,
        timestamp: datetime | None = None,
        origin_code: str | None = None,
        holder_id: UUID | None = None,
        max_events: int | None = None,
        progress: Callable[[int], object] | None = None,
        on_total: Callable[[int], object] | None = None,
    ) -> replay.ReplayResult:
        """Balances as of a position or an instant, from the event log alone."""
        if self.mapper is None:
            raise ConflictError("Sin el mapeador de eventos no se puede reproducir.")
        if timestamp is not None and timestamp.tzinfo is None:
            raise ValidationError("La fecha debe llevar zona horaria.", field="timestamp")
        if timestamp is not None:
            # Nothing happened before 2000; far-future instants would also overflow.
            check_instant_range(timestamp, field="timestamp")
        if position is not None and position < 0:
            raise ValidationError("La posición no puede ser negativa.", field="position")
        if origin_code is not None:
            origin_code = origin_code.strip().upper()
            if not self.store.events_of(origin_code_id(origin_code), None, 1):
                raise NotFoundError(
                    "El código de origen no existe.",
                    field="origin_code",
                    code="unknown_origin_code",
                )
        return replay.replay(
            self.store,
            self.mapper,
            position=position,
            timestamp=timestamp,
            origin_code=origin_code,
            holder_id=holder_id,
            max_events=max_events,
            cache=replay.cache_for(self.store),
            progress=progress,
            on_total=on_total,
        )

    def live_balances(self) -> tuple[int, list[dict[str, Any]]]:
        """The balances read model and the position it reflects (read at rest)."""
        if self.engine is None or self.runner is None:
            raise ConflictError("Sin modelo de lectura no hay comparación.")
        for _ in range(LIVE_READ_ATTEMPTS):
            before = self.runner.positions().get("balances", 0)
            rows = queries.all_balances(self.engine)
            after = self.runner.positions().get("balances", 0)
            if before == after:
                return after, rows
            time.sleep(0.05)  # the runner is applying a page; read again once it is done
        raise ConflictError(
            "El modelo de lectura está avanzando; intente de nuevo.", code="read_model_moving"
        )

    def diff(
        self,
        *,
        position: int | None = None,
        max_events: int | None = None,
        progress: Callable[[int], object] | None = None,
        on_total: Callable[[int], object] | None = None,
    ) -> Diff:
        """Replay as of ``position`` (default: the read model's) against the read model.

        Empty when the read model is right; at an earlier position it shows what moved
        since then.
        """
        live_position, live = self.live_balances()
        at = live_position if position is None else position
        result = self.replay(
            position=at, max_events=max_events, progress=progress, on_total=on_total
        )
        return Diff(
            result.position,
            live_position,
            replay.diff_balances(result.rows, live, result.holders),
        )

    # --- chain ---------------------------------------------------------------------

    def status(self) -> ChainStatus:
        """Heads of the log and of the chain, and the latest digest."""
        head = self.store.chain_head()
        latest = self.store.latest_digests(0, 1)
        return ChainStatus(
            event_head=self.store.max_position(),
            chain_head=head.position if head else 0,
            chain_link=head.link.hex() if head else None,
            digests=self.store.digest_count(),
            latest_digest=latest[0] if latest else None,
            key_id=self.key_id() if self._seed is not None else "",
        )

    def verify(
        self,
        *,
        keys: Sequence[Ed25519PublicKey] | None = None,
        after: int = 0,
        stop: int | None = None,
        max_positions: int | None = None,
        extra_digests: Sequence[Digest] = (),
        progress: Callable[[int], object] | None = None,
    ) -> Report:
        """Verify the stored chain (with the given public keys, or the platform's)."""
        ring = signing.keyring(keys if keys is not None else [self.public_key()])
        return verify_store(
            self.store,
            ring,
            after=after,
            stop=stop,
            max_positions=max_positions,
            extra_digests=extra_digests,
            progress=progress,
        )

    def sign(self) -> tuple[Digest, bool]:
        """Sign the chain head now (the same digest again if the head has not moved)."""
        return signer.sign_head(self.store, self.private_key(), clock=self.clock)

    def digests(self, *, offset: int, limit: int) -> tuple[list[Digest], int]:
        """A page of digests, newest first, and how many there are."""
        return list(self.store.latest_digests(offset, limit)), self.store.digest_count()

    def periodic_signer(self, interval_s: float) -> signer.PeriodicSigner:
        """A signer to run in a thread or a worker process."""
        return signer.PeriodicSigner(
            self.store, self.private_key(), interval_s=interval_s, clock=self.clock
        )

    # --- export --------------------------------------------------------------------

    def export_range(
        self, from_position: int | None, to_position: int | None, *, max_positions: int
    ) -> tuple[int, int]:
        """Validate and resolve an export range (inclusive, defaults: whole log)."""
        head = self.store.max_position()
        if head == 0:
            raise EmptyLogError("No hay eventos que exportar.")
        start = 1 if from_position is None else from_position
        end = head if to_position is None else min(to_position, head)
        if start < 1 or start > end:
            raise ValidationError(
                f"Rango inválido: desde {start} hasta {end} (el registro llega a {head}).",
                field="from_position",
            )
        if end - start + 1 > max_positions:
            raise RangeTooLargeError(
                f"El rango tiene {end - start + 1} posiciones; el máximo por exportación es "
                f"{max_positions}.",
                field="to_position",
            )
        return start, end

    def export(self, from_position: int, to_position: int) -> Iterator[str]:
        """The JSON Lines export of a resolved range."""
        return export.export_lines(
            self.store,
            self.mapper,
            from_position=from_position,
            to_position=to_position,
            now=self.clock(),
        )
