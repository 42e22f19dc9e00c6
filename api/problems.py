"""RFC 9457 problem details: the one place where domain errors become HTTP statuses.

Routes never catch exceptions; these handlers shape every error as
``application/problem+json`` with a stable ``type``, the field at fault and a Spanish
``detail``, and nothing internal (no stack, no SQL, no class names).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing import persistence as es_persistence
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel.errors import (
    AuthenticationError,
    BusyError,
    ConflictError,
    LedgerError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://ptm.anm.gov.co/problemas/"
MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Solicitud inválida",
    401: "No autenticado",
    403: "Sin permiso",
    404: "No encontrado",
    405: "Método no permitido",
    406: "No aceptable",
    409: "Conflicto con el estado actual",
    413: "Contenido demasiado grande",
    415: "Tipo de contenido no admitido",
    422: "Datos inválidos",
    429: "Demasiadas solicitudes",
    500: "Error interno",
    503: "Servicio no disponible",
}


class FieldProblem(BaseModel):
    """One invalid field."""

    field: str
    code: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the machine-readable ``code`` and ``field``."""

    type: str = Field(examples=[PROBLEM_BASE + "insufficient_balance"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str
    field: str | None = None
    errors: list[FieldProblem] | None = None
    retry_after_s: int | None = None
    #: ``position_ahead_of_log``: the newest position of the log when it was refused.
    head: int | None = None


def status_for(error: LedgerError) -> int:
    """HTTP status of a domain error."""
    if isinstance(error, RateLimitedError):
        return 429
    if isinstance(error, BusyError):
        return 503
    if isinstance(error, AuthenticationError):
        return 401
    if isinstance(error, PermissionDeniedError):
        return 403
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError | LimitExceededError):
        return 409
    return 422


def problem_response(
    status: int,
    *,
    code: str,
    detail: str,
    instance: str | None = None,
    field: str | None = None,
    errors: list[FieldProblem] | None = None,
    retry_after_s: int | None = None,
    head: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        type=PROBLEM_BASE + code,
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        field=field,
        errors=errors,
        retry_after_s=retry_after_s,
        head=head,
    )
    hdrs = dict(headers or {})
    if retry_after_s is not None:
        hdrs["Retry-After"] = str(retry_after_s)
    if status == 401:
        hdrs.setdefault("WWW-Authenticate", 'Bearer realm="ptm"')
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=hdrs,
    )


def _ledger_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    status = status_for(exc)
    retry = exc.context.get("retry_after_s")
    head = exc.context.get("head")
    errors = None
    issues = getattr(exc, "errors", None)
    if issues:
        errors = [
            FieldProblem(
                field=f"linea {i.line}"
                + (f", columna {i.column} ({i.column_name})" if i.column else "")
                if i.line
                else "archivo",
                code=i.code,
                message=i.message,
            )
            for i in issues
        ]
    return problem_response(
        status,
        code=exc.code,
        detail=exc.detail,
        instance=request.url.path,
        field=exc.field,
        errors=errors,
        retry_after_s=int(retry) if retry is not None else None,
        head=int(head) if head is not None else None,
    )


_PYDANTIC_MESSAGES = {
    "missing": "Campo obligatorio.",
    "string_type": "Debe ser texto.",
    "string_pattern_mismatch": "Formato inválido.",
    "string_too_long": "Texto demasiado largo.",
    "string_too_short": "Texto demasiado corto.",
    "int_parsing": "Debe ser un número entero.",
    "uuid_parsing": "Identificador inválido.",
    "literal_error": "Valor no permitido.",
    "enum": "Valor no permitido.",
    "extra_forbidden": "Campo no permitido.",
    "json_invalid": "JSON inválido.",
    "model_attributes_type": "Se esperaba un objeto.",
    "dict_type": "Se esperaba un objeto.",
    "list_type": "Se esperaba una lista.",
    "too_long": "Demasiados elementos.",
    "too_short": "Faltan elementos.",
    "less_than_equal": "Valor demasiado grande.",
    "greater_than_equal": "Valor demasiado pequeño.",
}


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors()[:50]:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        errors.append(
            FieldProblem(
                field=".".join(loc) or "body",
                code=str(e.get("type", "invalid")),
                message=_PYDANTIC_MESSAGES.get(str(e.get("type")), "Valor inválido."),
            )
        )
    first = errors[0].field if errors else None
    return problem_response(
        422,
        code="validation_error",
        detail="La solicitud tiene datos inválidos.",
        instance=request.url.path,
        field=first,
        errors=errors,
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
        401: "not_authenticated",
        403: "forbidden",
    }
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code < 500 else None
    spanish = {
        404: "El recurso no existe.",
        405: "Método no permitido en este recurso.",
        401: "Se requiere iniciar sesión.",
        403: "No tiene permiso.",
    }
    return problem_response(
        exc.status_code,
        code=codes.get(exc.status_code, "http_error"),
        detail=spanish.get(exc.status_code, detail or TITLES.get(exc.status_code, "Error")),
        instance=request.url.path,
        headers=dict(exc.headers or {}),
    )


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database is down, restarting or out of connections: a retry can succeed.
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return problem_response(
        503,
        code="service_unavailable",
        detail="El servicio no está disponible en este momento; intente de nuevo en unos segundos.",
        instance=request.url.path,
        retry_after_s=2,
    )


#: Failures of the database connection (not of a statement): answered with 503.
UNAVAILABLE: tuple[type[Exception], ...] = (
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
    sqlite3.OperationalError,
)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500,
        code="internal_error",
        detail="Ocurrió un error inesperado. Intente de nuevo; si persiste, contacte a la ANM.",
        instance=request.url.path,
    )


#: Answers an error its own way (an HTML page) or ``None`` for the problem+json.
PageHandler = Callable[[Request, Exception], Awaitable[Response | None]]


def install(app: FastAPI, *, pages: PageHandler | None = None) -> None:
    """Register the handlers on the app; ``pages`` answers first what the router refuses
    (no such path, method not allowed) on paths a person reads in a browser."""

    async def http_error(request: Request, exc: Exception) -> Response:
        if pages is not None:
            page = await pages(request, exc)
            if page is not None:
                return page
        return _http_error(request, exc)

    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problems a route can answer."""
    return {
        s: {
            "model": Problem,
            "description": TITLES.get(s, "Error"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


__all__ = ["Problem", "ValidationError", "install", "problem_response", "responses"]
