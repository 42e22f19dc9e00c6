"""The ledger application: one method per use case of the purchase flow.

Each command runs in a *unit*: load aggregates, decide, then save every changed
aggregate, the idempotency record and the outbox messages in one atomic write. A
version conflict (another writer got there first) retries the whole unit, a bounded
number of times; writers on the same origin code are serialised by a :class:`Locker`
first, so conflicts stay rare even on a hot code.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    RecordConflictError,
    Transcoding,
)

from kernel.errors import (
    AuthenticationError,
    ConcurrencyError,
    ConflictError,
    DuplicateError,
    IdempotencyKeyReusedError,
    InsufficientBalanceError,
    InvalidCodeError,
    LedgerError,
    LimitExceededError,
    NotFoundError,
    PurchaseEndedError,
    ValidationError,
)
from kernel.idempotency import (
    IdempotencyRecord,
    check_key,
    fingerprint,
    idempotency_record_id,
    same_fingerprint,
)
from kernel.locks import KeyedLocks, Locker
from ledger import values as v
from ledger.codes import (
    acceptance_code_hash,
    generate_numeric_code,
    generate_token,
    hashes_equal,
    keyed_hash,
    lines_digest,
)
from ledger.messages import EMAIL, SMS, WEBHOOK, OutboxMessage, event_id
from ledger.origin import OriginCode, origin_code_id
from ledger.purchase import (
    PENDING,
    TRANSACTION_FIELDS,
    CodePolicy,
    Line,
    Purchase,
)
from ledger.registry import AGENCY, BUYER, OPERATOR, Organisation, organisation_id
from ledger.seller_access import URL_TTL, WS_TTL, SellerAccess, access_id
from ledger.statement import StatementRow, generate_statement

A = TypeVar("A", bound=Aggregate)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(tz=UTC)


class DateAsISO(Transcoding):
    """Calendar dates in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class LedgerConfig:
    """Secrets and limits of the ledger, supplied by the entry point's settings."""

    code_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    policy: CodePolicy = field(default_factory=CodePolicy)
    statement_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    max_retries: int = 10
    snapshot_interval: int = 200

    def __post_init__(self) -> None:
        assert len(self.code_key) >= 16, "code HMAC key shorter than 128 bits"
        assert 1 <= self.max_retries <= 100
        assert self.snapshot_interval >= 10


class _Failure:
    """Returned by a command body that records events *and* ends in an error."""

    def __init__(self, error: LedgerError) -> None:
        self.error = error


class Unit:
    """The aggregates, messages and locks of one attempt of one command."""

    def __init__(self, app: Ledger, now: datetime, stack: ExitStack) -> None:
        self.app = app
        self.now = now
        self._stack = stack
        self._locked = False
        self.loaded: dict[UUID, Aggregate] = {}
        self.outbox: list[OutboxMessage] = []

    def lock(self, keys: Iterable[str]) -> None:
        """Serialise with other writers of these keys; once per unit (no lock order issues)."""
        assert not self._locked, "a unit locks once, all keys together"
        self._locked = True
        self._stack.enter_context(self.app.locker.hold(sorted(set(keys))))

    def get(self, cls: type[A], aggregate_id: UUID) -> A:
        """Load (once per unit) an aggregate; NotFoundError if absent or of another type."""
        if aggregate_id in self.loaded:
            agg = self.loaded[aggregate_id]
        else:
            try:
                agg = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(f"{cls.__name__} no existe.", code="not_found") from None
            self.loaded[aggregate_id] = agg
        if not isinstance(agg, cls):
            raise NotFoundError(f"{cls.__name__} no existe.", code="not_found")
        return agg

    def add(self, agg: Aggregate) -> None:
        """Include a new aggregate in the write."""
        assert agg.id not in self.loaded or self.loaded[agg.id] is agg
        self.loaded[agg.id] = agg

    def send(
        self,
        agg: Aggregate,
        *,
        channel: str,
        recipient: str,
        template: str,
        params: dict[str, str],
        secret_params: Sequence[str] = (),
    ) -> None:
        """Queue a message caused by ``agg``'s latest event (its id keys the message)."""
        eid = event_id(agg.id, agg.version)
        n = sum(1 for m in self.outbox if m.event_id == eid)
        self.outbox.append(
            OutboxMessage(
                key=f"{eid}/{channel}/{n}",
                event_id=eid,
                channel=channel,  # type: ignore[arg-type]
                recipient=recipient,
                template=template,
                params=params,
                secret_params=tuple(secret_params),
            )
        )

    def fail(self, error: LedgerError) -> _Failure:
        """Save what was recorded, then raise ``error`` (and replay it for the same key)."""
        return _Failure(error)

    def pending(self) -> list[Aggregate]:
        return [a for a in self.loaded.values() if a.pending_events]


def _format_local(dt: datetime) -> str:
    return dt.astimezone(v.COLOMBIA_TZ).strftime("%d/%m/%Y %H:%M:%S")


def _access_params(
    p: Purchase, buyer: Organisation, seller: Organisation, access: SellerAccess, now: datetime
) -> dict[str, str]:
    """What the seller is told about a purchase awaiting its quantities."""
    return {
        "purchase_id": str(p.id),
        "buyer_name": buyer.name,
        "buyer_document": f"{buyer.doc_type} {buyer.doc_number}",
        "seller_name": seller.name,
        "seller_document": f"{seller.doc_type} {seller.doc_number}",
        "expires_at": _format_local(access.expires_at),
        "sent_at": _format_local(now),
    }


class Ledger(Application[UUID]):
    """Use cases of the registry and of purchases from authorized mining operators."""

    name = "PTMLedger"
    env = {  # noqa: RUF012 - the library reads this class attribute
        "PERSISTENCE_MODULE": "adapters.storage.memory:Factory",
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "IS_SNAPSHOTTING_ENABLED": "y",
        "ORIGINATOR_ID_TYPE": "uuid",
    }

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        config: LedgerConfig | None = None,
        clock: Clock = utc_now,
        locker: Locker | None = None,
    ) -> None:
        self.config = config or LedgerConfig()
        self.clock = clock
        self.locker: Locker = locker or KeyedLocks()
        super().__init__(env)
        self._local = threading.local()
        self.conflicts = 0  # retried version conflicts, for benchmarks

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- persistence hooks ------------------------------------------------------------

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # Snapshot from the aggregate in hand, never by replaying its history (the
        # library's default re-reads every event of the aggregate each time).
        if self.snapshots is None:
            return
        interval = self.config.snapshot_interval
        crossed = {
            e.originator_id for e in processing_event.events if e.originator_version % interval == 0
        }
        snapshots = [
            OriginCode.Snapshot.take(agg)
            for agg_id, agg in processing_event.aggregates.items()
            if agg_id in crossed and isinstance(agg, OriginCode)
        ]
        if snapshots:
            self.snapshots.put(snapshots)

    def execute(
        self,
        *,
        command: str,
        actor: str,
        idempotency_key: str | None,
        request: dict[str, Any],
        body: Callable[[Unit], dict[str, Any] | _Failure],
    ) -> dict[str, Any]:
        """Run a command body in a unit with retries, idempotency and one atomic write."""
        scope = f"{actor}\x1f{command}"
        request_print = fingerprint(command, request)
        if idempotency_key is not None:
            key = check_key(str(idempotency_key))
            replay = self._replay(scope, key, request_print)
            if replay is not None:
                return replay
        for _attempt in range(self.config.max_retries):
            with ExitStack() as stack:
                unit = Unit(self, self.clock(), stack)
                outcome = body(unit)
                error = outcome.error if isinstance(outcome, _Failure) else None
                result = {} if isinstance(outcome, _Failure) else outcome
                to_save = unit.pending()
                if idempotency_key is not None:
                    stored = {"error": error.as_dict()} if error else {"ok": result}
                    to_save.append(
                        IdempotencyRecord(
                            scope=scope,
                            key=idempotency_key,
                            command=command,
                            fingerprint=request_print,
                            outcome=stored,
                            recorded_at=unit.now,
                        )
                    )
                try:
                    if to_save:
                        recordings = self.save(*to_save, outbox=unit.outbox)
                        self._local.position = max(r.notification.id for r in recordings)
                except (IntegrityError, RecordConflictError):
                    # Someone else wrote first; the cache fast-forwards on the next load.
                    self.conflicts += 1
                    if idempotency_key is not None:
                        replay = self._replay(scope, idempotency_key, request_print)
                        if replay is not None:
                            return replay
                    continue
            if error is not None:
                raise error
            return result
        raise ConcurrencyError(command=command)

    def last_position(self) -> int:
        """Notification id of this thread's latest write (or replayed command)."""
        return int(getattr(self._local, "position", 0))

    def _replay(self, scope: str, key: str, request_print: str) -> dict[str, Any] | None:
        self._local.position = int(self.recorder.max_notification_id() or 0)
        try:
            rec: Aggregate = self.repository.get(idempotency_record_id(scope, key))
        except AggregateNotFoundError:
            return None
        assert isinstance(rec, IdempotencyRecord)
        if not same_fingerprint(rec.fingerprint, request_print):
            raise IdempotencyKeyReusedError(field="idempotency_key")
        if "error" in rec.outcome:
            raise LedgerError.from_dict(rec.outcome["error"])
        return cast(dict[str, Any], rec.outcome["ok"])

    # --- registry -------------------------------------------------------------------

    def register_buyer(
        self,
        *,
        nit: str,
        name: str,
        rucom: str,
        email: str,
        mobile: str,
        actor: str = "system",
        idempotency_key: str | None = None,
    ) -> UUID:
        """Register a trading company (comercializador) by NIT and RUCOM."""
        fields = {
            "doc_type": "NIT",
            "doc_number": v.parse_nit(nit, field="document_number"),
            "name": v.parse_name(name, field="name"),
            "rucom": v.parse_rucom(rucom),
            "email": v.parse_email(email),
            "mobile": v.parse_mobile(mobile),
        }
        return self._register(BUYER, fields, [], actor, idempotency_key)

    def register_operator(
        self,
        *,
        doc_type: str,
        doc_number: str,
        name: str,
        expedientes: Sequence[str],
        email: str,
        mobile: str,
        actor: str = "system",
        idempotency_key: str | None = None,
    ) -> UUID:
        """Register an authorized mining operator with its expedientes and contacts."""
        dtype, dnum = v.parse_document(doc_type, doc_number)
        fields = {
            "doc_type": dtype,
            "doc_number": dnum,
            "name": v.parse_name(name, field="name"),
            "rucom": None,
            "email": v.parse_email(email),
            "mobile": v.parse_mobile(mobile),
        }
        exps = [v.parse_expediente(e, field=f"expedientes[{i}]") for i, e in enumerate(expedientes)]
        return self._register(OPERATOR, fields, exps, actor, idempotency_key)

    def register_agency(
        self,
        *,
        nit: str,
        name: str,
        email: str,
        mobile: str,
        actor: str = "system",
        idempotency_key: str | None = None,
    ) -> UUID:
        """Register the agency (ANM) whose staff are auditors, analysts and admins."""
        fields = {
            "doc_type": "NIT",
            "doc_number": v.parse_nit(nit, field="document_number"),
            "name": v.parse_name(name, field="name"),
            "rucom": None,
            "email": v.parse_email(email),
            "mobile": v.parse_mobile(mobile),
        }
        return self._register(AGENCY, fields, [], actor, idempotency_key)

    def _register(
        self,
        kind: str,
        fields: dict[str, Any],
        expedientes: list[str],
        actor: str,
        idempotency_key: str | None,
    ) -> UUID:
        org_id = organisation_id(fields["doc_type"], fields["doc_number"])

        def body(u: Unit) -> dict[str, Any]:
            try:
                u.get(Organisation, org_id)
            except NotFoundError:
                pass
            else:
                raise DuplicateError(
                    "Ya existe una organización con ese documento.",
                    field="document_number",
                    organisation_id=org_id,
                )
            org = Organisation.register(kind=kind, expedientes=expedientes, now=u.now, **fields)
            assert org.id == org_id
            u.add(org)
            return {"organisation_id": org.id}

        request = {"kind": kind, **fields, "expedientes": expedientes}
        out = self.execute(
            command=f"register_{kind}",
            actor=actor,
            idempotency_key=idempotency_key,
            request=request,
            body=body,
        )
        return UUID(str(out["organisation_id"]))

    def update_contact(
        self,
        *,
        organisation_id: UUID,
        email: str,
        mobile: str,
        actor: str = "system",
        idempotency_key: str | None = None,
    ) -> None:
        """Change an organisation's contact details on record (admin)."""
        em, mob = v.parse_email(email), v.parse_mobile(mobile)

        def body(u: Unit) -> dict[str, Any]:
            u.get(Organisation, organisation_id).update_contact(email=em, mobile=mob, now=u.now)
            return {}

        self.execute(
            command="update_contact",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"org": organisation_id, "email": em, "mobile": mob},
            body=body,
        )

    def register_production(
        self,
        *,
        operator_id: UUID,
        mineral: str,
        quantity: object,
        expediente: str,
        department_code: str,
        municipality_code: str,
        period: str,
        code: str | None = None,
        actor: str = "system",
        idempotency_key: str | None = None,
    ) -> str:
        """Register production: mint an origin code held by the operator. Returns the code."""
        m = v.mineral_or_raise(mineral)
        qty = v.parse_quantity(quantity, m)
        exp = v.parse_expediente(expediente)
        dep, mun = v.parse_place(department_code, municipality_code)
        per = v.parse_period(period)
        given = v.parse_origin_code(code) if code else None

        def body(u: Unit) -> dict[str, Any]:
            op = u.get(Organisation, operator_id)
            if op.kind != OPERATOR:
                raise ValidationError(
                    "La organización no es un explotador minero.",
                    field="operator_id",
                    code="not_an_operator",
                )
            if exp not in op.expedientes:
                raise ValidationError(
                    "El expediente no pertenece al explotador minero.",
                    field="expediente",
                    code="expediente_mismatch",
                )
            oc_code = given or f"CO-{per.replace('-', '')}-{secrets.token_hex(5).upper()}"
            try:
                u.get(OriginCode, origin_code_id(oc_code))
            except NotFoundError:
                pass
            else:
                raise DuplicateError(
                    "El código de origen ya existe.", field="code", origin_code=oc_code
                )
            oc = OriginCode.produce(
                code=oc_code,
                mineral=m.code,
                unit=m.unit,
                operator_id=op.id,
                expediente=exp,
                department_code=dep,
                municipality_code=mun,
                period=per,
                quantity=qty,
                now=u.now,
            )
            u.add(oc)
            op.note_origin_code(oc_code, now=u.now)
            return {"code": oc_code}

        request = {
            "operator": operator_id,
            "mineral": m.code,
            "quantity": qty,
            "expediente": exp,
            "dep": dep,
            "mun": mun,
            "period": per,
            "code": given,
        }
        out = self.execute(
            command="register_production",
            actor=actor,
            idempotency_key=idempotency_key,
            request=request,
            body=body,
        )
        return str(out["code"])

    # --- queries --------------------------------------------------------------------

    def get_organisation(self, organisation_id: UUID) -> Organisation:
        """An organisation of the registry."""
        try:
            org: Aggregate = self.repository.get(organisation_id)
        except AggregateNotFoundError:
            raise NotFoundError("La organización no existe.", field="organisation_id") from None
        if not isinstance(org, Organisation):
            raise NotFoundError("La organización no existe.", field="organisation_id")
        return org

    def find_organisation(self, doc_type: str, doc_number: str) -> Organisation:
        """An organisation by its document."""
        dtype, dnum = v.parse_document(doc_type, doc_number)
        return self.get_organisation(organisation_id(dtype, dnum))

    def get_origin_code(self, code: str) -> OriginCode:
        """An origin code with its current balances."""
        try:
            oc: Aggregate = self.repository.get(origin_code_id(v.parse_origin_code(code)))
        except AggregateNotFoundError:
            raise NotFoundError(
                "El código de origen no existe.", field="origin_code", code="unknown_origin_code"
            ) from None
        assert isinstance(oc, OriginCode)
        return oc

    def get_purchase(self, purchase_id: UUID, *, party_id: UUID | None = None) -> Purchase:
        """A purchase, visible only to its buyer or seller when ``party_id`` is given."""
        try:
            p: Aggregate = self.repository.get(purchase_id)
        except AggregateNotFoundError:
            raise NotFoundError("La compra no existe.", field="purchase_id") from None
        if not isinstance(p, Purchase) or (
            party_id is not None and party_id not in (p.buyer_id, p.seller_id)
        ):
            raise NotFoundError("La compra no existe.", field="purchase_id")
        return p

    def operator_balances(self, operator_id: UUID) -> list[dict[str, Any]]:
        """Current balances of an operator on the origin codes it produced."""
        op = self.get_organisation(operator_id)
        rows = []
        for code in op.origin_codes:
            oc = self.get_origin_code(code)
            rows.append(
                {
                    "origin_code": oc.code,
                    "mineral": oc.mineral,
                    "unit": oc.unit,
                    "available": oc.available_to(op.id),
                    "reserved": oc.reserved_by(op.id),
                }
            )
        return rows

    def seller_statement(self, operator_id: UUID, *, statement_id: str | None = None) -> bytes:
        """The operator's TXT balance statement (alternative 1), signed with the server key."""
        op = self.get_organisation(operator_id)
        if op.kind != OPERATOR:
            raise ValidationError(
                "Solo un explotador minero tiene estado de saldos.",
                field="organisation_id",
                code="not_an_operator",
            )
        rows = [
            StatementRow(
                origin_code=r["origin_code"],
                mineral=r["mineral"],
                unit=r["unit"],
                available=r["available"],
            )
            for r in self.operator_balances(operator_id)
            if r["available"] > 0
        ]
        return generate_statement(
            statement_id=statement_id or str(uuid4()),
            seller_doc_type=op.doc_type,
            seller_doc_number=op.doc_number,
            rows=rows,
            key=self.config.statement_key,
            issued_at=self.clock(),
        )

    def email_statement(self, *, operator_id: UUID, actor: str) -> dict[str, Any]:
        """Send the operator its TXT statement by e-mail (to the address on record)."""
        statement_id = str(uuid4())

        def body(u: Unit) -> dict[str, Any]:
            op = u.get(Organisation, operator_id)
            op.request_statement(statement_id=statement_id, now=u.now)
            u.send(
                op,
                channel=EMAIL,
                recipient=op.email,
                template="balance_statement",
                params={
                    "statement_id": statement_id,
                    "organisation_id": str(op.id),
                    "seller_name": op.name,
                    "seller_document": f"{op.doc_type} {op.doc_number}",
                    "sent_at": _format_local(u.now),
                },
            )
            return {"statement_id": statement_id, "sent_to": op.email}

        return self.execute(
            command="email_statement", actor=actor, idempotency_key=None, request={}, body=body
        )

    # --- purchase: draft ------------------------------------------------------------

    def _normalise_transaction(self, fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - set(TRANSACTION_FIELDS)
        if unknown:
            raise ValidationError(
                "Campo desconocido.", field=sorted(unknown)[0], code="unknown_field"
            )
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if value is None or value == "":
                continue
            if name in ("invoice_date", "transaction_date"):
                out[name] = v.parse_date(value, field=name)
            elif name == "sha256":
                out[name] = v.parse_sha256(value)
            elif name == "currency":
                out[name] = v.parse_currency(value)
            else:
                out[name] = str(value).strip()
        return out

    def _check_transaction(self, merged: dict[str, Any], now: datetime) -> None:
        dep, mun = merged.get("department_code"), merged.get("municipality_code")
        if dep is not None or mun is not None:
            if dep is None:
                raise ValidationError(
                    "Indique el departamento.", field="department_code", code="required"
                )
            if mun is None:
                raise ValidationError(
                    "Indique el municipio.", field="municipality_code", code="required"
                )
            v.parse_place(dep, mun)
        v.check_purchase_dates(merged.get("invoice_date"), merged.get("transaction_date"), now=now)

    def create_purchase(
        self,
        *,
        buyer_id: UUID,
        seller: dict[str, str],
        transaction: dict[str, Any] | None = None,
        actor: str,
        idempotency_key: str | None = None,
    ) -> UUID:
        """Open a purchase from the operator identified by ``seller``."""
        s = {k: ("" if seller.get(k) is None else str(seller.get(k))) for k in seller}
        for f in ("expediente", "doc_type", "doc_number", "razon_social"):
            if not s.get(f, "").strip():
                raise ValidationError(
                    "Dato obligatorio del vendedor.", field=f"seller.{f}", code="required"
                )
        dtype, dnum = v.parse_document(s["doc_type"], s["doc_number"], field="seller.document")
        exp = v.parse_expediente(s["expediente"], field="seller.expediente")
        razon = v.parse_name(s["razon_social"], field="seller.razon_social")
        tx = self._normalise_transaction(transaction or {})

        def body(u: Unit) -> dict[str, Any]:
            self._check_transaction(tx, u.now)
            buyer = u.get(Organisation, buyer_id)
            if buyer.kind != BUYER:
                raise ValidationError(
                    "Solo un comercializador registra compras.",
                    field="buyer_id",
                    code="not_a_buyer",
                )
            try:
                op = u.get(Organisation, organisation_id(dtype, dnum))
            except NotFoundError:
                raise NotFoundError(
                    "El vendedor no está en el registro de explotadores mineros autorizados.",
                    field="seller.doc_number",
                    code="seller_not_registered",
                ) from None
            if op.kind != OPERATOR:
                raise ValidationError(
                    "El vendedor no es un explotador minero autorizado.",
                    field="seller.doc_number",
                    code="not_an_operator",
                )
            if exp not in op.expedientes:
                raise ValidationError(
                    "El expediente minero no corresponde al vendedor.",
                    field="seller.expediente",
                    code="expediente_mismatch",
                )
            if v.normalise_name(razon) != v.normalise_name(op.name):
                raise ValidationError(
                    "La razón social no coincide con la del registro.",
                    field="seller.razon_social",
                    code="razon_social_mismatch",
                )
            p = Purchase.create(
                buyer_id=buyer.id,
                seller_id=op.id,
                seller={
                    "expediente": exp,
                    "doc_type": dtype,
                    "doc_number": dnum,
                    "razon_social": op.name,
                },
                transaction=tx,
                created_by=actor,
                now=u.now,
            )
            u.add(p)
            return {"purchase_id": p.id}

        out = self.execute(
            command="create_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"buyer": buyer_id, "seller": [dtype, dnum, exp, razon], "tx": tx},
            body=body,
        )
        return UUID(str(out["purchase_id"]))

    def _own_purchase(self, u: Unit, purchase_id: UUID, party_id: UUID) -> Purchase:
        try:
            p = u.get(Purchase, purchase_id)
        except NotFoundError:
            raise NotFoundError("La compra no existe.", field="purchase_id") from None
        if p.buyer_id != party_id:
            raise NotFoundError("La compra no existe.", field="purchase_id")
        return p

    def update_transaction(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        fields: dict[str, Any],
        actor: str,
        idempotency_key: str | None = None,
    ) -> None:
        """Set or correct transaction fields of a draft."""
        tx = self._normalise_transaction(fields)
        if not tx:
            raise ValidationError("No hay datos para actualizar.", field="transaction")

        def body(u: Unit) -> dict[str, Any]:
            p = self._own_purchase(u, purchase_id, buyer_id)
            self._check_transaction({**p.transaction, **tx}, u.now)
            p.update_transaction(tx, by=actor, now=u.now)
            return {}

        self.execute(
            command="update_transaction",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id, "tx": tx},
            body=body,
        )

    def parse_lines(
        self, seller_id: UUID, lines: Sequence[dict[str, Any]], *, now: datetime
    ) -> list[Line]:
        """Validate lines against the seller's current balances (re-checked at submit)."""
        parsed: list[Line] = []
        for i, raw in enumerate(lines):
            f = f"lines[{i}]"
            code = v.parse_origin_code(str(raw.get("origin_code", "")), field=f"{f}.origin_code")
            try:
                oc = self.get_origin_code(code)
            except NotFoundError:
                raise NotFoundError(
                    f"El código de origen {code} no existe.",
                    field=f"{f}.origin_code",
                    code="unknown_origin_code",
                    origin_code=code,
                ) from None
            if not oc.holds(seller_id):
                raise ValidationError(
                    f"El código de origen {code} no pertenece al vendedor.",
                    field=f"{f}.origin_code",
                    code="foreign_origin_code",
                    origin_code=code,
                )
            mineral = v.mineral_or_raise(
                str(raw.get("mineral") or oc.mineral), field=f"{f}.mineral"
            )
            if mineral.code != oc.mineral:
                raise ValidationError(
                    f"El código de origen {code} es de {oc.mineral}, no de {mineral.code}.",
                    field=f"{f}.mineral",
                    code="mineral_mismatch",
                )
            qty = v.parse_quantity(raw.get("quantity"), mineral, field=f"{f}.quantity")
            price = v.parse_price(raw.get("unit_price"), field=f"{f}.unit_price")
            available = oc.coverable_by(seller_id, now)
            if qty > available:
                raise InsufficientBalanceError(
                    f"Saldo insuficiente en {code}: disponible {available} {oc.unit}.",
                    field=f"{f}.quantity",
                    origin_code=code,
                    available=available,
                    requested=qty,
                )
            parsed.append(
                Line(origin_code=code, mineral=oc.mineral, quantity=qty, unit_price=price)
            )
        return parsed

    def load_seller_data(
        self,
        *,
        purchase_id: UUID,
        party_id: UUID,
        channel: str,
        lines: Sequence[dict[str, Any]],
        actor: str,
        idempotency_key: str | None = None,
    ) -> None:
        """Record the seller's quantities, from the buyer (TXT) or the seller (URL, WS)."""
        if not lines:
            raise ValidationError("No hay cantidades para comprar.", field="lines", code="no_lines")

        def body(u: Unit) -> dict[str, Any]:
            try:
                p = u.get(Purchase, purchase_id)
            except NotFoundError:
                raise NotFoundError("La compra no existe.", field="purchase_id") from None
            if party_id not in (p.buyer_id, p.seller_id):
                raise NotFoundError("La compra no existe.", field="purchase_id")
            if channel == "txt" and party_id != p.buyer_id:
                raise NotFoundError("La compra no existe.", field="purchase_id")
            if channel in ("url", "ws") and party_id != p.seller_id:
                raise NotFoundError("La compra no existe.", field="purchase_id")
            parsed = self.parse_lines(p.seller_id, lines, now=u.now)
            p.load_seller_data(channel=channel, lines=parsed, by=actor, now=u.now)
            return {}

        self.execute(
            command="load_seller_data",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id, "channel": channel, "lines": list(lines)},
            body=body,
        )

    def save_purchase(
        self, *, purchase_id: UUID, buyer_id: UUID, actor: str, idempotency_key: str | None = None
    ) -> None:
        """Save a draft to continue later."""

        def body(u: Unit) -> dict[str, Any]:
            self._own_purchase(u, purchase_id, buyer_id).save(by=actor, now=u.now)
            return {}

        self.execute(
            command="save_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    # --- seller channels: one-time URL (alternative 2) and web service (alternative 3) ---

    def _token_hash(self, purpose: str, token: str) -> str:
        return keyed_hash(self.config.code_key, purpose, token)

    def _new_access(
        self, u: Unit, purchase_id: UUID, buyer_id: UUID, *, channel: str, token_hash: str
    ) -> tuple[Purchase, Organisation, Organisation, SellerAccess]:
        """A single-use seller access to a draft of the buyer's (URL or web service)."""
        p = self._own_purchase(u, purchase_id, buyer_id)
        p.check_editable()
        seller = u.get(Organisation, p.seller_id)
        buyer = u.get(Organisation, p.buyer_id)
        access = SellerAccess(
            token_hash=token_hash,
            purchase_id=p.id,
            seller_id=seller.id,
            channel=channel,
            issued_at=u.now,
            expires_at=u.now + (URL_TTL if channel == "url" else WS_TTL),
        )
        u.add(access)
        return p, seller, buyer, access

    def issue_seller_link(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        base_url: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """E-mail the seller (contact on record) a single-use URL to enter its quantities."""
        token = generate_token(32)
        token_hash = self._token_hash("seller-url", token)

        def body(u: Unit) -> dict[str, Any]:
            p, seller, buyer, access = self._new_access(
                u, purchase_id, buyer_id, channel="url", token_hash=token_hash
            )
            u.send(
                access,
                channel=EMAIL,
                recipient=seller.email,
                template="seller_url",
                params={
                    **_access_params(p, buyer, seller, access, u.now),
                    "url": f"{base_url.rstrip('/')}/vendedor/{token}",
                },
                secret_params=("url",),
            )
            return {"expires_at": access.expires_at, "sent_to": seller.email}

        return self.execute(
            command="issue_seller_link",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def open_seller_link(self, *, token: str) -> dict[str, Any]:
        """First open of the URL: spend the token, start a short session (returned once)."""
        if not token or len(token) > 100:
            raise AuthenticationError("Enlace inválido.", field="token", code="invalid_link")
        aid = access_id(self._token_hash("seller-url", token))
        session_token = generate_token(32)

        def body(u: Unit) -> dict[str, Any]:
            try:
                access = u.get(SellerAccess, aid)
            except NotFoundError:
                raise AuthenticationError(
                    "Enlace inválido.", field="token", code="invalid_link"
                ) from None
            access.open(session_hash=self._token_hash("seller-session", session_token), now=u.now)
            return {"access_id": access.id}

        out = self.execute(
            command="open_seller_link",
            actor=f"link:{aid}",
            idempotency_key=None,
            request={},
            body=body,
        )
        return {**out, "session_token": session_token}

    def seller_link_session(
        self, *, access: UUID, session_token: str
    ) -> tuple[SellerAccess, Purchase]:
        """The access and purchase behind a live link session (read only)."""
        try:
            acc: Aggregate = self.repository.get(access)
        except AggregateNotFoundError:
            raise AuthenticationError(
                "Sesión inválida.", field="session", code="invalid_session"
            ) from None
        if not isinstance(acc, SellerAccess):
            raise AuthenticationError("Sesión inválida.", field="session", code="invalid_session")
        acc.check_session(
            self._token_hash("seller-session", session_token), self.clock(), equal=hashes_equal
        )
        return acc, self.get_purchase(acc.purchase_id)

    def submit_seller_link(
        self, *, access: UUID, session_token: str, lines: Sequence[dict[str, Any]]
    ) -> None:
        """The seller's quantities and prices from the URL page; the link is then spent."""
        if not lines:
            raise ValidationError(
                "Indique al menos una cantidad a vender.", field="lines", code="no_lines"
            )
        session_hash = self._token_hash("seller-session", session_token)

        def body(u: Unit) -> dict[str, Any]:
            try:
                acc = u.get(SellerAccess, access)
            except NotFoundError:
                raise AuthenticationError(
                    "Sesión inválida.", field="session", code="invalid_session"
                ) from None
            acc.check_session(session_hash, u.now, equal=hashes_equal)
            p = u.get(Purchase, acc.purchase_id)
            parsed = self.parse_lines(p.seller_id, lines, now=u.now)
            p.load_seller_data(channel="url", lines=parsed, by=f"seller:{acc.seller_id}", now=u.now)
            acc.consume(now=u.now)
            return {}

        self.execute(
            command="submit_seller_link",
            actor=f"link:{access}",
            idempotency_key=None,
            request={},
            body=body,
        )

    def configure_webservice(
        self,
        *,
        operator_id: UUID,
        url: str,
        secret_sealed: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> None:
        """Record the seller's endpoint and its (sealed) API secret."""
        endpoint = str(url).strip()
        if len(endpoint) > 500 or not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", endpoint):
            raise ValidationError(
                "URL del web service inválida (http o https).", field="url", code="invalid_url"
            )

        def body(u: Unit) -> dict[str, Any]:
            u.get(Organisation, operator_id).configure_webservice(
                url=endpoint, secret_sealed=secret_sealed, now=u.now
            )
            return {}

        self.execute(
            command="configure_webservice",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"url": endpoint},
            body=body,
        )

    def issue_ws_token(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """E-mail the seller a token and notify its endpoint that quantities are awaited."""
        token = generate_token(24)
        token_hash = self._token_hash("seller-ws", token)

        def body(u: Unit) -> dict[str, Any]:
            p, seller, buyer, access = self._new_access(
                u, purchase_id, buyer_id, channel="ws", token_hash=token_hash
            )
            if not seller.webservice_url:
                raise ConflictError(
                    "El vendedor no tiene configurado un web service; use el archivo TXT o la URL.",
                    field="channel",
                    code="seller_without_webservice",
                )
            common = _access_params(p, buyer, seller, access, u.now)
            u.send(
                access,
                channel=EMAIL,
                recipient=seller.email,
                template="ws_token",
                params={**common, "token": token},
                secret_params=("token",),
            )
            u.send(
                access,
                channel=WEBHOOK,
                recipient=seller.webservice_url,
                template="ws_request",
                params={
                    **common,
                    "organisation_id": str(seller.id),
                    "expires_at_iso": access.expires_at.isoformat(),
                },
            )
            return {"expires_at": access.expires_at}

        return self.execute(
            command="issue_ws_token",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def submit_ws_lines(
        self,
        *,
        seller_id: UUID,
        token: str,
        lines: Sequence[dict[str, Any]],
        message_id: str,
        request_digest: str,
    ) -> dict[str, Any]:
        """Quantities from the seller's ERP (signature checked by the edge); idempotent by
        message id: a retry returns the first answer, a reused id with another body fails."""
        if not token or len(token) > 100:
            raise AuthenticationError("Token inválido.", field="token", code="invalid_token")
        aid = access_id(self._token_hash("seller-ws", token))

        def body(u: Unit) -> dict[str, Any]:
            try:
                acc = u.get(SellerAccess, aid)
            except NotFoundError:
                raise AuthenticationError(
                    "Token inválido.", field="token", code="invalid_token"
                ) from None
            if acc.seller_id != seller_id or acc.channel != "ws":
                raise AuthenticationError("Token inválido.", field="token", code="invalid_token")
            acc.check_usable(u.now)
            p = u.get(Purchase, acc.purchase_id)
            parsed = self.parse_lines(p.seller_id, lines, now=u.now)
            p.load_seller_data(channel="ws", lines=parsed, by=f"seller:{seller_id}", now=u.now)
            acc.consume(now=u.now)
            return {"purchase_id": p.id, "status": p.status, "lines": len(parsed)}

        return self.execute(
            command="submit_ws_lines",
            actor=f"ws:{seller_id}",
            idempotency_key=message_id,
            request={"digest": request_digest},
            body=body,
        )

    # --- purchase: submission and acceptance --------------------------------------------

    def _release_all(self, u: Unit, p: Purchase, *, reason: str) -> None:
        """Void the purchase's reservation on every origin code of its lines."""
        for line in p.lines:
            u.get(OriginCode, origin_code_id(line["origin_code"])).release(
                purchase_id=p.id, reason=reason
            )

    def _expire_in_unit(self, u: Unit, p: Purchase) -> None:
        """Expire an overdue purchase and release its reservations, in this unit."""
        p.expire(now=u.now)
        self._release_all(u, p, reason="expired")

    def _issue_code(self, u: Unit, p: Purchase) -> tuple[str, str]:
        code = generate_numeric_code(self.config.policy.digits)
        digest = lines_digest(p.lines)
        return code, acceptance_code_hash(
            self.config.code_key, purchase_id=p.id, digest=digest, code=code
        )

    def _send_code(self, u: Unit, p: Purchase, code: str) -> None:
        seller = u.get(Organisation, p.seller_id)
        buyer = u.get(Organisation, p.buyer_id)
        assert p.code_expires_at is not None
        params = {
            "code": code,
            "purchase_id": str(p.id),
            "seller_name": seller.name,
            "seller_document": f"{seller.doc_type} {seller.doc_number}",
            "buyer_name": buyer.name,
            "buyer_document": f"{buyer.doc_type} {buyer.doc_number}",
            "total": f"{p.total()} {p.transaction.get('currency', '')}".strip(),
            "lines": json.dumps(
                [
                    {
                        "origin_code": ln["origin_code"],
                        "mineral": ln["mineral"],
                        "quantity": str(ln["quantity"]),
                        "unit_price": str(ln["unit_price"]),
                    }
                    for ln in p.lines
                ]
            ),
            "expires_at": _format_local(p.code_expires_at),
            "sent_at": _format_local(u.now),
        }
        # Only to the seller's contacts on record, never to an address the buyer typed.
        u.send(
            p,
            channel=EMAIL,
            recipient=seller.email,
            template="acceptance_code",
            params=params,
            secret_params=("code",),
        )
        u.send(
            p,
            channel=SMS,
            recipient=seller.mobile,
            template="acceptance_code_sms",
            params=params,
            secret_params=("code",),
        )

    def submit_purchase(
        self, *, purchase_id: UUID, buyer_id: UUID, actor: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Reserve every line on its origin code and send the seller an acceptance code."""

        def body(u: Unit) -> dict[str, Any]:
            p = self._own_purchase(u, purchase_id, buyer_id)
            p.check_submittable()
            self._check_transaction(p.transaction, u.now)
            u.lock(str(origin_code_id(ln["origin_code"])) for ln in p.lines)
            code, code_hash = self._issue_code(u, p)
            p.submit(
                code_hash=code_hash,
                lines_digest=lines_digest(p.lines),
                policy=self.config.policy,
                by=actor,
                now=u.now,
            )
            assert p.reservation_expires_at is not None
            for i, line in enumerate(p.lines):
                oc = u.get(OriginCode, origin_code_id(line["origin_code"]))
                if oc.available_to(p.seller_id) < line["quantity"]:
                    # Reservations past their TTL still hold mineral: end them here, in
                    # the same write, rather than refuse a purchase the seller can cover.
                    for other_id in oc.expired_reservations(u.now):
                        other = u.get(Purchase, other_id)
                        if other.reservation_overdue(u.now):
                            self._expire_in_unit(u, other)
                try:
                    oc.reserve(
                        purchase_id=p.id,
                        holder_id=p.seller_id,
                        quantity=line["quantity"],
                        expires_at=p.reservation_expires_at,
                    )
                except InsufficientBalanceError as e:
                    e.field = f"lines[{i}].quantity"
                    raise
            self._send_code(u, p, code)
            return {
                "status": p.status,
                "code_expires_at": p.code_expires_at,
                "reservation_expires_at": p.reservation_expires_at,
            }

        return self.execute(
            command="submit_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def resend_code(
        self, *, purchase_id: UUID, buyer_id: UUID, actor: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Send a fresh acceptance code; the previous one stops working."""

        def body(u: Unit) -> dict[str, Any] | _Failure:
            p = self._own_purchase(u, purchase_id, buyer_id)
            if p.reservation_overdue(u.now):
                self._expire_in_unit(u, p)
                return u.fail(PurchaseEndedError("La compra venció.", code="purchase_expired"))
            code, code_hash = self._issue_code(u, p)
            p.resend_code(code_hash=code_hash, policy=self.config.policy, by=actor, now=u.now)
            self._send_code(u, p, code)
            return {
                "code_expires_at": p.code_expires_at,
                "resends_left": self.config.policy.max_resends - p.resends,
            }

        return self.execute(
            command="resend_code",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )

    def validate_purchase(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        code: str,
        actor: str,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Check the seller's acceptance code; on success move the mineral to the buyer."""
        given = str(code).strip()
        if not re.fullmatch(r"[0-9]+", given) or len(given) != self.config.policy.digits:
            raise InvalidCodeError(
                f"El código de aceptación tiene {self.config.policy.digits} dígitos.",
                field="code",
                code="invalid_code_format",
            )
        policy = self.config.policy

        def body(u: Unit) -> dict[str, Any] | _Failure:
            p = self._own_purchase(u, purchase_id, buyer_id)
            if p.reservation_overdue(u.now):
                self._expire_in_unit(u, p)
                return u.fail(PurchaseEndedError("La compra venció.", code="purchase_expired"))
            p.check_code_is_current(u.now)
            assert p.code_hash is not None and p.lines_digest is not None
            digest = lines_digest(p.lines)
            expected = acceptance_code_hash(
                self.config.code_key, purchase_id=p.id, digest=digest, code=given
            )
            if digest != p.lines_digest or not hashes_equal(expected, p.code_hash):
                if p.fail_validation(policy=policy, by=actor, now=u.now):
                    self._release_all(u, p, reason="locked")
                    return u.fail(
                        LimitExceededError(
                            "Demasiados intentos fallidos: la compra quedó bloqueada y las "
                            "cantidades reservadas se liberaron.",
                            field="code",
                            code="purchase_locked",
                        )
                    )
                return u.fail(
                    InvalidCodeError(
                        field="code",
                        attempts_left=policy.max_failed_attempts - p.failed_attempts,
                    )
                )
            u.lock(str(origin_code_id(ln["origin_code"])) for ln in p.lines)
            p.validate(by=actor, now=u.now)
            ocs = []
            for line in p.lines:
                oc = u.get(OriginCode, origin_code_id(line["origin_code"]))
                oc.transfer(purchase_id=p.id, to_holder_id=p.buyer_id)
                ocs.append(oc)
            self._send_confirmation(u, p, ocs)
            return {"status": p.status, "validated_at": u.now, "total": p.total()}

        return self.execute(
            command="validate_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={
                "purchase": purchase_id,
                "code_hash": hashlib.sha256(given.encode()).hexdigest(),
            },
            body=body,
        )

    def _send_confirmation(self, u: Unit, p: Purchase, ocs: list[OriginCode]) -> None:
        buyer = u.get(Organisation, p.buyer_id)
        seller = u.get(Organisation, p.seller_id)
        for org in (buyer, seller):
            balances = [
                {
                    "origin_code": oc.code,
                    "mineral": oc.mineral,
                    "unit": oc.unit,
                    "available": str(oc.available_to(org.id)),
                    "reserved": str(oc.reserved_by(org.id)),
                }
                for oc in ocs
            ]
            u.send(
                p,
                channel=EMAIL,
                recipient=org.email,
                template="purchase_confirmed",
                params={
                    "purchase_id": str(p.id),
                    "role": "comprador" if org is buyer else "vendedor",
                    "organisation_id": str(org.id),
                    "organisation_name": org.name,
                    "organisation_document": f"{org.doc_type} {org.doc_number}",
                    "buyer_name": buyer.name,
                    "seller_name": seller.name,
                    "total": f"{p.total()} {p.transaction.get('currency', '')}".strip(),
                    "balances": json.dumps(balances),
                    "validated_at": _format_local(u.now),
                },
            )

    def cancel_purchase(
        self,
        *,
        purchase_id: UUID,
        buyer_id: UUID,
        reason: str = "cancelled_by_buyer",
        actor: str,
        idempotency_key: str | None = None,
    ) -> None:
        """The buyer gives up; pending reservations are released."""
        why = v.parse_name(reason, field="reason", max_len=500)

        def body(u: Unit) -> dict[str, Any]:
            p = self._own_purchase(u, purchase_id, buyer_id)
            was_pending = p.status == PENDING
            p.cancel(reason=why, by=actor, now=u.now)
            if was_pending:
                self._release_all(u, p, reason="cancelled")
            return {}

        self.execute(
            command="cancel_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id, "reason": why},
            body=body,
        )

    def expire_purchase(self, *, purchase_id: UUID, actor: str = "system") -> bool:
        """Expire the purchase if its reservation TTL has passed; True if it did now."""

        def body(u: Unit) -> dict[str, Any]:
            p = u.get(Purchase, purchase_id)
            if not p.reservation_overdue(u.now):
                return {"expired": False}
            self._expire_in_unit(u, p)
            return {"expired": True}

        out = self.execute(
            command="expire_purchase",
            actor=actor,
            idempotency_key=None,
            request={"purchase": purchase_id},
            body=body,
        )
        return bool(out["expired"])

    @staticmethod
    def new_id() -> UUID:
        """A fresh random id."""
        return uuid4()


__all__ = ["ConflictError", "Ledger", "LedgerConfig", "Unit", "utc_now"]
