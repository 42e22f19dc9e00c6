"""Registry: organisations (traders, mining operators, the agency), their contacts
and the production that mints origin codes.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from kernel.errors import (
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from ledger import values as v
from ledger.origin import OriginCode, origin_code_id
from ledger.registry import (
    AGENCY,
    AGENCY_ROLL_ID,
    BUYER,
    OPERATOR,
    AgencyRoll,
    Organisation,
    organisation_id,
)
from ledger.usecases.base import LedgerBase, LedgerUnit


def _fields(
    doc_type: str, doc_number: str, name: str, rucom: str | None, email: str, mobile: str
) -> dict[str, Any]:
    """An organisation's checked fields (document already parsed), in the order their
    errors are reported."""
    return {
        "doc_type": doc_type,
        "doc_number": doc_number,
        "name": v.parse_name(name, field="name"),
        "rucom": None if rucom is None else v.parse_rucom(rucom),
        "email": v.parse_email(email),
        "mobile": v.parse_mobile(mobile),
    }


class RegistryCases(LedgerBase):
    """Registering who may trade, and what they produced."""

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
        fields = _fields(
            "NIT", v.parse_nit(nit, field="document_number"), name, rucom, email, mobile
        )
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
        fields = _fields(*v.parse_document(doc_type, doc_number), name, None, email, mobile)
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
        fields = _fields(
            "NIT", v.parse_nit(nit, field="document_number"), name, None, email, mobile
        )
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

        def body(u: LedgerUnit) -> dict[str, Any]:
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
            if kind == AGENCY:
                try:
                    roll = u.get(AgencyRoll, AGENCY_ROLL_ID)
                except NotFoundError:
                    roll = AgencyRoll.open(now=u.now)
                    u.add(roll)
                roll.enrol(org.id, now=u.now)
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

        def body(u: LedgerUnit) -> dict[str, Any]:
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

        def body(u: LedgerUnit) -> dict[str, Any]:
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
