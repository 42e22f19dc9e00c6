"""Notices: what the ledger tells people, and which notices carry the seller's statement.

The use cases queue messages (:meth:`LedgerUnit.send`) in the same write as the events
that cause them; the parameters of each template are built here, in one place. Which
messages carry the seller's TXT balance statement is the ledger's policy too
(:func:`carries_statement`); the notification worker only asks for the attachment of a
message (:meth:`NoticeCases.statement_attachment`), freshly generated when it is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from ledger import values as v
from ledger.guard import PairGuard
from ledger.messages import EMAIL, SMS, WEBHOOK
from ledger.origin import OriginCode
from ledger.purchase import Purchase
from ledger.registry import Organisation
from ledger.seller_access import SellerAccess
from ledger.usecases.base import LedgerUnit
from ledger.usecases.queries import QueryCases

STATEMENT_TEMPLATE = "balance_statement"
CONFIRMATION_TEMPLATE = "purchase_confirmed"
SELLER_ROLE = "vendedor"
BUYER_ROLE = "comprador"


def _total_text(p: Purchase) -> str:
    """The purchase's total as the messages print it: rounded to the currency's minor
    unit, in plain notation, followed by the currency."""
    currency = p.transaction.get("currency")
    return f"{v.money_text(p.total(), currency)} {currency or ''}".strip()


def format_local(dt: datetime) -> str:
    """A moment as Colombians read it (dd/mm/yyyy hh:mm:ss, Bogotá time)."""
    return dt.astimezone(v.COLOMBIA_TZ).strftime("%d/%m/%Y %H:%M:%S")


def access_params(
    p: Purchase, buyer: Organisation, seller: Organisation, access: SellerAccess, now: datetime
) -> dict[str, str]:
    """What the seller is told about a purchase awaiting its quantities."""
    return {
        "purchase_id": str(p.id),
        "buyer_name": buyer.name,
        "buyer_document": f"{buyer.doc_type} {buyer.doc_number}",
        "seller_name": seller.name,
        "seller_document": f"{seller.doc_type} {seller.doc_number}",
        "expediente": p.seller["expediente"],
        "expires_at": format_local(access.expires_at),
        "sent_at": format_local(now),
    }


def send_seller_link(
    u: LedgerUnit,
    p: Purchase,
    buyer: Organisation,
    seller: Organisation,
    access: SellerAccess,
    *,
    url: str,
) -> None:
    """The one-time URL, by e-mail to the seller's address on record."""
    u.send(
        access,
        channel=EMAIL,
        recipient=seller.email,
        template="seller_url",
        params={**access_params(p, buyer, seller, access, u.now), "url": url},
        secret_params=("url",),
    )


def send_ws_request(
    u: LedgerUnit,
    p: Purchase,
    buyer: Organisation,
    seller: Organisation,
    access: SellerAccess,
    *,
    token: str,
) -> None:
    """The web-service token by e-mail, and the signed request to the seller's endpoint."""
    assert seller.webservice_url, "checked by the use case"
    common = access_params(p, buyer, seller, access, u.now)
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


def send_acceptance_code(u: LedgerUnit, p: Purchase, code: str) -> None:
    """The acceptance code, by e-mail and SMS, to the seller's contacts on record."""
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
        "total": _total_text(p),
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
        "expires_at": format_local(p.code_expires_at),
        "sent_at": format_local(u.now),
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


def send_confirmations(u: LedgerUnit, p: Purchase, ocs: list[OriginCode]) -> None:
    """Both parties' confirmation e-mail, each with its balances on the codes moved."""
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
            template=CONFIRMATION_TEMPLATE,
            params={
                "purchase_id": str(p.id),
                "role": BUYER_ROLE if org is buyer else SELLER_ROLE,
                "organisation_id": str(org.id),
                "organisation_name": org.name,
                "organisation_document": f"{org.doc_type} {org.doc_number}",
                "buyer_name": buyer.name,
                "seller_name": seller.name,
                "total": _total_text(p),
                "balances": json.dumps(balances),
                "validated_at": format_local(u.now),
            },
        )


#: How the buyer is told which channel the seller used.
CHANNEL_NAMES = {"url": "la URL única", "ws": "su web service", "txt": "el archivo TXT"}


def purchase_params(p: Purchase, buyer: Organisation, seller: Organisation) -> dict[str, str]:
    """What the buyer is told about one of its purchases."""
    return {
        "purchase_id": str(p.id),
        "buyer_name": buyer.name,
        "buyer_document": f"{buyer.doc_type} {buyer.doc_number}",
        "seller_name": seller.name,
        "seller_document": f"{seller.doc_type} {seller.doc_number}",
        "expediente": p.seller["expediente"],
        "total": _total_text(p),
        "lines_count": str(len(p.lines)),
    }


def send_seller_data_received(u: LedgerUnit, p: Purchase) -> None:
    """The seller loaded its quantities (URL or web service): the buyer may resume."""
    buyer = u.get(Organisation, p.buyer_id)
    seller = u.get(Organisation, p.seller_id)
    u.send(
        p,
        channel=EMAIL,
        recipient=buyer.email,
        template="seller_data_received",
        params={
            **purchase_params(p, buyer, seller),
            "channel": CHANNEL_NAMES.get(p.channel or "", str(p.channel)),
            "sent_at": format_local(u.now),
        },
    )


def send_purchase_ended(u: LedgerUnit, p: Purchase, *, template: str) -> None:
    """The buyer's notice that a pending purchase expired or locked."""
    assert template in ("purchase_expired", "purchase_locked"), template
    buyer = u.get(Organisation, p.buyer_id)
    seller = u.get(Organisation, p.seller_id)
    u.send(
        p,
        channel=EMAIL,
        recipient=buyer.email,
        template=template,
        params={
            **purchase_params(p, buyer, seller),
            "failed_attempts": str(p.failed_attempts),
            "sent_at": format_local(u.now),
        },
    )


def send_suspension(
    u: LedgerUnit,
    guard: PairGuard,
    p: Purchase,
    agencies: list[Organisation],
    *,
    wrong_codes: int,
    window: str,
) -> None:
    """A buyer spent its wrong-code budget on a seller: the seller and the agency know."""
    buyer = u.get(Organisation, guard.buyer_id)
    seller = u.get(Organisation, guard.seller_id)
    assert guard.suspended_until is not None
    common = {
        "buyer_name": buyer.name,
        "buyer_document": f"{buyer.doc_type} {buyer.doc_number}",
        "seller_name": seller.name,
        "seller_document": f"{seller.doc_type} {seller.doc_number}",
        "purchase_id": str(p.id),
        "wrong_codes": str(wrong_codes),
        "window": window,
        "suspended_until": format_local(guard.suspended_until),
        "sent_at": format_local(u.now),
    }
    for org, role in ((seller, SELLER_ROLE), *((a, "agencia") for a in agencies)):
        u.send(
            guard,
            channel=EMAIL,
            recipient=org.email,
            template="submissions_suspended",
            params={
                **common,
                "role": role,
                "recipient_name": org.name,
                "recipient_document": f"{org.doc_type} {org.doc_number}",
            },
        )


def carries_statement(template: str, params: Mapping[str, str]) -> bool:
    """Whether a message carries the seller's TXT statement: the statement it asked for,
    and the seller's copy of a confirmation (its balances after the sale)."""
    return template == STATEMENT_TEMPLATE or (
        template == CONFIRMATION_TEMPLATE and params.get("role") == SELLER_ROLE
    )


class NoticeCases(QueryCases):
    """Notices that are use cases of their own, and the attachments of notices."""

    def email_statement(self, *, operator_id: UUID, actor: str) -> dict[str, Any]:
        """Send the operator its TXT statement by e-mail (to the address on record)."""
        statement_id = str(uuid4())

        def body(u: LedgerUnit) -> dict[str, Any]:
            op = u.get(Organisation, operator_id)
            op.request_statement(statement_id=statement_id, now=u.now)
            u.send(
                op,
                channel=EMAIL,
                recipient=op.email,
                template=STATEMENT_TEMPLATE,
                params={
                    "statement_id": statement_id,
                    "organisation_id": str(op.id),
                    "seller_name": op.name,
                    "seller_document": f"{op.doc_type} {op.doc_number}",
                    "sent_at": format_local(u.now),
                },
            )
            return {"statement_id": statement_id, "sent_to": op.email}

        return self.execute(
            command="email_statement", actor=actor, idempotency_key=None, request={}, body=body
        )

    def statement_attachment(
        self, template: str, params: Mapping[str, str]
    ) -> tuple[str, bytes] | None:
        """The (file name, content) of the seller's fresh TXT statement, for a message
        that carries one (:func:`carries_statement`); None for any other message."""
        if not carries_statement(template, params):
            return None
        org_id = UUID(params["organisation_id"])
        data = self.seller_statement(org_id, statement_id=params.get("statement_id"))
        stamp = self.clock().strftime("%Y%m%d%H%M%S")
        return f"estado-saldos-{stamp}.txt", data
