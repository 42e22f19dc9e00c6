"""Every template renders in Spanish with its params; anything incomplete is refused."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from notifications.outbox import REDACTED
from notifications.rendering import (
    GSM_BASIC,
    GSM_EXTENSION,
    SMS_MAX_SEPTETS,
    TEMPLATES,
    InvalidParamError,
    MissingParamError,
    RenderedEmail,
    RenderedSms,
    RenderError,
    UnknownTemplateError,
    es_amount,
    es_number,
    gsm_septets,
    render,
    short_time,
    to_gsm,
)
from tests.notifications.samples import PARAMS, make_row

EMAILS = sorted(n for n, s in TEMPLATES.items() if s.channel == "email")
SMSES = sorted(n for n, s in TEMPLATES.items() if s.channel == "sms")
FOOTER = (
    "Este e-mail ha sido generado automáticamente, no lo responda. Para obtener información "
    "comuníquese con la línea gratuita nacional de atención 01 8000 933 833 o con la línea "
    "en Bogotá (57) (601) 220 19 99"
)
HOSTILE = "<script>alert('x')</script> & \"Co\""


def test_every_template_of_the_flow_is_declared() -> None:
    assert set(TEMPLATES) == {
        "acceptance_code",
        "acceptance_code_sms",
        "purchase_confirmed",
        "login_code",
        "login_code_sms",
        "seller_url",
        "ws_token",
        "balance_statement",
        "seller_data_received",
        "purchase_expired",
        "purchase_locked",
        "submissions_suspended",
    }
    assert set(PARAMS) == set(TEMPLATES)


def test_template_files_match_the_declarations() -> None:
    folder = resources.files("notifications") / "templates"
    names = {p.name for p in folder.iterdir()}
    expected = {"_layout.txt", "_layout.html"}
    for name in EMAILS:
        expected |= {f"{name}.txt", f"{name}.html"}
    expected |= {f"{name}.txt" for name in SMSES}
    assert names == expected


@pytest.mark.parametrize("template", EMAILS)
def test_email_renders_in_the_guide_tone(template: str) -> None:
    out = render(make_row(template))
    assert isinstance(out, RenderedEmail)
    assert out.subject.startswith("Trazabilidad Minera: ") and "\n" not in out.subject
    for body in (out.text, out.html):
        assert "el sistema de Trazabilidad Minera le informa:" in body
        assert "Atentamente, Agencia Nacional de Minería." in body
        assert FOOTER in body
        assert "Avenida Calle 26 No 59-51" in body
    spec = TEMPLATES[template]
    assert spec.greeting is not None
    name = PARAMS[template][spec.greeting[0]]
    # The seller-channel e-mails open with the addressee and the instant, as in the guide.
    greeting_at = out.text.index("\n\n") + 2 if spec.heading else 0
    assert out.text[greeting_at:].startswith(f"{spec.salutation} {name}")
    # Every secret (code, link, token) is what the reader came for.
    for secret in spec.secrets:
        assert PARAMS[template][secret] in out.text
        assert PARAMS[template][secret] in out.html
    assert out.html.lstrip().startswith("<!DOCTYPE html>") and 'lang="es"' in out.html


def test_header_uses_the_event_instant() -> None:
    out = render(make_row("acceptance_code"))
    assert isinstance(out, RenderedEmail)
    assert (
        "Al día 10 del mes 03 del año 2026 a las 10:00:00 el sistema de Trazabilidad Minera "
        "le informa:" in out.text
    )
    confirmed = render(make_row("purchase_confirmed"))
    assert isinstance(confirmed, RenderedEmail)
    assert "Al día 10 del mes 03 del año 2026 a las 10:12:45" in confirmed.text


def test_header_without_instant_param_uses_the_row_time_in_colombia() -> None:
    out = render(make_row("login_code"))  # created 2026-03-10 15:00 UTC = 10:00 in Bogotá
    assert isinstance(out, RenderedEmail)
    assert "Al día 10 del mes 03 del año 2026 a las 10:00:00" in out.text
    assert out.text.startswith("Señor(a) Ana María Pérez\n")


def test_acceptance_code_lists_lines_and_amounts_the_colombian_way() -> None:
    out = render(make_row("acceptance_code"))
    assert isinstance(out, RenderedEmail)
    assert "Señores, Minera El Diluvio Gold S.A.S. NIT 900123456-8" in out.text
    assert "2.500.000,50 COP" in out.text
    assert "Código de origen OC-ORO-0001: 10 de ORO a 250.000,05 por unidad" in out.text
    assert "vence el 10/03/2026 10:30:00 (hora de Colombia)" in out.text


def test_purchase_confirmed_shows_the_balances_table() -> None:
    out = render(make_row("purchase_confirmed"), attachment_names=["saldos.txt"])
    assert isinstance(out, RenderedEmail)
    assert "OC-ORO-0001 (ORO): disponible 990 g, reservado 0 g" in out.text
    assert "como vendedor" in out.text
    assert "Adjuntos: saldos.txt" in out.text and "Adjuntos: saldos.txt" in out.html
    assert "<td" in out.html and ">990<" in out.html


@pytest.mark.parametrize("template", SMSES)
def test_sms_fits_one_gsm_segment(template: str) -> None:
    out = render(make_row(template))
    assert isinstance(out, RenderedSms)
    assert out.body.startswith("ANM-PTM: ")
    assert PARAMS[template]["code"] in out.body
    assert all(c in GSM_BASIC or c in GSM_EXTENSION for c in out.body)
    assert out.septets == gsm_septets(out.body) <= SMS_MAX_SEPTETS
    assert "Vence 10:" in out.body


def test_acceptance_sms_text() -> None:
    out = render(make_row("acceptance_code_sms"))
    assert isinstance(out, RenderedSms)
    assert out.body == (
        "ANM-PTM: codigo de aceptacion 482913, compra de Comercializadora Andina S.A.S. "
        "por 2.500.000,50 COP. Vence 10:30 del 10/03. Entréguelo solo a ese comprador."
    )


def test_long_buyer_name_is_shortened_not_split() -> None:
    params = dict(PARAMS["acceptance_code_sms"])
    params["buyer_name"] = "Comercializadora Internacional de Metales Preciosos " * 4
    out = render(make_row("acceptance_code_sms", params=params))
    assert isinstance(out, RenderedSms)
    assert out.septets <= SMS_MAX_SEPTETS
    assert ", compra de Comercializadora Internacional" in out.body
    assert "... por 2.500.000,50 COP" in out.body and "482913" in out.body


def test_sms_that_cannot_fit_is_refused() -> None:
    params = dict(PARAMS["acceptance_code_sms"])
    params["total"] = "9" * 140 + " COP"
    with pytest.raises(InvalidParamError, match="no cabe"):
        render(make_row("acceptance_code_sms", params=params))


@pytest.mark.parametrize(
    ("template", "param"),
    [(name, p) for name, spec in sorted(TEMPLATES.items()) for p in spec.required],
)
def test_missing_param_is_a_clear_error(template: str, param: str) -> None:
    params = dict(PARAMS[template])
    del params[param]
    secrets = tuple(s for s in TEMPLATES[template].secrets if s != param)
    with pytest.raises(MissingParamError) as e:
        render(make_row(template, params=params, secret_params=secrets))
    assert e.value.param == param and e.value.template == template
    assert param in str(e.value)


def test_empty_param_counts_as_missing() -> None:
    params = dict(PARAMS["seller_url"], buyer_name="")
    with pytest.raises(MissingParamError, match="buyer_name"):
        render(make_row("seller_url", params=params))


def test_unknown_template_is_a_clear_error() -> None:
    row = make_row("login_code")
    with pytest.raises(UnknownTemplateError, match="'password_reset'"):
        render(replace(row, template="password_reset"))


def test_channel_mismatch_is_refused() -> None:
    with pytest.raises(RenderError, match="es de sms"):
        render(replace(make_row("login_code_sms"), channel="email"))


def test_secret_not_marked_secret_is_refused() -> None:
    with pytest.raises(InvalidParamError, match="debe marcarse secreto"):
        render(make_row("acceptance_code", secret_params=()))


def test_blanked_secret_is_never_sent() -> None:
    params = dict(PARAMS["login_code"], code=REDACTED)
    with pytest.raises(MissingParamError, match="ya fue borrado"):
        render(make_row("login_code", params=params))


@pytest.mark.parametrize(
    ("template", "param", "value"),
    [
        ("purchase_confirmed", "balances", "not json"),
        ("purchase_confirmed", "balances", json.dumps({"origin_code": "x"})),
        ("purchase_confirmed", "balances", json.dumps([{"origin_code": "x"}])),
        ("acceptance_code", "lines", json.dumps([1, 2])),
        ("acceptance_code", "sent_at", "2026-03-10T10:00:00"),
        ("seller_url", "url", "javascript:alert(1)"),
        ("seller_url", "url", 'https://x.co/" onmouseover="alert(1)'),
        ("ws_token", "buyer_name", "x" * 20_001),
    ],
)
def test_malformed_param_is_refused(template: str, param: str, value: str) -> None:
    params = dict(PARAMS[template], **{param: value})
    with pytest.raises(InvalidParamError):
        render(make_row(template, params=params))


@pytest.mark.parametrize("template", EMAILS)
def test_html_escapes_every_free_text_param(template: str) -> None:
    spec = TEMPLATES[template]
    structured = {*spec.json_params, *spec.urls, "sent_at", "validated_at", "expires_at"}
    params = {
        k: (v if k in structured or k in spec.secrets else HOSTILE)
        for k, v in PARAMS[template].items()
    }
    out = render(make_row(template, params=params))
    assert isinstance(out, RenderedEmail)
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;Co&#34;" in out.html
    # Plain text is not HTML: the name reads as typed.
    assert HOSTILE in out.text


def test_hostile_values_inside_json_are_escaped_too() -> None:
    balances = [
        {
            "origin_code": "<img src=x onerror=alert(1)>",
            "mineral": "ORO",
            "unit": "g",
            "available": "1",
            "reserved": "0",
        }
    ]
    params = dict(PARAMS["purchase_confirmed"], balances=json.dumps(balances))
    out = render(make_row("purchase_confirmed", params=params))
    assert isinstance(out, RenderedEmail)
    assert "<img" not in out.html and "&lt;img src=x onerror=alert(1)&gt;" in out.html


def test_subject_cannot_inject_headers() -> None:
    params = dict(PARAMS["acceptance_code"], buyer_name="Andina\r\nBcc: otro@example.com")
    out = render(make_row("acceptance_code", params=params))
    assert isinstance(out, RenderedEmail)
    assert "\n" not in out.subject and "\r" not in out.subject


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2500000", "2.500.000"),
        ("2500000.50", "2.500.000,50"),
        ("0.001", "0,001"),
        ("-1234.5", "-1.234,5"),
        ("999", "999"),
        ("abc", "abc"),
        ("NaN", "NaN"),
    ],
)
def test_es_number(value: str, expected: str) -> None:
    assert es_number(value) == expected


def test_es_amount_and_short_time() -> None:
    assert es_amount("1234567.8 USD") == "1.234.567,8 USD"
    assert es_amount("12") == "12"
    assert short_time("10/03/2026 10:30:00") == "10:30 del 10/03"
    assert short_time("pronto") == "pronto"


def test_to_gsm_keeps_gsm_letters_and_strips_other_accents() -> None:
    assert to_gsm("código ÁÍÓÚ áíóú é ñ ü Ñ") == "codigo AIOU aiou é ñ ü Ñ"
    assert to_gsm("“hola” – ok…") == '"hola" - ok...'
    assert to_gsm("✓ 中") == "? ?"
    assert gsm_septets("a€[") == 5
