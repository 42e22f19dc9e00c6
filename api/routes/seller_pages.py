"""The page a seller opens from the e-mailed one-time URL (alternative 2).

The token in the URL is exchanged, on first open, for a 30-minute session cookie and
the browser is redirected to ``/vendedor/sesion``: the token is spent, so it cannot be
replayed from the history, and it never reaches a Referer header. The form posts back
with a CSRF token bound to the session.

A person reads these pages in a browser, so every failure under ``/vendedor`` answers an
HTML page with a Spanish message and the proper status, never a problem+json document:
the route class catches what a handler raises (domain errors, invalid requests, an
unreadable form, the database away, the unexpected), and :func:`http_error_page` answers
what the router itself refuses (no such page, method not allowed).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Cookie, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.context import ApiContext
from api.deps import Ctx
from api.problems import UNAVAILABLE, status_for
from api.ratelimit import Limit
from kernel.errors import LedgerError, ValidationError
from ledger.codes import keyed_hash
from ledger.values import COLOMBIA_TZ

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

PREFIX = "/vendedor"
COOKIE = "ptm_vendedor"
LINK_OPENS = Limit(30, 60.0)
MAX_ROWS = 500
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def _message(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "seller_message.html",
        {"title": title, "message": message, "error": status >= 400},
        status_code=status,
        headers=SECURITY_HEADERS,
    )


#: Codes that mean the link or its session can no longer be used.
LINK_CODES = ("invalid_session", "link_used", "link_expired")


def _error_page(request: Request, e: LedgerError) -> HTMLResponse:
    status = {"link_used": 409, "link_expired": 410}.get(e.code, 404)
    titles = {409: "Enlace ya usado", 410: "Enlace vencido", 404: "Enlace no válido"}
    return _message(request, status, titles[status], e.detail)


#: Title and message of the page for each status the router or a handler may refuse with.
_PAGES = {
    400: ("Solicitud inválida", "El formulario no se pudo leer; abra de nuevo la página."),
    401: ("Sesión no válida", "Abra de nuevo el enlace recibido por correo."),
    403: ("Solicitud rechazada", "No tiene permiso para esta página."),
    404: ("Página no encontrada", "La dirección no existe; revise el enlace recibido por correo."),
    405: ("Método no permitido", "Esta página no admite esa operación; ábrala desde el enlace."),
    409: ("Operación no posible", "La compra ya no admite esta operación."),
    413: ("Formulario demasiado grande", "El formulario enviado supera el tamaño permitido."),
    422: ("Datos inválidos", "La solicitud tiene datos inválidos; abra de nuevo la página."),
    429: ("Demasiados intentos", "Espere un minuto antes de volver a intentar."),
    503: (
        "Servicio no disponible",
        "El servicio no está disponible en este momento; intente de nuevo en unos minutos.",
    ),
    500: (
        "Error inesperado",
        "Ocurrió un error inesperado. Intente de nuevo; si persiste, contacte al comprador.",
    ),
}


def _status_page(
    request: Request,
    status: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    title, message = _PAGES.get(status, _PAGES[500 if status >= 500 else 400])
    response = _message(request, status, title, detail or message)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_page(request: Request, exc: Exception) -> HTMLResponse:
    """The HTML page of a failure under ``/vendedor`` (never JSON)."""
    if isinstance(exc, LedgerError):
        if exc.code in LINK_CODES:
            return _error_page(request, exc)
        status = status_for(exc)
        retry = exc.context.get("retry_after_s")
        headers = {"Retry-After": str(int(retry))} if retry is not None else None
        return _status_page(request, status, exc.detail, headers)
    if isinstance(exc, RequestValidationError):
        return _status_page(request, 422)
    if isinstance(exc, StarletteHTTPException):
        return _status_page(request, exc.status_code, None, dict(exc.headers or {}))
    if isinstance(exc, UNAVAILABLE):
        log.warning("database unavailable on the seller page: %s", type(exc).__name__)
        return _status_page(request, 503, None, {"Retry-After": "5"})
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _status_page(request, 500)


async def http_error_page(request: Request, exc: Exception) -> Response | None:
    """What the router refuses under ``/vendedor`` (404, 405), as a page; ``None``
    elsewhere (the API answers its problem+json)."""
    path = request.url.path
    if path == PREFIX or path.startswith(PREFIX + "/"):
        return error_page(request, exc)
    return None


class SellerPageRoute(APIRoute):
    """A route of the seller page: whatever its handler or the request's validation
    raises answers the HTML page of the error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return error_page(request, exc)

        return page


router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=SellerPageRoute)


def _session(cookie: str | None) -> tuple[UUID, str] | None:
    if not cookie or "." not in cookie or len(cookie) > 200:
        return None
    aid, _, token = cookie.partition(".")
    try:
        return UUID(aid), token
    except ValueError:
        return None


def _csrf(ctx: ApiContext, access: UUID, token: str) -> str:
    return keyed_hash(ctx.csrf_key, "csrf", str(access), token)


@router.get("/sesion", response_class=HTMLResponse)
def form(
    request: Request, ctx: Ctx, ptm_vendedor: Annotated[str | None, Cookie()] = None
) -> Response:
    """The form: purchase data, the seller's balances, quantities and prices to fill."""
    sess = _session(ptm_vendedor)
    if sess is None:
        return _message(
            request,
            401,
            "Sesión no válida",
            "Abra de nuevo el enlace recibido por correo; si ya lo usó, pida al "
            "comprador uno nuevo.",
        )
    try:
        return _render_form(request, ctx, sess, errors=[], values={})
    except LedgerError as e:
        return _message(request, 401, "Sesión no válida", e.detail)


def _render_form(
    request: Request,
    ctx: ApiContext,
    sess: tuple[UUID, str],
    *,
    errors: list[str],
    values: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    access, token = sess
    ledger = ctx.ledger
    acc, purchase = ledger.seller_link_session(access=access, session_token=token)
    seller = ledger.get_organisation(purchase.seller_id)
    buyer = ledger.get_organisation(purchase.buyer_id)
    # Only the codes of the purchase's mining title: a line of another is refused.
    of_title = ledger.operator_balances(seller.id, expediente=purchase.seller["expediente"])
    balances = [b for b in of_title if b["available"] > 0][:MAX_ROWS]
    return templates.TemplateResponse(
        request,
        "seller_form.html",
        {
            "purchase": purchase,
            "seller_name": seller.name,
            "seller_document": f"{seller.doc_type} {seller.doc_number}",
            "buyer_name": buyer.name,
            "buyer_document": f"{buyer.doc_type} {buyer.doc_number}",
            "balances": balances,
            "errors": errors,
            "values": values,
            "csrf": _csrf(ctx, access, token),
            "expires_at": acc.expires_at.astimezone(COLOMBIA_TZ).strftime("%d/%m/%Y %H:%M"),
        },
        status_code=status,
        headers=SECURITY_HEADERS,
    )


@router.post("/sesion", response_class=HTMLResponse)
async def submit(
    request: Request, ctx: Ctx, ptm_vendedor: Annotated[str | None, Cookie()] = None
) -> Response:
    """Record the quantities (channel url); the link is spent on success."""
    sess = _session(ptm_vendedor)
    if sess is None:
        return _message(
            request, 401, "Sesión no válida", "Abra de nuevo el enlace recibido por correo."
        )
    form_data = await request.form(max_files=0, max_fields=3 * MAX_ROWS + 5)
    values = {k: str(v)[:100] for k, v in form_data.items() if isinstance(v, str)}
    access, token = sess
    if not hmac.compare_digest(values.get("csrf", ""), _csrf(ctx, access, token)):
        return _message(
            request,
            403,
            "Solicitud rechazada",
            "El formulario no es válido; abra de nuevo la página.",
        )
    try:
        rows = min(int(values.get("filas", "0")), MAX_ROWS)
    except ValueError:
        rows = 0
    lines = []
    for i in range(rows):
        qty = values.get(f"cantidad_{i}", "").strip().replace(",", ".")
        if qty in ("", "0"):
            continue
        lines.append(
            {
                "origin_code": values.get(f"codigo_{i}", ""),
                "quantity": qty,
                "unit_price": values.get(f"precio_{i}", "").strip().replace(",", "."),
            }
        )
    try:
        if not lines:
            raise ValidationError("Indique al menos una cantidad a vender.", field="lines")
        await run_in_threadpool(
            ctx.ledger.submit_seller_link, access=access, session_token=token, lines=lines
        )
    except LedgerError as e:
        if e.code in LINK_CODES:
            return _error_page(request, e)
        where = ""
        idx = _line_index(e.field)
        if idx is not None and idx < len(lines):
            where = f"Código {lines[idx]['origin_code']}: "
        try:
            # The form again, with the error: the session is checked once more, so a
            # link spent meanwhile (or before a form without quantities) is its page.
            return await run_in_threadpool(
                _render_form,
                request,
                ctx,
                sess,
                errors=[where + e.detail],
                values=values,
                status=422,
            )
        except LedgerError as again:
            if again.code in LINK_CODES:
                return _error_page(request, again)
            return _message(request, 401, "Sesión no válida", again.detail)
    response = _message(
        request,
        200,
        "Cantidades registradas",
        "Gracias. Las cantidades quedaron registradas en la compra; el "
        "comercializador continuará la transacción y usted recibirá el código "
        "de aceptación en su correo y celular registrados.",
    )
    response.delete_cookie(COOKIE, path="/vendedor")
    return response


def _line_index(field: str | None) -> int | None:
    """The line number of a ``lines[i]…`` field, if it is one."""
    if not field or not field.startswith("lines[") or "]" not in field:
        return None
    digits = field[6 : field.index("]")]
    return int(digits) if digits.isdigit() else None


@router.get("/{token}", response_class=HTMLResponse)
def open_link(token: str, request: Request, ctx: Ctx) -> Response:
    """First open of the e-mailed URL: spend the token and start a short session."""
    client = request.client.host if request.client else "unknown"
    try:
        # Guessing links is hopeless (256-bit tokens); the limit keeps it from costing us.
        ctx.limiter.hit(f"link-ip:{client}", LINK_OPENS)
    except LedgerError:
        return _message(
            request,
            429,
            "Demasiados intentos",
            "Espere un minuto antes de volver a abrir un enlace.",
        )
    try:
        out = ctx.ledger.open_seller_link(token=token)
    except LedgerError as e:
        return _error_page(request, e)
    response = RedirectResponse("/vendedor/sesion", status_code=303, headers=SECURITY_HEADERS)
    secure = ctx.public_base_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        f"{out['access_id']}.{out['session_token']}",
        max_age=1800,
        path="/vendedor",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return response
