"""Registry of organisations: trading companies (buyers), authorized mining operators
(sellers) and the agency itself.

An organisation's identity is its document (type + number), so registering the same
document twice collides in the event store instead of creating a twin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kernel.errors import ConflictError, ValidationError

ORG_NAMESPACE = uuid5(NAMESPACE_URL, "https://ptm.anm.gov.co/ns/organisation")

#: Kinds of organisation.
BUYER = "buyer"
OPERATOR = "operator"
AGENCY = "agency"
ORG_KINDS = (BUYER, OPERATOR, AGENCY)


def organisation_id(doc_type: str, doc_number: str) -> UUID:
    """Deterministic id of the organisation identified by a document."""
    return uuid5(ORG_NAMESPACE, f"{doc_type}:{doc_number}")


class Organisation(Aggregate):
    """A registered organisation with its contact details on record."""

    @staticmethod
    def create_id(doc_type: str, doc_number: str, **_: Any) -> UUID:
        return organisation_id(doc_type, doc_number)

    @event("Registered")
    def __init__(
        self,
        *,
        kind: str,
        doc_type: str,
        doc_number: str,
        name: str,
        email: str,
        mobile: str,
        rucom: str | None,
        expedientes: list[str],
        registered_at: datetime,
    ) -> None:
        self.kind = kind
        self.doc_type = doc_type
        self.doc_number = doc_number
        self.name = name
        self.email = email
        self.mobile = mobile
        self.rucom = rucom
        self.expedientes = list(expedientes)
        self.registered_at = registered_at
        self.origin_codes: list[str] = []
        self.webservice_url: str | None = None
        self.webservice_secret_sealed: str | None = None

    @classmethod
    def register(
        cls,
        *,
        kind: str,
        doc_type: str,
        doc_number: str,
        name: str,
        email: str,
        mobile: str,
        rucom: str | None,
        expedientes: list[str],
        now: datetime,
    ) -> Organisation:
        """Register an organisation; values must already be normalised."""
        if kind not in ORG_KINDS:
            raise ValidationError("Tipo de organización inválido.", field="kind")
        if kind == BUYER and not rucom:
            raise ValidationError(
                "El comercializador debe tener número RUCOM.", field="rucom", code="required"
            )
        if kind == BUYER and doc_type != "NIT":
            raise ValidationError(
                "El comercializador se identifica con NIT.",
                field="document_type",
                code="invalid_document_type",
            )
        if kind == OPERATOR and not expedientes:
            raise ValidationError(
                "El explotador minero debe tener al menos un expediente minero.",
                field="expedientes",
                code="required",
            )
        if len(set(expedientes)) != len(expedientes):
            raise ValidationError(
                "Expedientes repetidos.", field="expedientes", code="duplicate_expediente"
            )
        return cls(
            kind=kind,
            doc_type=doc_type,
            doc_number=doc_number,
            name=name,
            email=email,
            mobile=mobile,
            rucom=rucom,
            expedientes=expedientes,
            registered_at=now,
        )

    def update_contact(self, *, email: str, mobile: str, now: datetime) -> None:
        """Change the contact details on record (admin operation)."""
        self._contact_updated(email=email, mobile=mobile, at=now)

    @event("ContactUpdated")
    def _contact_updated(self, email: str, mobile: str, at: datetime) -> None:
        self.email = email
        self.mobile = mobile

    def add_expediente(self, expediente: str, *, now: datetime) -> None:
        """Record another expediente minero held by this operator."""
        if self.kind != OPERATOR:
            raise ConflictError("Solo un explotador minero tiene expedientes.", field="kind")
        if expediente in self.expedientes:
            raise ConflictError(
                "El expediente ya está registrado.", field="expediente", code="duplicate"
            )
        self._expediente_added(expediente=expediente, at=now)

    @event("ExpedienteAdded")
    def _expediente_added(self, expediente: str, at: datetime) -> None:
        self.expedientes.append(expediente)

    def note_origin_code(self, code: str, *, now: datetime) -> None:
        """Remember an origin code produced by this operator (for its statements)."""
        assert self.kind == OPERATOR, "only operators produce"
        assert code not in self.origin_codes, "origin code noted twice"
        self._origin_code_registered(code=code, at=now)

    @event("OriginCodeRegistered")
    def _origin_code_registered(self, code: str, at: datetime) -> None:
        self.origin_codes.append(code)

    def request_statement(self, *, statement_id: str, now: datetime) -> None:
        """The operator asked for its TXT balance statement by e-mail."""
        if self.kind != OPERATOR:
            raise ConflictError("Solo un explotador minero tiene estado de saldos.", field="kind")
        self._statement_requested(statement_id=statement_id, at=now)

    @event("StatementRequested")
    def _statement_requested(self, statement_id: str, at: datetime) -> None:
        pass

    def configure_webservice(self, *, url: str, secret_sealed: str, now: datetime) -> None:
        """Set the operator's web-service endpoint and its API secret, sealed by the edge
        (HMAC verification needs the secret itself, so it is encrypted, not hashed)."""
        if self.kind != OPERATOR:
            raise ConflictError("Solo un explotador minero configura web service.", field="kind")
        self._webservice_configured(url=url, secret_sealed=secret_sealed, at=now)

    @event("WebServiceConfigured")
    def _webservice_configured(self, url: str, secret_sealed: str, at: datetime) -> None:
        self.webservice_url = url
        self.webservice_secret_sealed = secret_sealed


AGENCY_ROLL_ID = uuid5(ORG_NAMESPACE, "agency-roll")


class AgencyRoll(Aggregate):
    """The organisations registered as the agency (ANM): who is told when a buyer's
    guessing of acceptance codes is suspended. One per ledger, with a fixed id."""

    @staticmethod
    def create_id(**_: Any) -> UUID:
        return AGENCY_ROLL_ID

    @event("Opened")
    def __init__(self, *, opened_at: datetime) -> None:
        self.opened_at = opened_at
        self.agencies: list[UUID] = []

    @classmethod
    def open(cls, *, now: datetime) -> AgencyRoll:
        return cls(opened_at=now)

    def enrol(self, organisation_id: UUID, *, now: datetime) -> None:
        """Add an agency organisation (once)."""
        if organisation_id in self.agencies:
            return
        self._enrolled(organisation_id=organisation_id, at=now)

    @event("AgencyEnrolled")
    def _enrolled(self, organisation_id: UUID, at: datetime) -> None:
        self.agencies.append(organisation_id)
