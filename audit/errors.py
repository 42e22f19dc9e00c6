"""Errors of the audit tools, in the ledger's one error tree (so the API maps them)."""

from __future__ import annotations

from kernel.errors import ConflictError, ValidationError


class ChainIntegrityError(ConflictError):
    """The stored chain does not verify: the platform refuses to sign it."""

    code = "chain_broken"
    default_detail = "La cadena de eventos no verifica; no se firma un resumen."


class EmptyLogError(ConflictError):
    """There is nothing to sign or export yet."""

    code = "empty_log"
    default_detail = "El registro de eventos está vacío."


class ReplayError(ConflictError):
    """A stored event could not be decoded or folded (wrong key, damaged row)."""

    code = "replay_failed"
    default_detail = "No se pudo reproducir el historial."


class RangeTooLargeError(ValidationError):
    """A request would read more of the log than one call may."""

    code = "range_too_large"
    default_detail = "El rango pedido es demasiado grande."
