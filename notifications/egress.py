"""Where the platform may connect when it calls a seller's web-service endpoint.

A seller chooses the URL, so the platform must never be turned into a client of its own
network (SSRF): cloud metadata (``169.254.169.254``), the database on ``localhost``,
private ranges. :class:`EgressPolicy` checks a URL twice: when the seller configures it
(``PUT /api/v1/webservice`` answers 422) and again on every delivery, when the host name
is resolved once more and every address it resolves to is checked; the delivery then
connects to one of those checked addresses (never resolving again), so a DNS answer that
changes in between (DNS rebinding) cannot reach an inner address.

The rules, in order:

* ``https`` only; plain ``http`` only with ``allow_http`` (development and tests).
* The URL is ASCII (internationalised host names in their ``xn--`` form), at most 500
  characters, without spaces, backslashes, user or password (``https://a@b``) or fragment.
* Any port from 1 to 65535: the address check is what protects, and ERPs often listen
  on another port than 443.
* The host is a dotted-quad IPv4 literal, a bracketed IPv6 literal or a DNS name whose
  last label starts with a letter: spellings a resolver would read as a number
  (``0x7f000001``, ``2130706433``, ``017700000001``, ``127.1``) are refused, and so are
  ``localhost`` and its sub-domains.
* Every address must be public: not loopback (allowed only with ``allow_loopback``, for
  local receivers in development and tests), private, shared (100.64/10), link-local,
  multicast, reserved, unspecified, documentation, nor one of the IPv6 forms that embed
  an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96`` and
  ``64:ff9b:1::/48``, 6to4 ``2002::/16``, Teredo ``2001::/32``) or the site-local
  ``fec0::/10``. One bad address refuses the whole host.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from kernel.errors import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: host name, port → the addresses it resolves to (text form).
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH: Final = 500
DEFAULT_PORTS: Final = {"https": 443, "http": 80}
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMBEDDED_V4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64, local-use prefix
)


class EndpointRefusedError(ValidationError):
    """The URL or one of its addresses is not one the platform may call."""

    code = "unsafe_url"
    default_detail = "La URL del web service no está permitida."


class EndpointUnresolvedError(ValidationError):
    """The host name does not resolve (now)."""

    code = "unresolvable_host"
    default_detail = "No se pudo resolver el nombre del servidor del web service."


def _refuse(detail: str, code: str = "unsafe_url") -> EndpointRefusedError:
    return EndpointRefusedError(detail, field="url", code=code)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why the platform must not connect to ``ip`` (Spanish), or ``None`` if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "dirección IPv4 mapeada en IPv6"
        if any(ip in net for net in _EMBEDDED_V4):
            return "dirección NAT64"
        if ip.sixtofour is not None:
            return "dirección de túnel 6to4"
        if ip.teredo is not None:
            return "dirección de túnel Teredo"
        if ip.is_site_local:
            return "dirección site-local"
    if ip.is_loopback:
        return None if allow_loopback else "dirección de loopback"
    if ip.is_unspecified:
        return "dirección no especificada"
    if ip.is_link_local:
        return "dirección link-local"
    if ip.is_multicast:
        return "dirección multicast"
    if ip.is_private:
        return "dirección de red privada"
    if ip.is_reserved:
        return "dirección reservada"
    if not ip.is_global:
        return "dirección que no es pública"
    return None


@dataclass(frozen=True)
class Endpoint:
    """A checked URL and the checked addresses to connect to."""

    scheme: str
    #: Lower-case ASCII host name, or the IP literal without brackets.
    host: str
    port: int
    #: The request target as sent on the request line: path, and ``?query`` if any.
    target: str
    #: Every address the host resolved to, all checked; connect to these only.
    addresses: tuple[str, ...]
    #: Whether ``host`` is an IP literal (then there is no name for TLS SNI).
    literal: bool

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the name as configured, with the port if not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    target: str
    literal: IPAddress | None


class EgressPolicy:
    """Checks seller endpoints; the defaults are the production rules."""

    def __init__(
        self,
        *,
        allow_http: bool = False,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allow_http = allow_http
        self.allow_loopback = allow_loopback
        self.resolver = resolver

    def check(self, url: str) -> Endpoint:
        """Parse ``url``, resolve its host and check every address.

        Raises :class:`EndpointRefusedError` (never acceptable as given) or
        :class:`EndpointUnresolvedError` (the name does not resolve now); both are
        validation errors on ``field="url"``.
        """
        parsed = self._parse(url)
        if parsed.literal is not None:
            addresses: Sequence[str] = [str(parsed.literal)]
        else:
            try:
                addresses = self.resolver(parsed.host, parsed.port)
            except (OSError, UnicodeError) as e:
                raise EndpointUnresolvedError(
                    f"No se pudo resolver {parsed.host!r}: {e}.", field="url"
                ) from e
            if not addresses:
                raise EndpointUnresolvedError(f"{parsed.host!r} no tiene direcciones.", field="url")
        for text in addresses:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise _refuse(f"Dirección no válida para {parsed.host!r}: {text!r}.") from None
            problem = address_problem(ip, allow_loopback=self.allow_loopback)
            if problem is not None:
                raise _refuse(
                    f"El servidor del web service apunta a una {problem} ({ip}); "
                    "solo se permiten direcciones públicas de Internet."
                )
        return Endpoint(
            scheme=parsed.scheme,
            host=parsed.host,
            port=parsed.port,
            target=parsed.target,
            addresses=tuple(str(ipaddress.ip_address(a)) for a in addresses),
            literal=parsed.literal is not None,
        )

    def _parse(self, url: str) -> _Parsed:
        text = url.strip()
        if not text or len(text) > MAX_URL_LENGTH:
            raise _refuse("URL del web service inválida.", "invalid_url")
        if not text.isascii() or any(c <= " " or c in "\\\x7f" for c in text):
            raise _refuse(
                "La URL del web service debe ser ASCII, sin espacios ni barras invertidas "
                "(use la forma xn-- de los dominios internacionales).",
                "invalid_url",
            )
        try:
            parts = urlsplit(text)
            port_given = parts.port
        except ValueError:
            raise _refuse("URL del web service inválida (puerto o host).", "invalid_url") from None
        scheme = parts.scheme.lower()
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            raise _refuse("El web service debe usar https.", "insecure_url")
        if "@" in parts.netloc:
            raise _refuse("La URL del web service no puede llevar usuario ni contraseña.")
        if parts.fragment or text.endswith("#"):
            raise _refuse("La URL del web service no puede llevar fragmento (#).", "invalid_url")
        if port_given == 0:
            raise _refuse("Puerto inválido en la URL del web service.", "invalid_url")
        port = port_given or DEFAULT_PORTS[scheme]
        host = (parts.hostname or "").lower()
        if not host:
            raise _refuse("La URL del web service no tiene servidor.", "invalid_url")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not target.startswith("/"):
            raise _refuse("URL del web service inválida.", "invalid_url")
        bracketed = parts.netloc.rsplit("@", 1)[-1].startswith("[")
        literal: IPAddress | None = None
        if bracketed:
            try:
                literal = ipaddress.IPv6Address(host)
            except ValueError:
                raise _refuse("Dirección IPv6 inválida en la URL.", "invalid_url") from None
        else:
            try:
                literal = ipaddress.IPv4Address(host)
            except ValueError:
                self._check_name(host)
        return _Parsed(scheme=scheme, host=host, port=port, target=target, literal=literal)

    @staticmethod
    def _check_name(host: str) -> None:
        name = host.removesuffix(".")
        labels = name.split(".")
        if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise _refuse("Nombre de servidor inválido en la URL del web service.", "invalid_url")
        if not labels[-1][0].isalpha():
            # 0x7f000001, 2130706433, 017700000001, 127.1: resolvers read them as numbers.
            raise _refuse(
                "El servidor debe ser un nombre de dominio o una dirección IP escrita en "
                "forma estándar."
            )
        if labels[-1] == "localhost":
            raise _refuse("El web service no puede apuntar a localhost.")
