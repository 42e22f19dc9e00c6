"""Wiring: build the ledger application, read models and workers from settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from sqlalchemy import Engine

from adapters.crypto import SecretBox
from adapters.db import make_engine, upgrade
from adapters.storage.recorder import recorder_of
from audit.chain import AuditedRecorder, AuditStore
from audit.service import AuditService
from kernel.commands import Clock, utc_now
from kernel.errors import LedgerError
from kernel.locks import ChainedLocker, KeyedLocks, Locker
from ledger.application import Ledger, LedgerConfig
from ledger.guard import GuardPolicy
from ledger.purchase import CodePolicy
from notifications.egress import EgressPolicy
from notifications.envelope import Attachment
from notifications.outbox import OutboxRow, OutboxStore
from notifications.webhooks import HttpWebhookSender
from notifications.wiring import build_senders, build_worker
from notifications.worker import OutboxWorker
from projections.runner import ProjectionRunner
from ptm.royalties_wiring import build_royalties
from ptm.settings import DEFAULT_PUBLIC_BASE_URL, Settings, eventsourcing_env
from royalties.application import RoyaltiesApp

if TYPE_CHECKING:
    from api.context import ApiContext
    from api.security import PasswordHasher


def ledger_config(settings: Settings) -> LedgerConfig:
    """Limits and secrets of the ledger from settings."""
    return LedgerConfig(
        code_key=settings.secret("code_hmac_key"),
        statement_key=settings.secret("statement_key"),
        policy=CodePolicy(
            digits=settings.code_digits,
            code_ttl=timedelta(seconds=settings.code_ttl_s),
            max_failed_attempts=settings.code_max_failed,
            max_resends=settings.code_max_resends,
            reservation_ttl=timedelta(seconds=settings.reservation_ttl_s),
        ),
        guard=GuardPolicy(
            wrong_codes=settings.guard_wrong_codes,
            wrong_codes_window=timedelta(seconds=settings.guard_wrong_codes_window_s),
            seller_messages=settings.guard_seller_messages,
            seller_messages_window=timedelta(seconds=settings.guard_seller_messages_window_s),
        ),
        snapshot_interval=settings.snapshot_interval,
    )


def build_ledger(
    settings: Settings, *, clock: Clock = utc_now, create_table: bool = True
) -> Ledger:
    """The ledger on the configured persistence, with cross-process locks on PostgreSQL."""
    app = Ledger(
        eventsourcing_env(settings, create_table=create_table),
        config=ledger_config(settings),
        clock=clock,
    )
    if settings.is_postgres() and settings.advisory_locks:
        from adapters.storage.postgres import AdvisoryLocker, datastore_of  # noqa: PLC0415

        datastore = datastore_of(app)
        locker: Locker = ChainedLocker(KeyedLocks(), AdvisoryLocker(datastore))
        app.locker = locker
    return app


@dataclass
class Services:
    """Everything an entry point needs, wired for one persistence setting."""

    settings: Settings
    ledger: Ledger
    engine: Engine
    runner: ProjectionRunner
    #: The nickel royalty base-price cases (their own event store, see royalties_wiring).
    royalties: RoyaltiesApp | None = None

    def close(self) -> None:
        self.ledger.close()
        if self.royalties is not None:
            self.royalties.close()
        self.engine.dispose()


def build_services(
    settings: Settings, *, clock: Clock = utc_now, create_table: bool = True, migrate: bool = True
) -> Services:
    """Ledger, read-model engine (migrated to head) and projection runner."""
    ledger = build_ledger(settings, clock=clock, create_table=create_table)
    engine = make_engine(settings.database_url)
    try:
        if migrate:
            upgrade(engine)
        runner = ProjectionRunner(
            ledger.recorder, ledger.mapper, engine, page_size=settings.projection_page_size
        )
        royalties = build_royalties(settings, clock=clock, create_table=create_table)
    except BaseException:
        # Half-built services hold connection pools: a caller that retries (a worker
        # waiting for the database) must not pile them up.
        engine.dispose()
        ledger.close()
        raise
    return Services(
        settings=settings, ledger=ledger, engine=engine, runner=runner, royalties=royalties
    )


def build_audit(services: Services) -> AuditService:
    """The auditors' tools on a wired deployment: its recorder's chain, the ledger's
    mapper, the signing seed, the read models to diff against."""
    settings = services.settings
    return AuditService(
        store=recorder_of(services.ledger).audit,
        mapper=services.ledger.mapper,
        seed=lambda: settings.secret("signing_key_seed"),
        engine=services.engine,
        runner=services.runner,
    )


def migrate_read_models(settings: Settings, revision: str = "head") -> None:
    """Run the read-model migrations of the configured database up to ``revision``."""
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()


def outbox_of(ledger: Ledger) -> OutboxStore:
    """The outbox rows the ledger's recorder writes with its events."""
    return recorder_of(ledger).outbox


@contextlib.contextmanager
def open_audit_store(settings: Settings) -> Iterator[AuditStore]:
    """Read access to the stored rows and the chain, nothing else: no secrets, no cipher
    key, no read-model migration — what an auditor with a read-only database user has."""
    env = eventsourcing_env(settings, create_table=False)
    factory = InfrastructureFactory.construct(Environment(Ledger.name, env))
    try:
        recorder = factory.application_recorder()
        if not isinstance(recorder, AuditedRecorder):
            raise LedgerError("El registrador configurado no tiene cadena de auditoría.")
        yield recorder.audit
    finally:
        factory.close()


def statement_attachments(ledger: Ledger) -> Callable[[OutboxRow], list[Attachment]]:
    """The attachments of an outbox message, as the ledger's notices decide them."""

    def provide(row: OutboxRow) -> list[Attachment]:
        found = ledger.statement_attachment(row.template, row.params)
        if found is None:
            return []
        filename, content = found
        return [Attachment(filename=filename, content=content)]

    return provide


def build_notifier(settings: Settings, ledger: Ledger) -> OutboxWorker:
    """The outbox worker with the configured senders (file outbox by default)."""
    email, sms = build_senders(
        backend=settings.notifications_backend,
        outbox_dir=settings.outbox_dir,
        mail_from=settings.mail_from,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_security=settings.smtp_security,
        smtp_username=settings.smtp_username,
        smtp_password=(
            settings.smtp_password.get_secret_value() if settings.smtp_password else None
        ),
        smtp_timeout_s=settings.smtp_timeout_s,
        twilio_account_sid=settings.twilio_account_sid,
        twilio_auth_token=(
            settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
        ),
        twilio_from=settings.twilio_from,
        twilio_base_url=settings.twilio_base_url,
    )
    store = outbox_of(ledger)
    webhooks = HttpWebhookSender(
        webservice_secrets(settings, ledger),
        egress=webhook_egress(settings),
        connect_timeout_s=settings.webhook_connect_timeout_s,
        timeout_s=settings.webhook_timeout_s,
        total_timeout_s=settings.webhook_total_timeout_s,
    )
    return build_worker(
        store,
        email=email,
        sms=sms,
        batch=settings.notify_batch,
        max_backoff_s=settings.notify_max_backoff_s,
        attachments=statement_attachments(ledger),
        webhooks=webhooks,
    )


def webhook_egress(settings: Settings) -> EgressPolicy:
    """Where sellers' web-service endpoints may point (https, public addresses), with
    the development allowances of the settings."""
    return EgressPolicy(
        allow_http=settings.webhook_allow_http, allow_loopback=settings.webhook_allow_loopback
    )


def webservice_box(settings: Settings) -> SecretBox:
    """The box that seals sellers' web-service secrets."""
    return SecretBox(settings.secret("session_key"), "webservice")


def webservice_secrets(settings: Settings, ledger: Ledger) -> Callable[[str], str]:
    """organisation id → its web-service API secret, in clear (for signing)."""
    box = webservice_box(settings)

    def secret_for(org_id: str) -> str:
        org = ledger.get_organisation(UUID(org_id))
        sealed = org.webservice_secret_sealed
        secret = box.unseal(sealed) if sealed else None
        if secret is None:
            raise LookupError(f"organisation {org_id} has no usable web-service secret")
        return secret

    return secret_for


def build_api_context(services: Services, *, hasher: PasswordHasher | None = None) -> ApiContext:
    """What the API's routes need: identity and credentials on top of the ledger services,
    the audit tools, the web-service secret sealer and the settings values they read."""
    # The API is imported only by the entry points that serve it.
    from adapters.storage.credentials import SqlCredentialStore  # noqa: PLC0415
    from api.context import ApiContext  # noqa: PLC0415
    from api.security import EdgeCredentials, PasswordHasher, TotpBox  # noqa: PLC0415
    from ledger.usecases.identity import Identity  # noqa: PLC0415

    settings = services.settings
    session_key = settings.secret("session_key")
    hasher = hasher or PasswordHasher()
    totp = TotpBox(session_key)
    identity = Identity(
        services.ledger,
        EdgeCredentials(hasher, totp),
        session_key=session_key,
        # Password hashes and TOTP secrets: in the read-model database, not the events.
        store=SqlCredentialStore(services.engine),
        email_codes=settings.login_email_codes,
    )
    return ApiContext(
        ledger=services.ledger,
        engine=services.engine,
        runner=services.runner,
        identity=identity,
        hasher=hasher,
        totp=totp,
        audit=build_audit(services),
        webservice_secrets=webservice_box(settings),
        webservice_endpoints=webhook_egress(settings),
        csrf_key=session_key,
        public_base_url=settings.public_base_url or DEFAULT_PUBLIC_BASE_URL,
        upload_max_bytes=settings.upload_max_bytes,
        max_read_waiters=settings.read_waiters_max,
        database=(
            "postgresql"
            if settings.is_postgres()
            else ("sqlite" if settings.is_sqlite() else "memoria")
        ),
        royalties=services.royalties,
    )
