"""Errors of the nickel royalty base price (PBLRN) module.

They join the project's one tree of domain errors (:class:`kernel.errors.LedgerError`,
a pure module), so the API maps them onto status codes like any other domain error:
each class also inherits the generic ledger class whose meaning it shares (validation,
permission, conflict, not found). Every class has a stable machine-readable ``code``
and a Spanish default message; ``field`` names the input at fault when there is one.
"""

from __future__ import annotations

from kernel.errors import (
    ConflictError,
    DuplicateError,
    LedgerError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    register_error_classes,
)


class RoyaltiesError(LedgerError):
    """Base of every error of the royalties module."""

    code = "royalties_error"
    default_detail = "Error en el cálculo o en el trámite del precio base del níquel."


class RoyaltiesInputError(RoyaltiesError, ValidationError):
    """An input value (file, field, number) that can never be accepted as given."""

    code = "royalties_invalid_input"
    default_detail = "Dato de entrada inválido para el cálculo del precio base del níquel."


class WrongRoleError(RoyaltiesError, PermissionDeniedError):
    """The activity is assigned by the procedure to another role."""

    code = "royalties_wrong_role"
    default_detail = "El rol del usuario no es el responsable de esta actividad."


class ActivityOutOfOrderError(RoyaltiesError, ConflictError):
    """The activity is not the one the case is waiting for."""

    code = "royalties_activity_out_of_order"
    default_detail = "La actividad no corresponde al paso actual del caso."


class NotAControlPointError(RoyaltiesError, ConflictError):
    """A yes/no decision was given for an activity that is not a control point, or the
    other way round."""

    code = "royalties_not_a_control_point"
    default_detail = "La actividad no es un punto de control (o lo es y requiere decisión)."


class MissingCaseDataError(RoyaltiesError, ConflictError):
    """An activity needs data (costs, indices, computed price) not yet registered."""

    code = "royalties_missing_data"
    default_detail = "Faltan datos del caso para completar esta actividad."


class CommentsPeriodOpenError(RoyaltiesError, ConflictError):
    """The comments period on the draft has not ended yet."""

    code = "royalties_comments_period_open"
    default_detail = "El plazo de comentarios de la ciudadanía aún no ha terminado."


class CaseClosedError(RoyaltiesError, ConflictError):
    """The case finished (publication verified); nothing else can happen to it."""

    code = "royalties_case_closed"
    default_detail = "El caso ya terminó."


class CaseChangedError(RoyaltiesError, ConflictError):
    """Other writers kept changing the case while a command ran; nothing was recorded."""

    code = "royalties_case_changed"
    default_detail = (
        "El caso cambió mientras se procesaba la solicitud; consulte su estado y reintente."
    )


class CaseAlreadyExistsError(RoyaltiesError, DuplicateError):
    """A case for the same quarter already exists."""

    code = "royalties_case_exists"
    default_detail = "Ya existe un caso para ese trimestre."


class CaseNotFoundError(RoyaltiesError, NotFoundError):
    """No case with that id."""

    code = "royalties_case_not_found"
    default_detail = "No existe el caso."


# The ledger indexes error classes by name to rebuild stored outcomes; add ours.
register_error_classes()
