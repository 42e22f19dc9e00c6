"""The address policy of sellers' web-service endpoints (SSRF): every form the platform
must refuse, what it accepts, and the development allowances."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from notifications.egress import (
    EgressPolicy,
    EndpointRefusedError,
    EndpointUnresolvedError,
    Resolver,
)
from ptm.settings import Settings

PUBLIC_V4 = "190.85.1.10"
PUBLIC_V6 = "2800:e2:2c00::10"


def resolving_to(*addresses: str) -> tuple[list[tuple[str, int]], Resolver]:
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> Sequence[str]:
        calls.append((host, port))
        return list(addresses)

    return calls, resolve


def policy(*addresses: str, **kw: bool) -> EgressPolicy:
    _, resolve = resolving_to(*addresses)
    return EgressPolicy(resolver=resolve, **kw)


#: URLs refused whatever the resolver says (the literal or the spelling is the problem).
REFUSED_URLS = [
    # the forms of the report
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://localhost:5432/",
    "https://api.localhost/",
    "https://[::1]:8443/",
    "https://0x7f000001/",
    "https://2130706433/",
    "https://017700000001/",
    "https://127.1/",
    "https://0177.0.0.1/",
    "https://127.0.0.1/",
    # private, shared, special IPv4
    "https://10.0.0.5/ptm",
    "https://172.16.3.4/ptm",
    "https://192.168.1.20/ptm",
    "https://100.64.0.1/ptm",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://192.0.2.10/",
    "https://198.18.0.1/",
    # IPv6: unspecified, link-local, unique-local, multicast, site-local, embedded IPv4
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[ff02::1]/",
    "https://[fec0::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:8.8.8.8]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[64:ff9b:1::a00:1]/",
    "https://[2002:7f00:1::]/",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "https://[::127.0.0.1]/",
    "https://[2001:db8::1]/",
    # user info, schemes, odd spellings
    "https://erp.example.co@169.254.169.254/",
    "https://user:clave@erp.example.co/ptm",
    "https://erp.example.co\\@127.0.0.1/",
    "http://erp.example.co/ptm",
    "ftp://erp.example.co/ptm",
    "file:///etc/passwd",
    "gopher://erp.example.co/",
    "https://erp.example.co/ptm#x",
    "https://erp.example.co:0/",
    "https://erp.example.co:99999/",
    "https:///ptm",
    "https://erp example.co/",
    "https://erp.exámple.co/",
    "https://-erp.example.co/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_forms(url: str) -> None:
    # The resolver answers a public address: only the URL itself can be at fault.
    with pytest.raises(EndpointRefusedError) as e:
        policy(PUBLIC_V4).check(url)
    assert e.value.field == "url"
    assert e.value.code in ("unsafe_url", "invalid_url", "insecure_url")
    assert e.value.detail  # Spanish text for the seller


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["10.1.2.3"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fe80::1%eth0"],
        [PUBLIC_V4, "10.0.0.7"],  # one bad address is enough
        [PUBLIC_V6, "fd00::5"],
        ["not-an-address"],
    ],
)
def test_names_resolving_to_inner_addresses_are_refused(addresses: list[str]) -> None:
    with pytest.raises(EndpointRefusedError) as e:
        policy(*addresses).check("https://erp.example.co/ptm")
    assert e.value.code == "unsafe_url"


def test_public_names_and_literals_are_accepted() -> None:
    calls, resolve = resolving_to(PUBLIC_V4, PUBLIC_V6)
    ep = EgressPolicy(resolver=resolve).check("https://ERP.Example.co/ptm/notify?k=1&x=%2F")
    assert calls == [("erp.example.co", 443)]
    assert ep.host == "erp.example.co" and ep.port == 443 and ep.scheme == "https"
    assert ep.target == "/ptm/notify?k=1&x=%2F"
    assert ep.addresses == (PUBLIC_V4, PUBLIC_V6)
    assert ep.host_header == "erp.example.co" and not ep.literal

    # Any port is allowed (the address is what is checked); it shows in the Host header.
    ep = policy(PUBLIC_V4).check("https://erp.example.co:8443")
    assert ep.port == 8443 and ep.target == "/" and ep.host_header == "erp.example.co:8443"

    # IP literals are checked as they are, without asking the resolver.
    calls, resolve = resolving_to("127.0.0.1")
    ep = EgressPolicy(resolver=resolve).check(f"https://{PUBLIC_V4}:9443/x")
    assert calls == [] and ep.addresses == (PUBLIC_V4,) and ep.literal
    ep = EgressPolicy(resolver=resolve).check(f"https://[{PUBLIC_V6}]/x")
    assert ep.addresses == (PUBLIC_V6,) and ep.host_header == f"[{PUBLIC_V6}]"
    assert calls == []


def test_unresolvable_names_are_a_separate_error() -> None:
    def fails(host: str, port: int) -> Sequence[str]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(EndpointUnresolvedError) as e:
        EgressPolicy(resolver=fails).check("https://erp.example.co/ptm")
    assert e.value.code == "unresolvable_host" and e.value.field == "url"
    with pytest.raises(EndpointUnresolvedError):
        policy().check("https://erp.example.co/ptm")  # no addresses at all


def test_development_allowances_are_narrow() -> None:
    dev = policy("127.0.0.1", allow_http=True, allow_loopback=True)
    assert dev.check("http://receiver.test:8080/hook").addresses == ("127.0.0.1",)
    assert dev.check("http://127.0.0.1:8080/hook").addresses == ("127.0.0.1",)
    assert dev.check("http://[::1]:8080/hook").addresses == ("::1",)
    # Loopback only: private, link-local and IPv4-mapped loopback stay refused.
    for url in (
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
        "http://localhost/",
    ):
        with pytest.raises(EndpointRefusedError):
            dev.check(url)
    # Plain http needs its own allowance; loopback needs its own.
    with pytest.raises(EndpointRefusedError) as e:
        policy("127.0.0.1", allow_loopback=True).check("http://receiver.test/")
    assert e.value.code == "insecure_url"
    with pytest.raises(EndpointRefusedError):
        policy("127.0.0.1", allow_http=True).check("http://receiver.test/")


def test_the_defaults_refuse_and_production_cannot_allow() -> None:
    s = Settings(env="test")
    assert not s.webhook_allow_http and not s.webhook_allow_loopback
    with pytest.raises(ValueError, match="development only"):
        Settings(
            env="production",
            code_hmac_key="k" * 32,
            session_key="s" * 32,
            statement_key="t" * 32,
            signing_key_seed="e" * 64,
            webhook_allow_http=True,
        )
