"""Running the API with uvicorn, with the background workers of the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.app import create_app
from api.context import ApiContext
from ptm import sweeper
from ptm.bootstrap import (
    Services,
    build_api_context,
    build_audit,
    build_notifier,
    build_services,
)
from ptm.demo import seed_demo
from ptm.settings import Settings

log = logging.getLogger(__name__)


class BackgroundWorkers:
    """Projection runner and outbox sender as threads of this process."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        notifier = build_notifier(self.services.settings, self.services.ledger)
        targets: list[tuple[str, Callable[..., None], tuple[object, ...]]] = [
            ("ptm-projections", self.services.runner.run_forever, (self.stop,)),
            ("ptm-notifications", notifier.run_forever, (self.stop, 0.5)),
            (
                "ptm-expiry",
                sweeper.run_forever,
                (self.services.ledger, self.services.engine, self.stop),
            ),
        ]
        interval = self.services.settings.audit_sign_interval_s
        if interval:
            signer = build_audit(self.services).periodic_signer(interval)
            targets.append(("ptm-audit-signer", signer.run_forever, (self.stop,)))
        for name, target, args in targets:
            t = threading.Thread(target=target, args=args, name=name, daemon=True)
            t.start()
            self.threads.append(t)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)


def build_api(settings: Settings, *, embedded_workers: bool) -> tuple[FastAPI, ApiContext]:
    """The app on the configured persistence; optionally with in-process workers."""
    services = build_services(settings, create_table=False, migrate=False)
    ctx = build_api_context(services)
    workers = BackgroundWorkers(services) if embedded_workers else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if workers is not None:
            workers.start()
        try:
            yield
        finally:
            if workers is not None:
                workers.close()
            services.close()

    app = create_app(ctx)
    app.router.lifespan_context = lifespan
    return app, ctx


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol with TCP_NODELAY on every accepted socket: with ``--workers`` the
    inherited listening socket leaves Nagle on, and each keep-alive response waits ~40 ms."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def app_factory() -> FastAPI:
    """uvicorn factory: one app per worker process; tables were created by ``serve``."""
    settings = Settings()
    # Embedded default (one process): the workers run inside it. With PostgreSQL and
    # several processes, run ``ptm projections run`` and ``ptm notify run`` beside it.
    app, _ = build_api(settings, embedded_workers=not settings.is_postgres())
    return app


def served_base_url(host: str, port: int) -> str:
    """The base URL of the address a server binds: what the e-mailed links use when
    ``PTM_PUBLIC_BASE_URL`` is not set. A wildcard bind (``0.0.0.0``, ``::``) is reached
    on this machine's loopback; an IPv6 address is bracketed."""
    name = host.strip() or "127.0.0.1"
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None and ip.is_unspecified:
        name = "127.0.0.1" if ip.version == 4 else "[::1]"
    elif ip is not None and ip.version == 6:
        name = f"[{ip}]"
    return f"http://{name}:{port}"


def ipaddress_is_wildcard(host: str) -> bool:
    """Whether ``host`` binds every interface."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def public_base_url(settings: Settings, *, host: str, port: int) -> str:
    """Where the e-mailed links point: the explicit setting, else the served address."""
    return settings.public_base_url or served_base_url(host, port)


def serve(*, host: str, port: int, workers: int, demo: bool, quiet: bool = False) -> int:
    """Create tables and migrate once, optionally seed demo data, then serve."""
    settings = Settings()
    if settings.public_base_url is None:
        # The app is built by uvicorn's factory (in each worker process), which reads the
        # settings from the environment: the served address travels there.
        os.environ["PTM_PUBLIC_BASE_URL"] = public_base_url(settings, host=host, port=port)
        if ipaddress_is_wildcard(host):
            log.warning(
                "e-mailed links point to %s; set PTM_PUBLIC_BASE_URL to the address sellers reach",
                os.environ["PTM_PUBLIC_BASE_URL"],
            )
    if workers > 1 and not settings.is_postgres():
        print(
            "--workers > 1 requiere PostgreSQL (PTM_DATABASE_URL=postgresql://…)", file=sys.stderr
        )
        return 2
    services = build_services(settings)  # event tables and read-model migrations, once
    if demo:
        ctx = build_api_context(services)
        seed_demo(services.ledger, ctx.identity, ctx.hasher.hash)
        services.runner.catch_up()
    services.close()
    uvicorn.run(
        "ptm.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning" if quiet else "info",
        access_log=not quiet,
        http=NoDelayHttpToolsProtocol,
    )
    return 0
