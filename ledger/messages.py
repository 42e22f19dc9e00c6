"""Messages the ledger asks to send, written to the outbox in the same atomic write
as the event that causes them. Delivery (SMTP, SMS) happens later, at least once, and
the outbox key (derived from the event id) makes re-delivery detectable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal
from uuid import UUID

EMAIL: Final = "email"
SMS: Final = "sms"
WEBHOOK: Final = "webhook"

Channel = Literal["email", "sms", "webhook"]


def event_id(originator_id: UUID, originator_version: int) -> str:
    """Stable id of a stored event: its aggregate id and version."""
    return f"{originator_id}:{originator_version}"


@dataclass(frozen=True)
class OutboxMessage:
    """One message to one recipient, rendered from a template at delivery time.

    ``secret_params`` names the params (codes, tokens, links) that the sender blanks
    out once the message is delivered: only their keyed hashes stay on record.
    """

    key: str
    event_id: str
    channel: Channel
    recipient: str
    template: str
    params: dict[str, str] = field(default_factory=dict)
    secret_params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.channel in (EMAIL, SMS, WEBHOOK), self.channel
        assert self.recipient, "message without recipient"
        assert set(self.secret_params) <= set(self.params), "secret param missing"
