"""Signed notifications to a seller's web-service endpoint (alternative 3).

The body is JSON built from the outbox row's params; it is signed when it is sent
(Standard Webhooks: ``webhook-id`` = the outbox key, ``webhook-timestamp``,
``webhook-signature``), so a message delayed by an outage still carries a fresh
timestamp. The id stays the same on every attempt: the receiver can drop duplicates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from ledger.webhooks import sign
from notifications.outbox import OutboxRow
from notifications.senders import PermanentSendError, TransientSendError

#: Params that describe the request to the seller; nothing secret travels here.
PAYLOAD_FIELDS = (
    "purchase_id",
    "buyer_name",
    "buyer_document",
    "seller_name",
    "seller_document",
    "expires_at_iso",
)


class WebhookSender(Protocol):
    """Posts one signed notification; returns a reference of the delivery."""

    def send_webhook(self, row: OutboxRow) -> str:
        """Deliver ``row`` to its recipient URL."""
        ...


class HttpWebhookSender:
    """Standard-Webhooks POST with httpx; the seller's secret comes from ``secret_for``."""

    def __init__(
        self,
        secret_for: Callable[[str], str],
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.secret_for = secret_for
        self.clock = clock
        self.client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False)

    def send_webhook(self, row: OutboxRow) -> str:
        payload = {
            "type": row.template,
            "data": {k: row.params[k] for k in PAYLOAD_FIELDS if k in row.params},
        }
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        try:
            secret = self.secret_for(row.params["organisation_id"])
        except Exception as e:
            raise PermanentSendError(f"sin secreto del web service: {e}") from e
        ts = int(self.clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": row.key,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, row.key, ts, body),
        }
        try:
            r = self.client.post(row.recipient, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise TransientSendError(f"web service inaccesible: {e}", provider_down=False) from e
        if r.status_code >= 500 or r.status_code in (408, 429):
            raise TransientSendError(f"web service respondió {r.status_code}", provider_down=False)
        if r.status_code >= 400:
            raise PermanentSendError(f"web service rechazó la notificación: {r.status_code}")
        return f"http-{r.status_code}"
