"""Spanish texts of every message, rendered from Jinja2 templates at delivery time.

Each template is declared once in :data:`TEMPLATES` with the params it needs, the ones
that are secret and where its greeting and date come from. Rendering refuses an unknown
template, a missing or malformed param and a secret that is not marked secret: a message
is sent complete or not at all. HTML is autoescaped (params carry free text typed by
people, such as a razón social); plain text and SMS are not HTML and are not escaped.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

import jinja2

from ledger.messages import EMAIL, SMS, Channel
from ledger.values import COLOMBIA_TZ
from notifications.outbox import REDACTED, OutboxRow

#: One SMS segment in the GSM 03.38 alphabet.
SMS_MAX_SEPTETS: Final = 160
#: Longest subject line kept (RFC 5322 recommends 78 characters per header line).
SUBJECT_MAX_CHARS: Final = 150
#: Longest param accepted, so a runaway value cannot make a runaway message.
PARAM_MAX_CHARS: Final = 20_000
#: Fewest characters of a shortened name in an SMS, and most trimming steps to fit one.
SHRINK_MIN_CHARS: Final = 8
SHRINK_MAX_STEPS: Final = 40
#: Format of instants in params (Colombian local time), as the ledger writes them.
LOCAL_FORMAT: Final = "%d/%m/%Y %H:%M:%S"


class RenderError(Exception):
    """A message that cannot be rendered; sending it again would fail the same way."""

    def __init__(self, message: str, *, template: str, param: str | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.param = param


class UnknownTemplateError(RenderError):
    """The outbox names a template this version does not have."""


class MissingParamError(RenderError):
    """A param the template needs is absent (or was blanked after a delivery)."""


class InvalidParamError(RenderError):
    """A param is present but unusable (bad JSON, bad date, unsafe link, too long)."""


@dataclass(frozen=True)
class TemplateSpec:
    """What one template needs and how it greets its reader.

    ``greeting`` names the params with the addressee's name and document; ``when`` names
    the param with the instant of the event (``DD/MM/AAAA HH:MM:SS``, Colombian time),
    else the instant the outbox row was written is used. ``shrink`` names the one SMS
    param that may be shortened to fit a single segment.
    """

    name: str
    channel: Channel
    subject: str | None
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    json_params: tuple[str, ...] = ()
    greeting: tuple[str, str | None] | None = None
    salutation: str = "Señores,"
    when: tuple[str, ...] = ("sent_at",)
    attachments: Literal["none", "optional", "required"] = "none"
    shrink: str | None = None
    urls: tuple[str, ...] = ()
    #: The param with the expediente of the addressee's mining title, when the message
    #: is about one (the greeting then reads "Titular de título minero <expediente>").
    title: str | None = None
    #: Open with the addressee's name and the instant ("<nombre> al día … a las …"),
    #: as the guide's e-mails to the seller about its quantities do.
    heading: bool = False


_PURCHASE_PARAMS: Final = (
    "code",
    "purchase_id",
    "seller_name",
    "seller_document",
    "buyer_name",
    "buyer_document",
    "total",
    "lines",
    "expires_at",
    "sent_at",
)

#: What the buyer is told about one of its purchases.
_BUYER_PARAMS: Final = (
    "purchase_id",
    "buyer_name",
    "buyer_document",
    "seller_name",
    "seller_document",
    "expediente",
    "total",
    "lines_count",
)

TEMPLATES: Final[Mapping[str, TemplateSpec]] = {
    s.name: s
    for s in (
        TemplateSpec(
            name="acceptance_code",
            channel=EMAIL,
            subject="Trazabilidad Minera: código de aceptación de la compra de {buyer_name}",
            required=_PURCHASE_PARAMS,
            secrets=("code",),
            json_params=("lines",),
            greeting=("seller_name", "seller_document"),
        ),
        TemplateSpec(
            name="acceptance_code_sms",
            channel=SMS,
            subject=None,
            required=("code", "buyer_name", "total", "expires_at"),
            optional=tuple(p for p in _PURCHASE_PARAMS if p not in ("code", "buyer_name")),
            secrets=("code",),
            shrink="buyer_name",
        ),
        TemplateSpec(
            name="purchase_confirmed",
            channel=EMAIL,
            subject="Trazabilidad Minera: compra confirmada y saldos actualizados",
            required=(
                "purchase_id",
                "role",
                "organisation_id",
                "organisation_name",
                "organisation_document",
                "buyer_name",
                "seller_name",
                "total",
                "balances",
                "validated_at",
            ),
            json_params=("balances",),
            greeting=("organisation_name", "organisation_document"),
            when=("validated_at",),
            attachments="optional",
        ),
        TemplateSpec(
            name="login_code",
            channel=EMAIL,
            subject="Trazabilidad Minera: código de autenticación",
            required=("code", "user_name", "expires_at"),
            optional=("sent_at",),
            secrets=("code",),
            greeting=("user_name", None),
            salutation="Señor(a)",
        ),
        TemplateSpec(
            name="login_code_sms",
            channel=SMS,
            subject=None,
            required=("code", "expires_at"),
            optional=("user_name", "sent_at"),
            secrets=("code",),
        ),
        TemplateSpec(
            name="seller_url",
            channel=EMAIL,
            subject="Trazabilidad Minera: URL de gestión de minerales a ser vendidos",
            required=(
                "url",
                "buyer_name",
                "buyer_document",
                "seller_name",
                "seller_document",
                "purchase_id",
                "expires_at",
            ),
            # The expediente is optional only so messages queued before it was sent
            # still render; the ledger always sends it.
            optional=("sent_at", "expediente"),
            secrets=("url",),
            greeting=("seller_name", "seller_document"),
            urls=("url",),
            title="expediente",
            heading=True,
        ),
        TemplateSpec(
            name="ws_token",
            channel=EMAIL,
            subject="Trazabilidad Minera: token de autenticación para el Web Service",
            required=("token", "purchase_id", "buyer_name", "seller_name", "expires_at"),
            optional=("seller_document", "buyer_document", "sent_at", "expediente"),
            secrets=("token",),
            greeting=("seller_name", "seller_document"),
            title="expediente",
            heading=True,
        ),
        TemplateSpec(
            name="seller_data_received",
            channel=EMAIL,
            subject="Trazabilidad Minera: {seller_name} cargó las cantidades; retome la compra",
            required=(*_BUYER_PARAMS, "channel"),
            optional=("sent_at",),
            greeting=("buyer_name", "buyer_document"),
        ),
        TemplateSpec(
            name="purchase_expired",
            channel=EMAIL,
            subject="Trazabilidad Minera: la compra a {seller_name} venció",
            required=_BUYER_PARAMS,
            optional=("failed_attempts", "sent_at"),
            greeting=("buyer_name", "buyer_document"),
        ),
        TemplateSpec(
            name="purchase_locked",
            channel=EMAIL,
            subject="Trazabilidad Minera: la compra a {seller_name} quedó bloqueada",
            required=(*_BUYER_PARAMS, "failed_attempts"),
            optional=("sent_at",),
            greeting=("buyer_name", "buyer_document"),
        ),
        TemplateSpec(
            name="submissions_suspended",
            channel=EMAIL,
            subject="Trazabilidad Minera: compras de {buyer_name} a {seller_name} suspendidas",
            required=(
                "role",
                "recipient_name",
                "recipient_document",
                "buyer_name",
                "buyer_document",
                "seller_name",
                "seller_document",
                "purchase_id",
                "wrong_codes",
                "window",
                "suspended_until",
            ),
            optional=("sent_at",),
            greeting=("recipient_name", "recipient_document"),
        ),
        TemplateSpec(
            name="balance_statement",
            channel=EMAIL,
            subject="Trazabilidad Minera: estado de saldos de minerales (archivo TXT)",
            required=("statement_id", "seller_name", "seller_document"),
            optional=("buyer_name", "sent_at"),
            greeting=("seller_name", "seller_document"),
            attachments="required",
        ),
    )
}


@dataclass(frozen=True)
class RenderedEmail:
    """An e-mail ready to be put in an envelope: subject, plain text and HTML."""

    template: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class RenderedSms:
    """An SMS body in the GSM 03.38 alphabet that fits one segment."""

    template: str
    body: str
    septets: int = 0


# --- GSM 03.38 -----------------------------------------------------------------------

#: The GSM 03.38 basic character set (one septet each).
GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: Characters of the GSM extension table (two septets each: escape + char).
GSM_EXTENSION: Final = frozenset("^{}\\[~]|€")
_GSM_FALLBACK: Final = {
    "…": "...",
    "–": "-",
    "—": "-",
    "“": '"',
    "”": '"',
    "«": '"',
    "»": '"',
    "‘": "'",
    "’": "'",
    "º": "o",
    "ª": "a",
}


def to_gsm(text: str) -> str:
    """Spell ``text`` in the GSM alphabet, so an SMS is not sent as UCS-2 (70 chars).

    Letters GSM lacks lose their accent (``ó`` → ``o``) while those it has stay (``é``,
    ``ñ``, ``ü``); anything else becomes ``?``.
    """
    out: list[str] = []
    for ch in text:
        if ch in GSM_BASIC or ch in GSM_EXTENSION:
            out.append(ch)
        elif ch in _GSM_FALLBACK:
            out.append(_GSM_FALLBACK[ch])
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            out.append(base if base and all(c in GSM_BASIC for c in base) else "?")
    return "".join(out)


def gsm_septets(text: str) -> int:
    """Length of a GSM-alphabet text in septets (extension characters count two)."""
    return sum(2 if ch in GSM_EXTENSION else 1 for ch in text)


# --- filters -------------------------------------------------------------------------


def es_number(value: object) -> str:
    """A decimal written the Colombian way (``2.500.000,5``), exact; other text unchanged."""
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    sign = "-" if number < 0 else ""
    digits = format(abs(number), "f")
    whole, _, frac = digits.partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}{grouped},{frac}" if frac else f"{sign}{grouped}"


def es_amount(value: object) -> str:
    """An amount with its currency (``2500000 COP`` → ``2.500.000 COP``)."""
    number, _, currency = str(value).strip().partition(" ")
    return f"{es_number(number)} {currency}".strip()


def short_time(value: object) -> str:
    """``DD/MM/AAAA HH:MM:SS`` as ``HH:MM del DD/MM`` (short enough for an SMS)."""
    try:
        dt = datetime.strptime(str(value), LOCAL_FORMAT)  # noqa: DTZ007 - local wall time
    except ValueError:
        return str(value)
    return dt.strftime("%H:%M del %d/%m")


_ENV: Final = jinja2.Environment(
    loader=jinja2.PackageLoader("notifications", "templates"),
    # HTML is escaped; plain text and SMS are not HTML, so escaping would only garble them.
    autoescape=jinja2.select_autoescape(
        enabled_extensions=("html",), default_for_string=False, default=False
    ),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
_ENV.filters["cifra"] = es_number
_ENV.filters["monto"] = es_amount
_ENV.filters["hora_corta"] = short_time

_URL_RE: Final = re.compile(r"^https?://[^\s\"'<>]+$")


def _informed_at(spec: TemplateSpec, params: Mapping[str, str], row: OutboxRow) -> datetime:
    for name in spec.when:
        raw = params.get(name)
        if raw:
            try:
                return datetime.strptime(raw, LOCAL_FORMAT).replace(tzinfo=COLOMBIA_TZ)
            except ValueError:
                raise InvalidParamError(
                    f"El parámetro {name!r} de la plantilla {spec.name!r} no tiene el formato "
                    "DD/MM/AAAA HH:MM:SS.",
                    template=spec.name,
                    param=name,
                ) from None
    return row.created_at.astimezone(COLOMBIA_TZ)


def _context(spec: TemplateSpec, row: OutboxRow, attachment_names: Sequence[str]) -> dict[str, Any]:
    # Params are text by contract; a number or null written by another emitter should
    # read as text or as absent rather than fail in a filter.
    params = {k: str(v) for k, v in row.params.items() if v is not None}
    missing = [p for p in spec.required if not params.get(p)]
    if missing:
        raise MissingParamError(
            f"Faltan parámetros de la plantilla {spec.name!r}: {', '.join(missing)}.",
            template=spec.name,
            param=missing[0],
        )
    for name in (*spec.required, *spec.optional):
        value = params.get(name, "")
        if len(value) > PARAM_MAX_CHARS:
            raise InvalidParamError(
                f"El parámetro {name!r} de la plantilla {spec.name!r} es demasiado largo.",
                template=spec.name,
                param=name,
            )
    for name in spec.secrets:
        if name not in row.secret_params:
            # Else the outbox would keep the code in clear after delivery.
            raise InvalidParamError(
                f"El parámetro {name!r} de la plantilla {spec.name!r} debe marcarse secreto.",
                template=spec.name,
                param=name,
            )
        if params.get(name) == REDACTED:
            raise MissingParamError(
                f"El parámetro secreto {name!r} ya fue borrado tras un envío anterior.",
                template=spec.name,
                param=name,
            )
    ctx: dict[str, Any] = {name: params.get(name, "") for name in spec.optional}
    ctx.update({name: params[name] for name in spec.required})
    for name in spec.json_params:
        try:
            decoded = json.loads(params[name])
        except ValueError:
            decoded = None
        if not isinstance(decoded, list) or not all(isinstance(d, dict) for d in decoded):
            raise InvalidParamError(
                f"El parámetro {name!r} de la plantilla {spec.name!r} debe ser una lista JSON "
                "de objetos.",
                template=spec.name,
                param=name,
            )
        ctx[name] = decoded
    for name in spec.urls:
        if not _URL_RE.match(params[name]):
            raise InvalidParamError(
                f"El parámetro {name!r} de la plantilla {spec.name!r} no es un enlace http(s).",
                template=spec.name,
                param=name,
            )
    at = _informed_at(spec, params, row)
    ctx["informado"] = {
        "dia": f"{at.day:02d}",
        "mes": f"{at.month:02d}",
        "anio": f"{at.year:04d}",
        "hora": at.strftime("%H:%M:%S"),
    }
    if spec.greeting is not None:
        name_param, document_param = spec.greeting
        ctx["saludo"] = spec.salutation
        ctx["destinatario"] = params.get(name_param, "")
        ctx["documento"] = params.get(document_param, "") if document_param else ""
        title = params.get(spec.title, "") if spec.title else ""
        ctx["titular"] = f"Titular de título minero {title}" if title else ""
        ctx["saludo_linea"] = " ".join(
            part
            for part in (spec.salutation, ctx["destinatario"], ctx["documento"], ctx["titular"])
            if part
        )
        ctx["encabezado"] = (
            f"{ctx['destinatario']} al día {ctx['informado']['dia']} del mes "
            f"{ctx['informado']['mes']} del año {ctx['informado']['anio']} a las "
            f"{ctx['informado']['hora']}"
            if spec.heading
            else ""
        )
    ctx["adjuntos"] = list(attachment_names)
    return ctx


def _render_file(spec: TemplateSpec, filename: str, ctx: Mapping[str, Any]) -> str:
    try:
        return _ENV.get_template(filename).render(ctx)
    except jinja2.UndefinedError as e:
        # A key missing inside a JSON param (e.g. a balance without "mineral").
        raise InvalidParamError(
            f"La plantilla {spec.name!r} no pudo completarse: {e.message}.", template=spec.name
        ) from None


def _fit_sms(spec: TemplateSpec, ctx: dict[str, Any]) -> RenderedSms:
    def draw(values: Mapping[str, Any]) -> str:
        text = " ".join(_render_file(spec, f"{spec.name}.txt", values).split())
        return to_gsm(text)

    body = draw(ctx)
    if gsm_septets(body) > SMS_MAX_SEPTETS and spec.shrink is not None:
        # Shorten the one free-text param (a long razón social) rather than split the SMS:
        # estimate the room it has, then trim a few more characters if spacing differs.
        full = to_gsm(" ".join(str(ctx[spec.shrink]).split()))
        room = SMS_MAX_SEPTETS - gsm_septets(draw({**ctx, spec.shrink: ""})) - len("...")
        cut = full[: max(room, 0)]
        for _ in range(SHRINK_MAX_STEPS):
            if len(cut) < SHRINK_MIN_CHARS:
                break
            body = draw({**ctx, spec.shrink: cut.rstrip() + "..."})
            if gsm_septets(body) <= SMS_MAX_SEPTETS:
                break
            cut = cut[:-1]
    septets = gsm_septets(body)
    if septets > SMS_MAX_SEPTETS:
        raise InvalidParamError(
            f"El SMS {spec.name!r} no cabe en {SMS_MAX_SEPTETS} caracteres ({septets}).",
            template=spec.name,
        )
    return RenderedSms(template=spec.name, body=body, septets=septets)


def template_spec(name: str) -> TemplateSpec:
    """The declaration of a template, or :class:`UnknownTemplateError`."""
    spec = TEMPLATES.get(name)
    if spec is None:
        raise UnknownTemplateError(f"Plantilla desconocida: {name!r}.", template=name)
    return spec


def render(row: OutboxRow, *, attachment_names: Sequence[str] = ()) -> RenderedEmail | RenderedSms:
    """Render an outbox row in Spanish; :class:`RenderError` if it cannot be complete.

    ``attachment_names`` are the files that will travel with an e-mail, so its text can
    mention them.
    """
    spec = template_spec(row.template)
    if spec.channel != row.channel:
        raise RenderError(
            f"La plantilla {spec.name!r} es de {spec.channel}, no de {row.channel}.",
            template=spec.name,
        )
    ctx = _context(spec, row, attachment_names)
    if spec.channel == SMS:
        return _fit_sms(spec, ctx)
    assert spec.subject is not None
    subject = " ".join(spec.subject.format_map(ctx).split())
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 1].rstrip() + "…"
    return RenderedEmail(
        template=spec.name,
        subject=subject,
        text=_render_file(spec, f"{spec.name}.txt", ctx).strip() + "\n",
        html=_render_file(spec, f"{spec.name}.html", ctx),
    )
