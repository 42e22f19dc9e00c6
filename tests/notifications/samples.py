"""Sample params for every template, and an in-memory outbox for worker unit tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from notifications.outbox import PENDING, SENT, OutboxRow
from notifications.rendering import TEMPLATES

SELLER_EMAIL = "ventas@diluvio.example.co"
SELLER_MOBILE = "+573009998877"

_PURCHASE = {
    "code": "482913",
    "purchase_id": "5f0c6a52-1d7e-4f7e-9a55-0f3c2b1d9e11",
    "seller_name": "Minera El Diluvio Gold S.A.S.",
    "seller_document": "NIT 900123456-8",
    "buyer_name": "Comercializadora Andina S.A.S.",
    "buyer_document": "NIT 901304961-7",
    "total": "2500000.50 COP",
    "lines": json.dumps(
        [
            {
                "origin_code": "OC-ORO-0001",
                "mineral": "ORO",
                "quantity": "10",
                "unit_price": "250000.05",
            }
        ]
    ),
    "expires_at": "10/03/2026 10:30:00",
    "sent_at": "10/03/2026 10:00:00",
}

PARAMS: dict[str, dict[str, str]] = {
    "acceptance_code": dict(_PURCHASE),
    "acceptance_code_sms": dict(_PURCHASE),
    "purchase_confirmed": {
        "purchase_id": _PURCHASE["purchase_id"],
        "role": "vendedor",
        "organisation_id": "0d6f1f1e-8f6e-4c0b-9a43-7d1c0f2a6b70",
        "organisation_name": "Minera El Diluvio Gold S.A.S.",
        "organisation_document": "NIT 900123456-8",
        "buyer_name": "Comercializadora Andina S.A.S.",
        "seller_name": "Minera El Diluvio Gold S.A.S.",
        "total": "2500000.50 COP",
        "balances": json.dumps(
            [
                {
                    "origin_code": "OC-ORO-0001",
                    "mineral": "ORO",
                    "unit": "g",
                    "available": "990",
                    "reserved": "0",
                }
            ]
        ),
        "validated_at": "10/03/2026 10:12:45",
    },
    "login_code": {
        "code": "739104",
        "user_name": "Ana María Pérez",
        "expires_at": "10/03/2026 10:10:00",
    },
    "login_code_sms": {
        "code": "739104",
        "user_name": "Ana María Pérez",
        "expires_at": "10/03/2026 10:10:00",
    },
    "seller_url": {
        "url": "https://ptm.anm.gov.co/vendedor/cargar/Zk3v9Qn0b1xR2sT4uV6wY8aC0eG2iK4m",
        "buyer_name": "Comercializadora Andina S.A.S.",
        "buyer_document": "NIT 901304961-7",
        "seller_name": "Minera El Diluvio Gold S.A.S.",
        "seller_document": "NIT 900123456-8",
        "purchase_id": _PURCHASE["purchase_id"],
        "expediente": "HJK-08141",
        "expires_at": "13/03/2026 10:00:00",
    },
    "ws_token": {
        "token": "wst_9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "purchase_id": _PURCHASE["purchase_id"],
        "buyer_name": "Comercializadora Andina S.A.S.",
        "seller_name": "Minera El Diluvio Gold S.A.S.",
        "seller_document": "NIT 900123456-8",
        "expires_at": "11/03/2026 10:00:00",
    },
    "balance_statement": {
        "statement_id": "EST-2026-000123",
        "seller_name": "Minera El Diluvio Gold S.A.S.",
        "seller_document": "NIT 900123456-8",
        "buyer_name": "Comercializadora Andina S.A.S.",
    },
}

_BUYER_NOTICE = {
    "purchase_id": _PURCHASE["purchase_id"],
    "buyer_name": "Comercializadora Andina S.A.S.",
    "buyer_document": "NIT 901304961-7",
    "seller_name": "Minera El Diluvio Gold S.A.S.",
    "seller_document": "NIT 900123456-8",
    "expediente": "HJK-08141",
    "total": "2500000.50 COP",
    "lines_count": "1",
    "sent_at": "10/03/2026 10:00:00",
}
PARAMS["seller_data_received"] = {**_BUYER_NOTICE, "channel": "la URL única"}
PARAMS["purchase_expired"] = dict(_BUYER_NOTICE)
PARAMS["purchase_locked"] = {**_BUYER_NOTICE, "failed_attempts": "5"}
PARAMS["submissions_suspended"] = {
    "role": "vendedor",
    "recipient_name": "Minera El Diluvio Gold S.A.S.",
    "recipient_document": "NIT 900123456-8",
    "buyer_name": "Comercializadora Andina S.A.S.",
    "buyer_document": "NIT 901304961-7",
    "seller_name": "Minera El Diluvio Gold S.A.S.",
    "seller_document": "NIT 900123456-8",
    "purchase_id": _PURCHASE["purchase_id"],
    "wrong_codes": "10",
    "window": "24 horas",
    "suspended_until": "11/03/2026 10:00:00",
    "sent_at": "10/03/2026 10:00:00",
}

#: The secret param of each template (what the ledger must mark secret).
SECRETS = {name: spec.secrets for name, spec in TEMPLATES.items()}


def make_row(
    template: str,
    *,
    key: str | None = None,
    recipient: str | None = None,
    params: dict[str, str] | None = None,
    secret_params: Sequence[str] | None = None,
    created_at: datetime | None = None,
) -> OutboxRow:
    """An outbox row of ``template`` with the sample params (overridable)."""
    spec = TEMPLATES[template]
    channel = spec.channel
    return OutboxRow(
        key=key or f"11111111-2222-3333-4444-555555555555:1/{channel}/{template}",
        event_id="11111111-2222-3333-4444-555555555555:1",
        channel=channel,
        recipient=recipient or (SELLER_EMAIL if channel == "email" else SELLER_MOBILE),
        template=template,
        params=dict(PARAMS[template] if params is None else params),
        secret_params=tuple(spec.secrets if secret_params is None else secret_params),
        created_at=created_at or datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
        next_attempt_at=created_at or datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
    )


class FakeOutbox:
    """An OutboxStore in a dict (the worker's port, faked as Cosmic Python does)."""

    def __init__(self, rows: Sequence[OutboxRow] = ()) -> None:
        self.lock = threading.Lock()
        self.rows: dict[str, OutboxRow] = {r.key: r for r in rows}

    def add(self, *rows: OutboxRow) -> None:
        with self.lock:
            for r in rows:
                self.rows[r.key] = r

    def all(self) -> Sequence[OutboxRow]:
        with self.lock:
            return list(self.rows.values())

    def due(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        with self.lock:
            return [
                r
                for r in self.rows.values()
                if r.status == PENDING and (r.next_attempt_at is None or r.next_attempt_at <= now)
            ][:limit]

    def caused_by(self, aggregate_id: str) -> Sequence[OutboxRow]:
        with self.lock:
            return [r for r in self.rows.values() if r.event_id.startswith(f"{aggregate_id}:")]

    def mark_sent(self, key: str, now: datetime, provider_ref: str | None) -> bool:
        with self.lock:
            row = self.rows[key]
            if row.status == SENT:
                return False
            self.rows[key] = row.as_sent(now, provider_ref)
            return True

    def mark_failed(self, key: str, now: datetime, error: str, next_attempt_at: datetime) -> None:
        with self.lock:
            row = self.rows[key]
            if row.status == PENDING:
                self.rows[key] = replace(
                    row,
                    attempts=row.attempts + 1,
                    last_error=error[:500],
                    next_attempt_at=next_attempt_at,
                )
