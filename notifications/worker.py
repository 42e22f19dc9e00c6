"""The outbox worker: delivers the messages the ledger stored with its events.

Delivery is **at least once**. The provider call and the ``mark_sent`` commit cannot be
one atomic step, so a worker that dies after the provider accepted a message and
before ``mark_sent`` committed sends that message again when it (or another worker)
next runs: duplicates are at most the number of such crashes (plus the rows two
workers happen to take at the same moment). Every delivery of a row carries the same
idempotency key (the outbox key, derived from the event id) as ``X-PTM-Outbox-Key``
and in the Message-ID, so a duplicate can be recognised; ``mark_sent`` returning False
(someone else already marked it) is counted as a duplicate.

A failure never drops a message:

- transient (connection refused, timeout, SMTP 4xx, Twilio 5xx/429): the row stays
  pending, its attempt is counted, and its next attempt is pushed back exponentially
  with jitter, up to ``max_backoff_s``. When a provider looks down, the rest of the
  batch on that channel is rescheduled without calling it again.
- permanent (render error, bad recipient, SMTP 5xx recipient or content refused,
  Twilio 4xx): the row stays pending with ``last_error`` starting with
  :data:`PERMANENT_PREFIX`, is retried only after :data:`PERMANENT_RETRY_S` and is
  logged at ERROR level; :func:`permanent_failures` lists them for an operator. (A
  ``dead`` status in the storage layer would let them stop for good.)
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ledger.messages import EMAIL, SMS, WEBHOOK
from notifications.envelope import Attachment, EnvelopeError, build_email, check_mobile
from notifications.outbox import PENDING, OutboxRow, OutboxStore
from notifications.rendering import RenderedEmail, RenderedSms, RenderError, render, template_spec
from notifications.senders import EmailSender, PermanentSendError, SmsSender, TransientSendError
from notifications.webhooks import WebhookSender

log = logging.getLogger(__name__)

#: First back-off after a transient failure (seconds); doubles with each attempt.
BASE_BACKOFF_S: Final = 5.0
#: When a message that can never be sent is looked at again (seconds).
PERMANENT_RETRY_S: Final = 24 * 3600.0
#: Start of ``last_error`` for a permanent failure, so operators can find them.
PERMANENT_PREFIX: Final = "PERMANENTE: "
#: Largest batch a worker takes in one run.
BATCH_MAX: Final = 1000
#: Longest error text kept on the row (the stores cut at 500 too).
ERROR_MAX_CHARS: Final = 480

AttachmentProvider = Callable[[OutboxRow], Sequence[Attachment]]
Clock = Callable[[], datetime]


@dataclass
class WorkerStats:
    """What one run did with the rows it took."""

    taken: int = 0
    sent: int = 0
    duplicates: int = 0
    retried: int = 0
    deferred: int = 0
    failed_permanently: int = 0

    @property
    def delivered(self) -> int:
        """Rows this run saw through to the provider and marked (or found marked)."""
        return self.sent + self.duplicates


def backoff_s(attempts: int, *, max_backoff_s: float, rng: random.Random) -> float:
    """Delay before the next attempt after ``attempts`` earlier failures.

    Exponential, capped, with "equal jitter": at least half the cap, so retries of
    many rows after one outage spread out without ever becoming immediate.
    """
    cap = min(max_backoff_s, BASE_BACKOFF_S * 2.0 ** min(max(attempts, 0), 30))
    return cap / 2 + rng.uniform(0, cap / 2)


def permanent_failures(rows: Sequence[OutboxRow]) -> list[OutboxRow]:
    """Pending rows whose last attempt failed for good (for an operator to look at)."""
    return [
        r for r in rows if r.status == PENDING and (r.last_error or "").startswith(PERMANENT_PREFIX)
    ]


class OutboxWorker:
    """Takes due outbox rows, renders and sends them, and records the outcome."""

    def __init__(
        self,
        store: OutboxStore,
        email: EmailSender,
        sms: SmsSender,
        clock: Clock,
        *,
        batch: int = 50,
        max_backoff_s: float = 300.0,
        attachments: AttachmentProvider | None = None,
        rng: random.Random | None = None,
        webhooks: WebhookSender | None = None,
    ) -> None:
        assert 1 <= batch <= BATCH_MAX, batch
        assert max_backoff_s >= 1, max_backoff_s
        self.store = store
        self.email = email
        self.sms = sms
        self.clock = clock
        self.batch = batch
        self.max_backoff_s = max_backoff_s
        self.attachments = attachments
        self.webhooks = webhooks
        # Jitter needs no unpredictability, only spread; tests inject a seeded one.
        self._rng = rng or random.Random()  # noqa: S311

    # --- one run ---------------------------------------------------------------------

    def run_once(self) -> WorkerStats:
        """Deliver the due rows (at most ``batch``), each attempted at most once."""
        stats = WorkerStats()
        rows = self.store.due(self.clock(), self.batch)
        stats.taken = len(rows)
        down: dict[str, str] = {}  # channel -> why its provider looks down in this run
        for row in rows:
            if row.channel in down:
                self._retry(row, f"no intentado: {down[row.channel]}")
                stats.deferred += 1
                continue
            try:
                ref = self._deliver(row)
            except (RenderError, EnvelopeError, PermanentSendError) as e:
                self._give_up(row, e)
                stats.failed_permanently += 1
            except TransientSendError as e:
                self._retry(row, str(e))
                stats.retried += 1
                if e.provider_down:
                    down[row.channel] = str(e)
            except Exception as e:
                # Unknown failures are treated as transient: a message is never dropped
                # because of a bug; it waits, visible, until the bug is fixed.
                log.exception("outbox %s: error inesperado al enviar", row.key)
                self._retry(row, f"{type(e).__name__}: {e}")
                stats.retried += 1
            else:
                if self.store.mark_sent(row.key, self.clock(), ref):
                    stats.sent += 1
                else:
                    log.warning("outbox %s: ya estaba enviado (duplicado)", row.key)
                    stats.duplicates += 1
        return stats

    def _deliver(self, row: OutboxRow) -> str:
        if row.channel == EMAIL:
            files = self._attachments_for(row)
            rendered = render(row, attachment_names=[a.filename for a in files])
            assert isinstance(rendered, RenderedEmail)
            message = build_email(rendered, to=row.recipient, attachments=files)
            return self.email.send_email(message, outbox_key=row.key)
        if row.channel == SMS:
            sms = render(row)
            assert isinstance(sms, RenderedSms)
            return self.sms.send_sms(
                to=check_mobile(row.recipient), body=sms.body, outbox_key=row.key
            )
        if row.channel == WEBHOOK:
            if self.webhooks is None:
                raise TransientSendError(
                    "no hay emisor de web service configurado", provider_down=True
                )
            return self.webhooks.send_webhook(row)
        raise RenderError(f"Canal desconocido: {row.channel!r}.", template=row.template)

    def _attachments_for(self, row: OutboxRow) -> Sequence[Attachment]:
        spec = template_spec(row.template)
        if spec.attachments == "none":
            return ()
        files: Sequence[Attachment] = ()
        if self.attachments is not None:
            try:
                files = self.attachments(row)
            except Exception as e:
                # The provider reads the store; a hiccup there is worth another try.
                raise TransientSendError(
                    f"no se pudo preparar el adjunto: {type(e).__name__}: {e}",
                    provider_down=False,
                ) from e
        if spec.attachments == "required" and not files:
            raise RenderError(
                f"La plantilla {spec.name!r} necesita un adjunto y no hay ninguno.",
                template=spec.name,
            )
        return files

    def _retry(self, row: OutboxRow, error: str) -> None:
        now = self.clock()
        delay = backoff_s(row.attempts, max_backoff_s=self.max_backoff_s, rng=self._rng)
        log.warning(
            "outbox %s (%s): intento %d fallido, se reintenta en %.0f s: %s",
            row.key,
            row.template,
            row.attempts + 1,
            delay,
            error,
        )
        self.store.mark_failed(
            row.key, now, error[:ERROR_MAX_CHARS], now + timedelta(seconds=delay)
        )

    def _give_up(self, row: OutboxRow, error: Exception) -> None:
        now = self.clock()
        text = PERMANENT_PREFIX + f"{type(error).__name__}: {error}"
        log.error(
            "outbox %s (%s): no se puede enviar; queda pendiente y se revisará en %.0f h: %s",
            row.key,
            row.template,
            PERMANENT_RETRY_S / 3600,
            text,
        )
        self.store.mark_failed(
            row.key, now, text[:ERROR_MAX_CHARS], now + timedelta(seconds=PERMANENT_RETRY_S)
        )

    # --- a long-running worker -------------------------------------------------------

    def run_forever(self, stop: threading.Event, idle_sleep_s: float = 1.0) -> None:
        """Run until ``stop`` is set; rest ``idle_sleep_s`` whenever there is no more to do.

        A full batch that made progress is followed at once by the next; anything else
        (an empty or partial batch, a batch of failures, a store that is down) waits,
        so the loop never spins.
        """
        assert idle_sleep_s > 0, idle_sleep_s
        while not stop.is_set():
            try:
                stats = self.run_once()
            except Exception:
                log.exception("outbox: la ronda de envío falló; se reintenta")
                stop.wait(idle_sleep_s)
                continue
            if stats.taken < self.batch or stats.delivered == 0:
                stop.wait(idle_sleep_s)
