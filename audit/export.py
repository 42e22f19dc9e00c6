"""Export of the event log as JSON Lines, and its offline verification.

One JSON object per line, in this order:

``{"type": "header", …}``
    format and version, the position range, and the *seed*: the chain link before the
    first exported position (GENESIS when the export starts at position 1, which is
    the only case where the export is verified without trusting anything stored);
``{"type": "digest", …}``
    the platform's signed digests whose position lies in the range (the newest
    ``MAX_EXPORT_DIGESTS`` of them: each anchors every position before it);
``{"type": "event", …}``
    one per stored event: position, originator id and version, topic, the stored bytes
    in base64 (``state``), its chain ``link`` (null if it has none) and, for people, the
    decoded ``event`` (null, with ``decode_error``, when it cannot be decoded — e.g.
    exported without the cipher key);
    An old event that holds a credential (a password hash or a sealed TOTP secret, see
    docs/identity.md) is exported with ``state`` null and ``state_redacted`` true, its
    decoded view redacted: the verifier takes its ``link`` as given and recomputes the
    later links from it (its content is verified online, from the stored bytes);
``{"type": "link", …}``
    a chain link whose event row is missing (only in a damaged log);
``{"type": "end", …}``
    counts, so a truncated file is noticed.

Verification recomputes every link from the exported bytes (:mod:`audit.verify`)
and checks the digests with the public key alone.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import Mapper

from audit.chain import GENESIS, AuditStore, ChainRow, Digest, EventRow
from audit.redact import redact
from audit.verify import PAGE, ChainVerifier, Positioned, Report, feed, merge_rows
from projections.stored import plain_bytes

FORMAT = "ptm-audit-export"
VERSION = 1
#: Digests written in one export (the newest in the range).
MAX_EXPORT_DIGESTS = 10_000
#: Longest line accepted when verifying (an event is a few kilobytes at most).
MAX_LINE_BYTES = 4 * 1024 * 1024
CHAIN_FORMULA = (
    "link_n = SHA-256(link_prev ‖ be64(position) ‖ be32(len(originator_id)) ‖ originator_id "
    "‖ be64(originator_version) ‖ be32(len(topic)) ‖ topic ‖ be64(len(state)) ‖ state); "
    "link_0 = SHA-256('ptm-ledger/chain/v1')"
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_jsonable)


def decode_for_humans(
    mapper: Mapper[Any], state: bytes, plain: Callable[[bytes], bytes] | None = None
) -> dict[str, Any]:
    """The event's fields as plain JSON values (raises if it cannot be decoded), with
    credentials redacted (:mod:`audit.redact`; the exported ``state`` bytes, which the
    chain covers, are left as stored)."""
    return redact(_decode(mapper, state, plain))  # type: ignore[no-any-return]


def _decode(
    mapper: Mapper[Any], state: bytes, plain: Callable[[bytes], bytes] | None
) -> dict[str, Any]:
    data = (plain or plain_bytes(mapper))(state)
    decoded = mapper.transcoder.decode(data)
    if not isinstance(decoded, dict):
        raise TypeError("el evento no es un objeto")
    return json.loads(_dumps(decoded))  # type: ignore[no-any-return]


class _StatedLinkRow(EventRow):
    """An exported event whose stored bytes were withheld (they hold a credential): its
    ``state`` carries the exported link, which the verifier takes as given. The next
    ordinary event's link is recomputed from it, so the last of a run of withheld
    events is anchored by the chain after it; their contents (and the links inside a
    run) are checked only online, where the stored bytes are read."""

    __slots__ = ()

    def link(self, prev: bytes) -> bytes:
        return self.state


def _merged(store: AuditStore, after: int, stop: int) -> Iterator[Positioned]:
    def events() -> Iterator[EventRow]:
        last = after
        while True:
            rows = store.event_rows(last, PAGE, stop)
            yield from rows
            if len(rows) < PAGE:
                return
            last = rows[-1].position

    def links() -> Iterator[ChainRow]:
        last = after
        while True:
            rows = store.chain_rows(last, PAGE, stop)
            yield from rows
            if len(rows) < PAGE:
                return
            last = rows[-1].position

    return merge_rows(events(), links())


def export_lines(
    store: AuditStore,
    mapper: Mapper[Any] | None,
    *,
    from_position: int,
    to_position: int,
    now: datetime | None = None,
) -> Iterator[str]:
    """The export of positions ``from_position``..``to_position`` (inclusive), line by
    line (each without its newline). ``mapper`` None: no decoded view."""
    assert 1 <= from_position <= to_position
    after = from_position - 1
    before = store.chain_row_before(from_position) if from_position > 1 else None
    seed_position, seed_link = (before.position, before.link) if before else (0, GENESIS)
    yield _dumps(
        {
            "type": "header",
            "format": FORMAT,
            "version": VERSION,
            "from_position": from_position,
            "to_position": to_position,
            "seed_position": seed_position,
            "seed_link": seed_link.hex(),
            "exported_at": (now or datetime.now(tz=UTC)).isoformat(),
            "chain": CHAIN_FORMULA,
        }
    )
    digests = _digests_in(store, after, to_position)
    for d in digests:
        yield _dumps({"type": "digest", **d.as_json()})
    events = links = 0
    plain = plain_bytes(mapper) if mapper is not None else None
    for position, e, c in _merged(store, after, to_position):
        link = c.link.hex() if c is not None else None
        if e is None:
            links += 1
            yield _dumps({"type": "link", "position": position, "link": link})
            continue
        events += 1
        links += c is not None
        line: dict[str, Any] = {
            "type": "event",
            "position": position,
            "originator_id": e.originator_id,
            "originator_version": e.originator_version,
            "topic": e.topic,
            "state": base64.b64encode(e.state).decode("ascii"),
            "link": link,
        }
        if mapper is not None:
            try:
                raw = _decode(mapper, e.state, plain)
            except Exception as exc:  # a damaged or foreign row is still exported
                line["event"] = None
                line["decode_error"] = type(exc).__name__
            else:
                line["event"] = shown = redact(raw)
                if shown is not raw and link is not None:
                    # An old event with a credential (docs/identity.md): its bytes are
                    # not exported; the link stands for them.
                    line["state"] = None
                    line["state_redacted"] = True
        yield _dumps(line)
    yield _dumps(
        {
            "type": "end",
            "events": events,
            "links": links,
            "digests": len(digests),
            "to_position": to_position,
        }
    )


def _digests_in(store: AuditStore, after: int, stop: int) -> list[Digest]:
    # The newest first, then back in order: the newest digest anchors the most.
    newest: list[Digest] = []
    offset = 0
    while len(newest) < MAX_EXPORT_DIGESTS:
        rows = store.latest_digests(offset, 1000)
        if not rows:
            break
        offset += len(rows)
        newest.extend(d for d in rows if after < d.position <= stop)
        if rows[-1].position <= after:
            break
    return sorted(newest[:MAX_EXPORT_DIGESTS], key=lambda d: (d.position, d.key_id))


class _MalformedError(ValueError):
    pass


def _int(obj: dict[str, Any], name: str, minimum: int = 0) -> int:
    v = obj.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise _MalformedError(f"«{name}» debe ser un entero ≥ {minimum}")
    return v


def _str(obj: dict[str, Any], name: str, max_len: int = 1000) -> str:
    v = obj.get(name)
    if not isinstance(v, str) or len(v) > max_len:
        raise _MalformedError(f"«{name}» debe ser texto")
    return v


def _link(obj: dict[str, Any]) -> bytes | None:
    v = obj.get("link")
    if v is None:
        return None
    if not isinstance(v, str):
        raise _MalformedError("«link» debe ser texto hexadecimal")
    try:
        return bytes.fromhex(v)
    except ValueError:
        return b""  # reported as a link that does not match


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if len(raw) > MAX_LINE_BYTES:
                yield number, None, "línea demasiado larga"
                continue
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                yield number, None, "JSON inválido"
                continue
            if not isinstance(obj, dict):
                yield number, None, "se esperaba un objeto JSON"
                continue
            yield number, obj, None


def verify_export(
    path: Path,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    extra_digests: Sequence[Digest] = (),
) -> Report:
    """Verify an export file offline with the public key(s) alone."""
    header: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    digests: list[Digest] = list(extra_digests)
    format_problems: list[tuple[int, str]] = []
    # First pass: header, trailer and digests (bounded), so every digest is checked
    # when the second pass reaches its position, wherever it sits in the file.
    for number, obj, error in _lines(path):
        if obj is None:
            format_problems.append((number, error or "línea inválida"))
            continue
        kind = obj.get("type")
        if number == 1 or header is None:
            if kind != "header" or obj.get("format") != FORMAT or obj.get("version") != VERSION:
                format_problems.append((number, "falta el encabezado de la exportación"))
            header = obj
        elif kind == "digest" and len(digests) < MAX_EXPORT_DIGESTS + len(extra_digests):
            try:
                digests.append(Digest.from_json(obj))
            except ValueError as e:
                format_problems.append((number, f"resumen mal formado: {e}"))
        elif kind == "end":
            end = obj
    try:
        if header is None:
            raise _MalformedError("archivo vacío")
        seed_position = _int(header, "seed_position")
        seed_link = bytes.fromhex(_str(header, "seed_link", 64))
        from_position = _int(header, "from_position", 1)
    except (_MalformedError, ValueError) as e:
        verifier = ChainVerifier(keys)
        verifier.add_problem(0, "malformed", f"Encabezado inválido: {e}.")
        return verifier.report
    verifier = ChainVerifier(keys, seed=seed_link, seed_position=seed_position)
    verifier.report.from_position = from_position
    if seed_position == 0 and seed_link != GENESIS:
        verifier.add_problem(0, "malformed", "El encabezado declara un eslabón inicial falso.")
    for number, text in format_problems:
        verifier.add_problem(0, "malformed", f"Línea {number}: {text}.")

    counted = {"events": 0, "links": 0}

    def rows() -> Iterator[Positioned]:
        last = seed_position
        for number, obj, _error in _lines(path):
            if obj is None or obj.get("type") not in ("event", "link"):
                continue
            try:
                position = _int(obj, "position", 1)
                if position <= last:
                    raise _MalformedError(f"posición {position} fuera de orden (después de {last})")
                link = _link(obj)
                event: EventRow | None = None
                if obj["type"] == "event" and obj.get("state_redacted") is True:
                    if link is None:
                        raise _MalformedError("evento redactado sin eslabón")
                    event = _StatedLinkRow(
                        position,
                        _str(obj, "originator_id"),
                        _int(obj, "originator_version"),
                        _str(obj, "topic"),
                        link,
                    )
                    counted["events"] += 1
                elif obj["type"] == "event":
                    event = EventRow(
                        position,
                        _str(obj, "originator_id"),
                        _int(obj, "originator_version"),
                        _str(obj, "topic"),
                        base64.b64decode(_str(obj, "state", MAX_LINE_BYTES), validate=True),
                    )
                    counted["events"] += 1
                if link is not None:
                    counted["links"] += 1
            except (_MalformedError, binascii.Error, ValueError) as e:
                verifier.add_problem(last, "malformed", f"Línea {number}: {e}.")
                continue
            last = position
            yield position, event, (ChainRow(position, link) if link is not None else None)

    report = feed(verifier, rows(), iter(sorted(digests, key=lambda d: (d.position, d.key_id))))
    if end is None:
        verifier.add_problem(
            report.to_position, "truncated", "La exportación está incompleta (falta el cierre)."
        )
    elif end.get("events") != counted["events"] or end.get("links") != counted["links"]:
        verifier.add_problem(
            report.to_position,
            "truncated",
            f"El cierre declara {end.get('events')} eventos y {end.get('links')} eslabones; "
            f"el archivo tiene {counted['events']} y {counted['links']}.",
        )
    return report
