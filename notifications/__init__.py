"""PTM Ledger: notifications.

The ledger writes the messages it wants sent to an outbox, in the same transaction as
the events that cause them; :class:`notifications.worker.OutboxWorker` delivers them
afterwards, at least once, through the ports of :mod:`notifications.senders` (SMTP and
Twilio, or :class:`notifications.filesender.FileSender` for the embedded default), with
the Spanish texts of :mod:`notifications.rendering`.
"""
