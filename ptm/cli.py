"""The ``ptm`` command line: serve, demo data, workers, audit and royalties."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: How long a worker keeps trying to reach the database when it starts.
WORKER_START_WAIT_S = 60.0


def _when_database_answers(build: Callable[[], T], *, what: str) -> T:
    """``build()``, retried while the database does not answer (a worker restarted during
    a database restart must wait for it, not exit), for at most WORKER_START_WAIT_S."""
    import sqlalchemy.exc  # noqa: PLC0415
    from eventsourcing.persistence import OperationalError  # noqa: PLC0415

    deadline = time.monotonic() + WORKER_START_WAIT_S
    pause = 0.25
    while True:
        try:
            return build()
        except (OperationalError, sqlalchemy.exc.OperationalError) as e:
            if time.monotonic() + pause > deadline:
                raise
            logging.getLogger("ptm").warning(
                "%s: la base de datos no responde (%s); reintento en %.2f s", what, e, pause
            )
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _royalties(argv: Sequence[str]) -> int:
    # Imported by name so the ledger's commands never pay for the royalties' imports.
    module = importlib.import_module("ptm.royalties_cli")
    return int(module.main(list(argv)))


def _audit(argv: Sequence[str]) -> int:
    module = importlib.import_module("ptm.audit_cli")
    return int(module.main(list(argv)))


def cmd_demo(args: argparse.Namespace) -> int:
    from ptm.bootstrap import build_api_context, build_services  # noqa: PLC0415
    from ptm.demo import DEMO_USERS, seed_demo  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    settings = Settings()
    services = build_services(settings)
    ctx = build_api_context(services)
    demo = seed_demo(services.ledger, ctx.identity, ctx.hasher.hash)
    services.runner.catch_up()
    print(f"Datos de demostración listos en {settings.database_url}")
    print(f"  comercializador: {demo.buyer}")
    print(f"  explotador:      {demo.operator}")
    print(f"  códigos:         {', '.join(demo.codes)}")
    for username, (role, _org, _name, password) in DEMO_USERS.items():
        print(f"  usuario {username:<10} rol {role:<8} contraseña {password}")
    services.close()
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    import getpass  # noqa: PLC0415

    from api.security import check_password_policy  # noqa: PLC0415
    from kernel.errors import DuplicateError, LedgerError  # noqa: PLC0415
    from ptm.bootstrap import build_api_context, build_services  # noqa: PLC0415
    from ptm.demo import AGENCY_NIT  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    password = (
        sys.stdin.readline().rstrip("\n")
        if args.password_stdin
        else getpass.getpass("Contraseña del administrador: ")
    )
    services = build_services(Settings())
    ctx = build_api_context(services)
    ledger = services.ledger
    try:
        check_password_policy(password, username=args.username, email=args.email)
        try:
            agency = ledger.register_agency(
                nit=args.agency_nit or AGENCY_NIT,
                name="Agencia Nacional de Minería",
                email=args.email,
                mobile=args.mobile,
                actor="cli:create-admin",
            )
        except DuplicateError as e:
            agency = e.context["organisation_id"]
        uid = ctx.identity.register_user(
            username=args.username,
            name=args.name,
            email=args.email,
            mobile=args.mobile,
            role="admin",
            organisation_id=agency,
            password_hash=ctx.hasher.hash(password),
            actor="cli:create-admin",
        )
    except LedgerError as e:
        print(f"error: {e.detail} ({e.code}, campo {e.field})", file=sys.stderr)
        return 2
    finally:
        services.close()
    print(f"Administrador {args.username} creado ({uid}).")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    from ptm.bootstrap import migrate_read_models  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    settings = Settings()
    migrate_read_models(settings, args.revision)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    print(f"Tablas de lectura al día ({args.revision}) en {shown}")
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    from ptm.bootstrap import build_services  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    settings = Settings()
    services = _when_database_answers(
        lambda: build_services(settings, create_table=args.action != "run"), what="proyecciones"
    )
    runner = services.runner
    try:
        if args.action == "status":
            for name, lag in runner.lag().items():
                print(f"{name:<12} atraso {lag} eventos")
            return 0
        if args.action == "rebuild":
            head = runner.head()
            with tqdm(total=head, unit="ev", desc=f"reconstruyendo {args.name}") as bar:
                runner.rebuild(args.name, progress=bar.update)
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        # The projection worker also expires overdue purchases (it runs in every set-up).
        from ptm import sweeper  # noqa: PLC0415

        sweep = threading.Thread(
            target=sweeper.run_forever, args=(services.ledger, services.engine, stop), daemon=True
        )
        sweep.start()
        print("Proyecciones en marcha (Ctrl+C para detener)", flush=True)
        runner.run_forever(stop)
        return 0
    finally:
        services.close()


def cmd_statement(args: argparse.Namespace) -> int:
    from kernel.errors import LedgerError  # noqa: PLC0415
    from ptm.bootstrap import build_ledger  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    ledger = build_ledger(Settings(), create_table=False)
    try:
        org = ledger.find_organisation(args.doc_type, args.doc_number)
        data = ledger.seller_statement(org.id)
    except LedgerError as e:
        print(f"error: {e.detail} ({e.code})", file=sys.stderr)
        return 2
    finally:
        ledger.close()
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.out).write_bytes(data)
        print(f"Estado de saldos de {org.name} escrito en {args.out}")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from notifications.filesender import format_outbox  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    print(format_outbox(Settings().outbox_dir, args.limit))
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from notifications.worker import permanent_failures  # noqa: PLC0415
    from ptm.bootstrap import build_ledger, build_notifier, outbox_of  # noqa: PLC0415
    from ptm.settings import Settings  # noqa: PLC0415

    settings = Settings()
    ledger = _when_database_answers(
        lambda: build_ledger(settings, create_table=False), what="notificaciones"
    )
    worker = build_notifier(settings, ledger)
    try:
        if args.action == "once":
            print(worker.run_once())
        elif args.action == "failures":
            for row in permanent_failures(outbox_of(ledger).all()):
                print(f"{row.key}  {row.channel}  {row.recipient}  {row.last_error}")
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            print("Envío de notificaciones en marcha (Ctrl+C para detener)", flush=True)
            worker.run_forever(stop, 0.5)
        return 0
    finally:
        ledger.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from ptm.server import serve  # noqa: PLC0415

    return serve(
        host=args.host, port=args.port, workers=args.workers, demo=args.demo, quiet=args.quiet
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptm", description="PTM Ledger")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("royalties", help="precio base del níquel (PBLRN): ptm royalties --help")
    sub.add_parser("bench", help="corre los benchmarks y resume en una tabla (--quick)")
    sub.add_parser(
        "audit",
        help="auditoría: reproducción, cadena de hashes, firmas, exportación: ptm audit --help",
    )
    p = sub.add_parser("demo", help="carga los datos de demostración (idempotente)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("admin", help="administración")
    asub = p.add_subparsers(dest="admin_command", required=True)
    q = asub.add_parser("create", help="crea el primer administrador (y la ANM en el registro)")
    q.add_argument("--username", required=True)
    q.add_argument("--name", required=True)
    q.add_argument("--email", required=True)
    q.add_argument("--mobile", required=True)
    q.add_argument("--agency-nit", default=None)
    q.add_argument("--password-stdin", action="store_true", help="lee la contraseña de stdin")
    q.set_defaults(func=cmd_create_admin)
    p = sub.add_parser("db", help="base de datos de lectura")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    q = dbsub.add_parser("upgrade", help="aplica las migraciones de alembic")
    q.add_argument("revision", nargs="?", default="head")
    q.set_defaults(func=cmd_db_upgrade)
    p = sub.add_parser("projections", help="proyecciones (modelos de lectura)")
    p.add_argument("action", choices=["run", "rebuild", "status"])
    p.add_argument(
        "name", nargs="?", help="proyección a reconstruir (balances, custody, purchases)"
    )
    p.set_defaults(func=cmd_projections)
    p = sub.add_parser("statement", help="estado de saldos TXT de un explotador minero")
    p.add_argument("--doc-type", required=True)
    p.add_argument("--doc-number", required=True)
    p.add_argument("--out", default="-", help="archivo de salida (- = salida estándar)")
    p.set_defaults(func=cmd_statement)
    p = sub.add_parser("outbox", help="lee la bandeja local de correos y SMS (modo archivo)")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_outbox)
    p = sub.add_parser("notify", help="envío de correos y SMS desde la bandeja de salida")
    p.add_argument("action", choices=["run", "once", "failures"])
    p.set_defaults(func=cmd_notify)
    p = sub.add_parser("serve", help="sirve la API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="procesos (solo con PostgreSQL)")
    p.add_argument("--demo", action="store_true", help="carga los datos de demostración antes")
    p.add_argument("--quiet", action="store_true", help="sin registro de cada solicitud")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ptm`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "royalties":
        return _royalties(args[1:])
    if args and args[0] == "audit":
        return _audit(args[1:])
    if args and args[0] == "bench":
        from ptm.bench import main as bench_main  # noqa: PLC0415

        return bench_main(args[1:])
    ns = build_parser().parse_args(args)
    return int(ns.func(ns))


if __name__ == "__main__":
    raise SystemExit(main())
