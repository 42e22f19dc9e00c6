"""Signed notifications to a seller's web-service endpoint (alternative 3).

The body is JSON built from the outbox row's params; it is signed when it is sent
(Standard Webhooks: ``webhook-id`` = the outbox key, ``webhook-timestamp``,
``webhook-signature`` with a v2 signature over ``POST`` and the endpoint's path, and a
v1 one beside it while v1 is accepted), so a message delayed by an outage still carries
a fresh timestamp. The id stays the same on every attempt: the receiver can drop
duplicates.

Every delivery checks the endpoint again (:class:`notifications.egress.EgressPolicy`:
https, public addresses only) and connects to the address it checked, not to whatever
the name resolves to a moment later; TLS still verifies the certificate against the host
name (SNI). Redirects are not followed (a 3xx is a failure), timeouts are short and at
most :data:`MAX_RESPONSE_BYTES` of the answer are read.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Final, Protocol

import httpx

from ledger.webhooks import signature_header
from notifications.egress import (
    EgressPolicy,
    Endpoint,
    EndpointRefusedError,
    EndpointUnresolvedError,
)
from notifications.outbox import OutboxRow
from notifications.senders import PermanentSendError, TransientSendError

log = logging.getLogger(__name__)

#: Params that describe the request to the seller; nothing secret travels here.
PAYLOAD_FIELDS = (
    "purchase_id",
    "buyer_name",
    "buyer_document",
    "seller_name",
    "seller_document",
    "expires_at_iso",
)
#: The most of a response body that is read (the answer is not used, only its status).
MAX_RESPONSE_BYTES: Final = 64 * 1024
#: Addresses of one host tried in turn when a connection cannot be opened.
MAX_ADDRESSES: Final = 3


class WebhookSender(Protocol):
    """Posts one signed notification; returns a reference of the delivery."""

    def send_webhook(self, row: OutboxRow) -> str:
        """Deliver ``row`` to its recipient URL."""
        ...


class HttpWebhookSender:
    """Standard-Webhooks POST with httpx; the seller's secret comes from ``secret_for``,
    the endpoint is checked by ``egress`` (production rules by default)."""

    def __init__(
        self,
        secret_for: Callable[[str], str],
        *,
        egress: EgressPolicy | None = None,
        connect_timeout_s: float = 3.0,
        timeout_s: float = 5.0,
        total_timeout_s: float = 15.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        assert 0 < connect_timeout_s <= total_timeout_s, (connect_timeout_s, total_timeout_s)
        assert 0 < timeout_s <= total_timeout_s, (timeout_s, total_timeout_s)
        self.secret_for = secret_for
        self.egress = egress or EgressPolicy()
        self.clock = clock
        self.total_timeout_s = total_timeout_s
        self.max_response_bytes = max_response_bytes
        # No connection is kept: each delivery's connection was opened for one checked
        # address and one host name (SNI), and must not serve another seller's request.
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            transport=transport,
            verify=ssl_context or True,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect where we checked
            limits=httpx.Limits(max_keepalive_connections=0),
        )

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
        try:
            endpoint = self.egress.check(row.recipient)
        except EndpointUnresolvedError as e:
            raise TransientSendError(f"web service: {e.detail}", provider_down=False) from e
        except EndpointRefusedError as e:
            log.error("outbox %s: destino del web service rechazado: %s", row.key, e.detail)
            raise PermanentSendError(f"destino rechazado: {e.detail}") from e
        ts = int(self.clock())
        headers = {
            "host": endpoint.host_header,
            "content-type": "application/json",
            "connection": "close",
            "webhook-id": row.key,
            "webhook-timestamp": str(ts),
            "webhook-signature": signature_header(
                secret, row.key, ts, method="POST", path=endpoint.target, body=body
            ),
        }
        status = self._post(endpoint, headers, body)
        if 300 <= status < 400:
            raise PermanentSendError(
                f"web service respondió {status}: las redirecciones no se siguen"
            )
        if status >= 500 or status in (408, 429):
            raise TransientSendError(f"web service respondió {status}", provider_down=False)
        if status >= 400 or status < 200:
            raise PermanentSendError(f"web service rechazó la notificación: {status}")
        return f"http-{status}"

    def _post(self, endpoint: Endpoint, headers: dict[str, str], body: bytes) -> int:
        """POST to the first checked address that accepts a connection; the status."""
        deadline = time.monotonic() + self.total_timeout_s
        extensions = {} if endpoint.literal else {"sni_hostname": endpoint.host}
        last: httpx.HTTPError | None = None
        for address in endpoint.addresses[:MAX_ADDRESSES]:
            url = httpx.URL(
                scheme=endpoint.scheme,
                host=address,
                port=endpoint.port,
                raw_path=endpoint.target.encode("ascii"),
            )
            try:
                with self.client.stream(
                    "POST", url, content=body, headers=headers, extensions=extensions
                ) as r:
                    self._drain(r, deadline)
                    return r.status_code
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                last = e
                continue
            except httpx.HTTPError as e:
                raise TransientSendError(
                    f"web service inaccesible: {type(e).__name__}: {e}", provider_down=False
                ) from e
        raise TransientSendError(
            f"web service inaccesible: {type(last).__name__}: {last}", provider_down=False
        )

    def _drain(self, response: httpx.Response, deadline: float) -> None:
        """Read at most ``max_response_bytes`` of the body, within the deadline."""
        read = 0
        for chunk in response.iter_raw(chunk_size=16 * 1024):
            read += len(chunk)
            if read >= self.max_response_bytes or time.monotonic() > deadline:
                break
