"""``ptm audit``: replay balances as of any instant, verify the chain, sign, export.

    ptm audit replay [--as-of POSICIÓN|FECHA] [--origin-code C] [--holder ID] [--diff] [--json]
    ptm audit verify --public-key PEM [--public-key PEM…] [--digest FILE…] [--from N] [--to M]
    ptm audit sign
    ptm audit public-key [--out FILE]
    ptm audit export --out FILE [--from N] [--to M]
    ptm audit verify-export FILE --public-key PEM [--digest FILE…]
    ptm audit status
    ptm audit sign-loop [--interval-s S]

Exit status: 0 correct, 1 the verification found problems (or ``--diff`` found
differences), 2 bad input or an unreadable database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tqdm import tqdm

from audit import export, signing
from audit.chain import AuditStore, Digest
from audit.errors import ChainIntegrityError
from audit.replay import Holder, ReplayResult
from audit.service import AuditService
from audit.verify import Report, verify_store
from kernel.errors import LedgerError
from ledger.values import COLOMBIA_TZ, MINERALS
from ptm.settings import Settings

#: Positions one CLI export may cover (a sanity bound; the export is streamed).
MAX_CLI_EXPORT = 100_000_000
#: Digest files an auditor passes are small; refuse anything huge.
MAX_DIGEST_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_SIGN_INTERVAL_S = 300.0


def _say(text: str = "", stream: IO[str] | None = None) -> None:
    (stream or sys.stdout).write(text + "\n")


def _err(text: str) -> None:
    _say(f"error: {text}", sys.stderr)


# --- argument parsing --------------------------------------------------------------


def parse_as_of(text: str) -> tuple[int | None, datetime | None]:
    """A position (digits) or an ISO 8601 instant; Colombian time when no zone is given;
    a bare date means the END of that day (Colombian time)."""
    text = text.strip()
    if text.isdigit():
        return int(text), None
    try:
        if len(text) == 10:  # YYYY-MM-DD
            day = datetime.fromisoformat(text).date()
            end = datetime.combine(day, time.max, tzinfo=COLOMBIA_TZ)
            return None, end
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"«{text}» no es una posición (entero) ni una fecha ISO 8601"
        ) from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=COLOMBIA_TZ)
    return None, instant


def _position(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("se espera una posición entera ≥ 1")
    return int(text)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("se esperan segundos") from None
    if not 10 <= value <= 86_400:
        raise argparse.ArgumentTypeError("entre 10 y 86400 segundos")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``ptm audit`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="ptm audit", description="Auditoría: reproducción, cadena de hashes, firmas"
    )
    sub = parser.add_subparsers(dest="action", required=True)

    p = sub.add_parser("replay", help="saldos a una posición o fecha, desde los eventos")
    p.add_argument(
        "--as-of",
        type=parse_as_of,
        default=(None, None),
        help="posición (entero) o fecha ISO 8601 (sin zona: hora de Colombia; solo la "
        "fecha: fin de ese día). Por omisión: la cabeza.",
    )
    p.add_argument("--origin-code", help="solo este código de origen")
    p.add_argument("--holder", type=UUID, help="solo este titular (id de organización)")
    p.add_argument(
        "--diff",
        action="store_true",
        help="diferencias contra el modelo de lectura (por omisión a su posición)",
    )
    p.add_argument("--json", action="store_true", help="salida JSON")
    p.add_argument("--quiet", action="store_true", help="sin barra de progreso")

    p = sub.add_parser("verify", help="recalcula la cadena y comprueba los resúmenes firmados")
    p.add_argument("--public-key", type=Path, action="append", required=True)
    p.add_argument("--digest", type=Path, action="append", default=[])
    p.add_argument("--from", dest="from_position", type=_position)
    p.add_argument("--to", dest="to_position", type=_position)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")

    sub.add_parser("sign", help="firma ahora la cabeza de la cadena")

    p = sub.add_parser("public-key", help="muestra la clave pública (PEM)")
    p.add_argument("--out", type=Path)

    p = sub.add_parser("export", help="exporta eventos, eslabones y resúmenes (JSON Lines)")
    p.add_argument("--out", required=True, help="archivo de salida («-»: salida estándar)")
    p.add_argument("--from", dest="from_position", type=_position)
    p.add_argument("--to", dest="to_position", type=_position)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("verify-export", help="verifica una exportación sin la base de datos")
    p.add_argument("file", type=Path)
    p.add_argument("--public-key", type=Path, action="append", required=True)
    p.add_argument("--digest", type=Path, action="append", default=[])
    p.add_argument("--json", action="store_true")

    sub.add_parser("status", help="cabeza del registro, de la cadena y último resumen")

    p = sub.add_parser("sign-loop", help="firma periódicamente (proceso trabajador)")
    p.add_argument(
        "--interval-s",
        type=_interval,
        help="segundos entre firmas (por omisión PTM_AUDIT_SIGN_INTERVAL_S, o 300)",
    )
    return parser


# --- wiring --------------------------------------------------------------------------


@contextlib.contextmanager
def _service(*, writes: bool = False) -> Iterator[AuditService]:
    from ptm.bootstrap import build_audit, build_services  # noqa: PLC0415 - only when needed

    settings = Settings()
    services = build_services(settings, create_table=writes, migrate=writes)
    try:
        yield build_audit(services)
    finally:
        services.close()


@contextlib.contextmanager
def _store_only() -> Iterator[AuditStore]:
    """Read access to the stored rows, nothing else (see ``open_audit_store``)."""
    from ptm.bootstrap import open_audit_store  # noqa: PLC0415 - only when needed

    with open_audit_store(Settings()) as store:
        yield store


def _load_keys(paths: Sequence[Path]) -> list[Ed25519PublicKey]:
    keys = []
    for path in paths:
        try:
            keys.append(signing.load_public_key(path.read_bytes()))
        except (OSError, ValueError) as e:
            raise LedgerError(f"clave pública {path}: {e}") from e
    return keys


def load_digests(paths: Sequence[Path]) -> list[Digest]:
    """Digests an auditor kept: a JSON object, a JSON list, or JSON Lines of them."""
    out: list[Digest] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_DIGEST_FILE_BYTES:
                raise ValueError("archivo demasiado grande")
            text = path.read_text(encoding="utf-8")
            try:
                docs: Any = json.loads(text)
                items = docs if isinstance(docs, list) else [docs]
            except json.JSONDecodeError:
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
            for item in items:
                if isinstance(item, dict) and item.get("type", "digest") == "digest":
                    out.append(Digest.from_json(item))
        except (OSError, ValueError) as e:
            raise LedgerError(f"resumen {path}: {e}") from e
    return out


def _bar(total: int | None, desc: str, quiet: bool) -> tqdm[Any]:
    return tqdm(total=total, desc=desc, unit="pos", file=sys.stderr, disable=quiet)


# --- commands ------------------------------------------------------------------------


def _q(value: Decimal, mineral: str = "") -> str:
    m = MINERALS.get(mineral)
    return format(value.quantize(Decimal(1).scaleb(-m.scale)) if m else value, "f")


def _holder_json(holder_id: str, holder: Holder | None) -> dict[str, str | None]:
    """A holder's id, razón social and document for the JSON output."""
    return {
        "holder_id": holder_id,
        "holder_name": holder.name if holder else None,
        "holder_doc_type": holder.doc_type if holder else None,
        "holder_doc_number": holder.doc_number if holder else None,
    }


def _holder_text(holder_id: str, holder: Holder | None) -> str:
    """A holder as a person reads it: razón social, document and id."""
    if holder is None:
        return f"{holder_id} (sin registro en la historia reproducida)"
    return f"{holder.name} ({holder.document}) {holder_id}"


def _print_replay(result: ReplayResult, as_json: bool) -> None:
    if as_json:
        _say(
            json.dumps(
                {
                    "position": result.position,
                    "timestamp": result.timestamp.isoformat() if result.timestamp else None,
                    "head": result.head,
                    "events_folded": result.events_folded,
                    "last_event_position": result.last_event_position,
                    "excluded_late": result.excluded_late,
                    "balances": [
                        {
                            **_holder_json(r.holder_id, r.holder),
                            "origin_code": r.origin_code,
                            "mineral": r.mineral,
                            "unit": r.unit,
                            "available": _q(r.available, r.mineral),
                            "reserved": _q(r.reserved, r.mineral),
                        }
                        for r in result.rows
                    ],
                },
                ensure_ascii=False,
            )
        )
        return
    when = (
        f"a la fecha {result.timestamp.isoformat()} (eventos hasta la posición "
        f"{result.last_event_position}"
        + (
            f"; {result.excluded_late} eventos anteriores fechados después quedaron fuera"
            if result.excluded_late
            else ""
        )
        + ")"
        if result.timestamp is not None
        else f"a la posición {result.position}"
    )
    _say(
        f"Saldos {when}; cabeza del registro {result.head}; "
        f"{result.events_folded} eventos de códigos de origen aplicados."
    )
    _say(f"{'código de origen':<20} {'disponible':>18} {'reservado':>18}  titular")
    for r in result.rows:
        _say(
            f"{r.origin_code:<20} {_q(r.available, r.mineral):>15} {r.unit:<2} "
            f"{_q(r.reserved, r.mineral):>15} {r.unit:<2}  {_holder_text(r.holder_id, r.holder)}"
        )
    _say(f"{len(result.rows)} saldos.")


def cmd_replay(args: argparse.Namespace) -> int:
    position, timestamp = args.as_of
    with _service() as audit:
        bar = _bar(None, "reproduciendo", args.quiet)

        def total(n: int) -> None:
            bar.reset(total=n)

        try:
            if args.diff:
                if timestamp is not None:
                    raise LedgerError("--diff compara a una posición, no a una fecha.")
                d = audit.diff(position=position, progress=bar.update, on_total=total)
            else:
                result = audit.replay(
                    position=position,
                    timestamp=timestamp,
                    origin_code=args.origin_code,
                    holder_id=args.holder,
                    progress=bar.update,
                    on_total=total,
                )
        finally:
            bar.close()
        if not args.diff:
            _print_replay(result, args.json)
            return 0
    rows = [
        {
            **_holder_json(r.holder_id, r.holder),
            "origin_code": r.origin_code,
            "replay": {
                "available": _q(r.replay_available, r.mineral),
                "reserved": _q(r.replay_reserved, r.mineral),
            },
            "live": {
                "available": _q(r.live_available, r.mineral),
                "reserved": _q(r.live_reserved, r.mineral),
            },
        }
        for r in d.rows
    ]
    if args.json:
        _say(
            json.dumps(
                {"position": d.position, "read_model_position": d.read_model_position, "diff": rows}
            )
        )
    else:
        _say(
            f"Reproducción a la posición {d.position} contra el modelo de lectura (posición "
            f"{d.read_model_position}): {len(d.rows)} diferencias."
        )
        for r in d.rows:
            _say(
                f"  {_holder_text(r.holder_id, r.holder)} {r.origin_code}: reproducido "
                f"{_q(r.replay_available, r.mineral)} / {_q(r.replay_reserved, r.mineral)}, "
                f"modelo {_q(r.live_available, r.mineral)} / {_q(r.live_reserved, r.mineral)}"
            )
    return 1 if d.rows else 0


def _print_report(report: Report, as_json: bool, what: str) -> int:
    if as_json:
        _say(json.dumps(report.as_json(), ensure_ascii=False))
        return 0 if report.ok else 1
    seed = (
        "desde el génesis"
        if report.seed_position == 0
        else f"desde el eslabón almacenado en la posición {report.seed_position} (no verificado)"
    )
    _say(
        f"{what}: posiciones {report.from_position}–{report.to_position}, {report.events} "
        f"eventos, {report.links} eslabones, {seed}."
    )
    _say(
        f"Resúmenes firmados: {report.digests_checked} revisados, {report.digests_valid} con "
        "firma válida."
    )
    if report.anchored_position:
        _say(f"Anclado por firma hasta la posición {report.anchored_position}.")
    else:
        _say("Ningún resumen firmado válido ancla esta cadena.")
    if report.anchored_position and report.to_position > report.anchored_position:
        _say(
            f"Las posiciones posteriores a {report.anchored_position} solo están encadenadas "
            "(ningún resumen firmado las cubre todavía)."
        )
    if report.ok:
        _say(f"Correcto: cadena íntegra; eslabón final {report.head_link}.")
        return 0
    _say(f"ALTERACIONES: {report.problem_count} hallazgos.")
    for p in report.problems:
        _say(f"  [{p.kind}] {p.detail}")
    if report.problem_count > len(report.problems):
        _say(f"  … y {report.problem_count - len(report.problems)} más.")
    return 1


def cmd_verify(args: argparse.Namespace) -> int:
    keys = signing.keyring(_load_keys(args.public_key))
    digests = load_digests(args.digest)
    with _store_only() as store:
        head = store.max_position()
        after = (args.from_position or 1) - 1
        stop = args.to_position
        span = (stop or head) - after
        with _bar(max(span, 0), "verificando", args.quiet) as bar:
            report = verify_store(
                store, keys, after=after, stop=stop, extra_digests=digests, progress=bar.update
            )
    return _print_report(report, args.json, "Cadena")


def cmd_sign(args: argparse.Namespace) -> int:
    with _service(writes=True) as audit:
        digest, created = audit.sign()
    _say(json.dumps(digest.as_json()))
    _say(
        f"{'Resumen firmado' if created else 'La cabeza ya estaba firmada'}: posición "
        f"{digest.position}, clave {digest.key_id}.",
        sys.stderr,
    )
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    key = signing.derive_private_key(Settings().secret("signing_key_seed")).public_key()
    pem = signing.public_key_pem(key)
    if args.out:
        args.out.write_text(pem, encoding="ascii")
        _say(f"Clave pública {signing.key_id(key)} escrita en {args.out}", sys.stderr)
    else:
        _say(pem.rstrip("\n"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _service() as audit:
        start, end = audit.export_range(
            args.from_position, args.to_position, max_positions=MAX_CLI_EXPORT
        )
        lines = audit.export(start, end)
        if args.out == "-":
            _write_export(lines, sys.stdout, end - start + 1, args.quiet)
            return 0
        # Written beside the target and renamed at the end: an interrupted export never
        # leaves a file that looks complete.
        target = Path(args.out)
        partial = target.with_name(target.name + ".parcial")
        try:
            with partial.open("w", encoding="utf-8") as out:
                _write_export(lines, out, end - start + 1, args.quiet)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    _say(f"Exportadas las posiciones {start}–{end} a {target}", sys.stderr)
    return 0


def _write_export(lines: Iterator[str], out: IO[str], total: int, quiet: bool) -> None:
    with _bar(total, "exportando", quiet) as bar:
        for line in lines:
            out.write(line)
            out.write("\n")
            if line.startswith(('{"type":"event"', '{"type":"link"')):
                bar.update(1)


def cmd_verify_export(args: argparse.Namespace) -> int:
    keys = signing.keyring(_load_keys(args.public_key))
    if not args.file.is_file():
        raise LedgerError(f"no existe el archivo {args.file}")
    report = export.verify_export(args.file, keys, extra_digests=load_digests(args.digest))
    return _print_report(report, args.json, "Exportación")


def cmd_status(args: argparse.Namespace) -> int:
    with _service() as audit:
        s = audit.status()
    _say(f"Cabeza del registro de eventos: {s.event_head}")
    _say(f"Cabeza de la cadena:            {s.chain_head} {s.chain_link or ''}")
    _say(f"Resúmenes firmados:             {s.digests} (clave de esta instalación {s.key_id})")
    if s.latest_digest is not None:
        d = s.latest_digest
        _say(f"Último resumen:                 posición {d.position}, {d.signed_at.isoformat()}")
    return 0


def cmd_sign_loop(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # The setting may not exist in this version of the settings: fall back to the default.
    interval_s = args.interval_s or float(
        getattr(Settings(), "audit_sign_interval_s", 0) or DEFAULT_SIGN_INTERVAL_S
    )
    with _service(writes=True) as audit:
        _say(f"Firma periódica cada {interval_s:g} s (Ctrl+C para detener)")
        audit.periodic_signer(interval_s).run_forever(stop)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "replay": cmd_replay,
    "verify": cmd_verify,
    "sign": cmd_sign,
    "public-key": cmd_public_key,
    "export": cmd_export,
    "verify-export": cmd_verify_export,
    "status": cmd_status,
    "sign-loop": cmd_sign_loop,
}


def main(argv: list[str]) -> int:
    """Entry point of ``ptm audit``."""
    from eventsourcing.persistence import PersistenceError  # noqa: PLC0415
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        return COMMANDS[args.action](args)
    except ChainIntegrityError as e:
        _err(e.detail)
        return 1
    except LedgerError as e:
        _err(e.detail)
        return 2
    except (PersistenceError, SQLAlchemyError) as e:
        _err(f"no se pudo leer la base de datos: {e}")
        return 2
    except (OSError, ValueError) as e:  # settings (pydantic) and files
        _err(str(e))
        return 2


__all__ = ["load_digests", "main", "parse_as_of"]
