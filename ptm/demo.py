"""Demo data for the embedded default: a trader, two mining operators with production,
and ANM, so a newcomer can walk a whole purchase at once. Idempotent: every command
carries a fixed idempotency key, so running it again records nothing new."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from kernel.errors import DuplicateError
from ledger.application import Ledger
from ledger.usecases.identity import Identity
from ledger.values import nit_check_digit


def _nit(base: str) -> str:
    return f"{base}-{nit_check_digit(base)}"


BUYER_NIT = _nit("901304961")
OPERATOR_NIT = _nit("900512347")
OPERATOR2_DOC = ("CC", "71234567")
AGENCY_NIT = _nit("900500018")


@dataclass(frozen=True)
class Demo:
    """Ids of the demo organisations and origin codes."""

    agency: UUID
    buyer: UUID
    operator: UUID
    operator2: UUID
    codes: tuple[str, ...]


#: Demo users: username → (role, organisation attribute of Demo, name, password).
DEMO_USERS = {
    "admin": ("admin", "agency", "Administradora ANM", "Admin-ANM-2026!"),
    "auditora": ("auditor", "agency", "Auditora ANM", "Auditoria-ANM-2026!"),
    "analista": ("analyst", "agency", "Analista Subdirección de Minería", "Niquel-PBLRN-2026!"),
    "comprador": ("buyer", "buyer", "Carolina Compras", "Compra-Oro-2026!"),
    "vendedor": ("seller", "operator", "Víctor Ventas", "Venta-Oro-2026!"),
}


def seed_demo(
    app: Ledger,
    identity: Identity | None = None,
    hash_password: Callable[[str], str] | None = None,
) -> Demo:
    """Register the demo organisations, production and users (safe to run twice)."""
    actor = "demo-seed"
    agency = app.register_agency(
        nit=AGENCY_NIT,
        name="Agencia Nacional de Minería",
        email="trazabilidad@anm.example.co",
        mobile="+576012201999",
        actor=actor,
        idempotency_key="demo-agency",
    )
    buyer = app.register_buyer(
        nit=BUYER_NIT,
        name="Comercializadora Andina de Metales S.A.S.",
        rucom="RUCOM-20250001",
        email="compras@andina.example.co",
        mobile="+573001112233",
        actor=actor,
        idempotency_key="demo-buyer",
    )
    operator = app.register_operator(
        doc_type="NIT",
        doc_number=OPERATOR_NIT,
        name="Minera El Diluvio Gold S.A.S.",
        expedientes=["HJK-08141", "ODG-10201"],
        email="ventas@diluvio.example.co",
        mobile="+573009998877",
        actor=actor,
        idempotency_key="demo-operator",
    )
    operator2 = app.register_operator(
        doc_type=OPERATOR2_DOC[0],
        doc_number=OPERATOR2_DOC[1],
        name="Mina La Esperanza",
        expedientes=["RPP-12345"],
        email="esperanza@example.co",
        mobile="+573104445566",
        actor=actor,
        idempotency_key="demo-operator2",
    )
    productions = [
        (operator, "ORO", "1250.75", "HJK-08141", "05", "05001", "2026-09", "OC-ORO-DEMO-0001"),
        (operator, "PLATA", "5400.00", "HJK-08141", "05", "05001", "2026-09", "OC-PLA-DEMO-0002"),
        (operator, "ORO", "820.40", "ODG-10201", "27", "27001", "2026-10", "OC-ORO-DEMO-0003"),
        (
            operator2,
            "ESMERALDAS",
            "3200.50",
            "RPP-12345",
            "15",
            "15001",
            "2026-10",
            "OC-ESM-DEMO-0004",
        ),
    ]
    codes = tuple(
        app.register_production(
            operator_id=op,
            mineral=mineral,
            quantity=qty,
            expediente=exp,
            department_code=dep,
            municipality_code=mun,
            period=period,
            code=code,
            actor=actor,
            idempotency_key=f"demo-production-{code}",
        )
        for op, mineral, qty, exp, dep, mun, period, code in productions
    )
    demo = Demo(agency, buyer, operator, operator2, codes)
    if identity is not None and hash_password is not None:
        for username, (role, org_attr, name, password) in DEMO_USERS.items():
            with contextlib.suppress(DuplicateError):  # seeded before
                identity.register_user(
                    username=username,
                    name=name,
                    email=f"{username}@demo.ptm.example.co",
                    mobile="+573000000000",
                    role=role,
                    organisation_id=getattr(demo, org_attr),
                    password_hash=hash_password(password),
                    actor=actor,
                )
    return demo
