"""Drafts of a purchase: open one from an authorized operator, complete the
transaction data, load the seller's quantities (TXT, or from a seller channel) and
save it to resume later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from kernel.errors import (
    InsufficientBalanceError,
    NotFoundError,
    ValidationError,
)
from ledger import values as v
from ledger.purchase import TRANSACTION_FIELDS, Line, Purchase
from ledger.registry import BUYER, OPERATOR, Organisation, organisation_id
from ledger.usecases.base import LedgerUnit
from ledger.usecases.queries import QueryCases


class DraftCases(QueryCases):
    """A buyer's purchase before it is submitted."""

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

        def body(u: LedgerUnit) -> dict[str, Any]:
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

    def _own_purchase(self, u: LedgerUnit, purchase_id: UUID, party_id: UUID) -> Purchase:
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

        def body(u: LedgerUnit) -> dict[str, Any]:
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
        self, p: Purchase, lines: Sequence[dict[str, Any]], *, now: datetime
    ) -> list[Line]:
        """Validate lines against the purchase's title and the seller's current balances
        (re-checked at submit). Every channel's lines come through here."""
        seller_id = p.seller_id
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
            source = raw.get("source_line")
            oc.check_title(
                seller_id=seller_id,
                expediente=p.seller["expediente"],
                index=i,
                source_line=source if isinstance(source, int) else None,
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
            v.check_total(qty * price, field=f"{f}.unit_price")
            parsed.append(
                Line(origin_code=code, mineral=oc.mineral, quantity=qty, unit_price=price)
            )
        v.check_total(sum((ln["quantity"] * ln["unit_price"] for ln in parsed), Decimal(0)))
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

        def body(u: LedgerUnit) -> dict[str, Any]:
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
            parsed = self.parse_lines(p, lines, now=u.now)
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

        def body(u: LedgerUnit) -> dict[str, Any]:
            self._own_purchase(u, purchase_id, buyer_id).save(by=actor, now=u.now)
            return {}

        self.execute(
            command="save_purchase",
            actor=actor,
            idempotency_key=idempotency_key,
            request={"purchase": purchase_id},
            body=body,
        )
