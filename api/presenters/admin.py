"""The registry as the administrators see it."""

from __future__ import annotations

from api.presenters.common import quantity_text
from api.schemas.admin import OrganisationOut, ProductionOut, UserOut
from ledger.identity import User
from ledger.origin import OriginCode
from ledger.registry import Organisation


def org_out(org: Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=org.id,
        kind=org.kind,
        doc_type=org.doc_type,
        doc_number=org.doc_number,
        name=org.name,
        email=org.email,
        mobile=org.mobile,
        rucom=org.rucom,
        expedientes=list(org.expedientes),
        origin_codes=list(org.origin_codes),
    )


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        name=user.name,
        role=user.role,
        organisation_id=user.organisation_id,
    )


def production_out(oc: OriginCode) -> ProductionOut:
    return ProductionOut(
        code=oc.code,
        operator_id=oc.operator_id,
        mineral=oc.mineral,
        unit=oc.unit,
        produced=quantity_text(oc.produced, oc.mineral),
    )
