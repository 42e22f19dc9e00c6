"""Reading the ledger's aggregates: organisations, origin codes, purchases, balances
and the seller's signed TXT statement.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from kernel.errors import (
    NotFoundError,
    ValidationError,
)
from ledger import values as v
from ledger.origin import OriginCode, origin_code_id
from ledger.purchase import Purchase
from ledger.registry import OPERATOR, Organisation, organisation_id
from ledger.statement import StatementRow, generate_statement
from ledger.usecases.base import LedgerBase


class QueryCases(LedgerBase):
    """What the ledger knows now, read from its aggregates (not from the read models)."""

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

    def operator_balances(
        self, operator_id: UUID, *, expediente: str | None = None
    ) -> list[dict[str, Any]]:
        """Current balances of an operator on the origin codes it produced (only those of
        one mining title when ``expediente`` is given)."""
        op = self.get_organisation(operator_id)
        rows = []
        for code in op.origin_codes:
            oc = self.get_origin_code(code)
            if expediente is not None and oc.expediente != expediente:
                continue
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
