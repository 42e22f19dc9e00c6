"""Recompute the chain from the event rows and locate whatever does not fit.

Two chains are followed position by position:

* the *recomputed* chain, built from the event rows alone, starting at GENESIS — what
  the signed digests are checked against (an auditor trusts only this one);
* the *stored* chain rows, each checked locally against its own event, from the stored
  link before it (or the recomputed one) — which is what LOCATES a problem: an edited
  event fails at its own position only, and the positions after it verify again.

What each finding means:

``edited``       event and link present but they do not match (state, topic, aggregate
                 or version edited — or the link itself);
``deleted``      a link whose event row is gone;
``inserted``     an event row without a link (written behind the recorder's back);
``reordered``    two rows that match each other's links (positions swapped);
``state_swapped`` two rows that match each other's links once their states are swapped;
``moved``        an event without a link that matches the link of a deleted position;
``digest_*``     a signed digest that does not verify, or whose link differs from the
                 recomputed chain (history up to its position was rewritten, even if the
                 stored links were recomputed to match).

Deleting the newest events together with their links and digests cannot be seen from
the database alone: an auditor keeps digests (``ptm audit verify --digest FILE``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.chain import GENESIS, AuditStore, ChainRow, Digest, EventRow, chain_link
from audit.signing import check_digest
from projections.stored import prefetch

#: Problems kept in a report (all are counted).
MAX_PROBLEMS = 1000
#: Rows read per query.
PAGE = 5000
#: Unexplained rows kept to recognise swapped or moved rows among later ones.
CANDIDATES = 64


@dataclass(frozen=True)
class Problem:
    """One finding, at the position where it is."""

    position: int
    kind: str
    detail: str
    related: int | None = None

    def as_json(self) -> dict[str, object]:
        """The finding as JSON."""
        return {
            "position": self.position,
            "kind": self.kind,
            "detail": self.detail,
            "related": self.related,
        }


@dataclass
class Report:
    """The outcome of a verification."""

    seed_position: int
    from_position: int
    to_position: int = 0
    events: int = 0
    links: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    digests_checked: int = 0
    digests_valid: int = 0
    #: Highest position covered by a valid digest that matches the recomputed chain.
    anchored_position: int = 0
    head_link: str = GENESIS.hex()
    complete: bool = True
    next_after: int | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return self.problem_count == 0

    def as_json(self) -> dict[str, Any]:
        """The report as JSON."""
        return {
            "ok": self.ok,
            "seed_position": self.seed_position,
            "from_position": self.from_position,
            "to_position": self.to_position,
            "events": self.events,
            "links": self.links,
            "digests_checked": self.digests_checked,
            "digests_valid": self.digests_valid,
            "anchored_position": self.anchored_position,
            "head_link": self.head_link,
            "complete": self.complete,
            "next_after": self.next_after,
            "problem_count": self.problem_count,
            "problems": [p.as_json() for p in self.problems],
        }


@dataclass
class _Unexplained:
    position: int
    prev: bytes
    link: bytes | None  # None: an event without a link
    event: EventRow | None  # None: a link without an event
    problem: int | None  # index in report.problems


def _relink(prev: bytes, position: int, e: EventRow, state: bytes | None = None) -> bytes:
    return chain_link(
        prev,
        position,
        e.originator_id,
        e.originator_version,
        e.topic,
        e.state if state is None else state,
    )


def _what(e: EventRow) -> str:
    return f"{e.originator_id} v{e.originator_version}, {e.topic.rsplit('.', 1)[-1]}"


class ChainVerifier:
    """Feed positions in increasing order (and digests after their position)."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        *,
        seed: bytes = GENESIS,
        seed_position: int = 0,
    ) -> None:
        self.keys = keys
        self.stored_prev = seed
        self.recomputed = seed
        self.last_link_position = seed_position
        self.last_position = seed_position
        self.report = Report(seed_position=seed_position, from_position=seed_position + 1)
        self.report.head_link = seed.hex()
        self._unexplained: deque[_Unexplained] = deque(maxlen=CANDIDATES)

    # --- findings ----------------------------------------------------------------------

    def add_problem(self, position: int, kind: str, detail: str, related: int | None = None) -> int:
        """Record a finding (kept up to MAX_PROBLEMS, always counted); its index or -1."""
        self.report.problem_count += 1
        if len(self.report.problems) >= MAX_PROBLEMS:
            return -1
        self.report.problems.append(Problem(position, kind, detail, related))
        return len(self.report.problems) - 1

    def _replace(self, index: int | None, problem: Problem) -> None:
        if index is not None and 0 <= index < len(self.report.problems):
            self.report.problems[index] = problem

    # --- positions ---------------------------------------------------------------------

    def position(self, position: int, event: EventRow | None, link: ChainRow | None) -> None:
        """Check one position: its event row and/or its chain row."""
        assert position > self.last_position, "positions must increase"
        self.last_position = position
        self.report.to_position = position
        before = self.recomputed
        if event is not None:
            self.report.events += 1
            self.recomputed = event.link(before)
        if link is not None:
            self.report.links += 1
        if event is not None and link is not None:
            self._both(position, event, link, before)
        elif link is not None:
            self._link_only(position, link)
        elif event is not None:
            self._event_only(position, event)

    def _both(self, position: int, event: EventRow, link: ChainRow, before: bytes) -> None:
        prev = self.stored_prev
        # Linked from the stored link before it, or — when that stored link is the one
        # altered — from the recomputed one; one hash when both agree (the usual case).
        ok = self.recomputed == link.link or (prev != before and event.link(prev) == link.link)
        gap = position - self.last_link_position > 1
        self.last_link_position = position
        self.stored_prev = link.link
        if ok:
            return
        if self._explain_pair(position, prev, link.link, event):
            return
        detail = (
            f"Posición {position}: el evento ({_what(event)}) no corresponde a su eslabón; "
            "su contenido (estado, tema, agregado o versión) o el eslabón fueron alterados."
        )
        if gap:
            detail += (
                " Hay un hueco antes de esta posición: también pudo eliminarse un evento "
                "junto con su eslabón."
            )
        index = self.add_problem(position, "edited", detail)
        self._unexplained.append(_Unexplained(position, prev, link.link, event, index))

    def _link_only(self, position: int, link: ChainRow) -> None:
        prev = self.stored_prev
        self.last_link_position = position
        self.stored_prev = link.link
        for u in self._unexplained:
            if (
                u.link is None
                and u.event is not None
                and _relink(prev, position, u.event) == link.link
            ):
                self._replace(
                    u.problem,
                    Problem(
                        u.position,
                        "moved",
                        f"Posición {u.position}: el evento ({_what(u.event)}) fue movido aquí "
                        f"desde la posición {position}.",
                        position,
                    ),
                )
                self.add_problem(
                    position,
                    "moved",
                    f"Posición {position}: su evento fue movido a la posición {u.position}.",
                    u.position,
                )
                self._unexplained.remove(u)
                return
        index = self.add_problem(
            position, "deleted", f"Posición {position}: el eslabón existe pero el evento falta."
        )
        self._unexplained.append(_Unexplained(position, prev, link.link, None, index))

    def _event_only(self, position: int, event: EventRow) -> None:
        for u in self._unexplained:
            if (
                u.event is None
                and u.link is not None
                and _relink(u.prev, u.position, event) == u.link
            ):
                self._replace(
                    u.problem,
                    Problem(
                        u.position,
                        "moved",
                        f"Posición {u.position}: su evento fue movido a la posición {position}.",
                        position,
                    ),
                )
                self.add_problem(
                    position,
                    "moved",
                    f"Posición {position}: el evento ({_what(event)}) fue movido aquí desde "
                    f"la posición {u.position}.",
                    u.position,
                )
                self._unexplained.remove(u)
                return
        index = self.add_problem(
            position,
            "inserted",
            f"Posición {position}: evento sin eslabón ({_what(event)}); fue escrito fuera del "
            "registrador (insertado).",
        )
        self._unexplained.append(_Unexplained(position, self.stored_prev, None, event, index))

    def _explain_pair(self, position: int, prev: bytes, link: bytes, event: EventRow) -> bool:
        """Recognise two rows that swapped positions, or swapped states."""
        for u in self._unexplained:
            if u.event is None or u.link is None:
                continue
            if (
                _relink(u.prev, u.position, event) == u.link
                and _relink(prev, position, u.event) == link
            ):
                kind, text = (
                    "reordered",
                    "los eventos de las posiciones {a} y {b} están intercambiados",
                )
            elif (
                _relink(u.prev, u.position, u.event, event.state) == u.link
                and _relink(prev, position, event, u.event.state) == link
            ):
                kind, text = (
                    "state_swapped",
                    "los estados de los eventos {a} y {b} están intercambiados",
                )
            else:
                continue
            said = text.format(a=u.position, b=position)
            self._replace(
                u.problem, Problem(u.position, kind, f"Posición {u.position}: {said}.", position)
            )
            self.add_problem(position, kind, f"Posición {position}: {said}.", u.position)
            self._unexplained.remove(u)
            return True
        return False

    # --- digests -----------------------------------------------------------------------

    def digest(self, digest: Digest) -> None:
        """Check a digest once every position up to its own was fed."""
        self.report.digests_checked += 1
        d = digest.position
        outcome = check_digest(digest, self.keys)
        if outcome == "unknown_key":
            self.add_problem(
                d,
                "digest_unknown_key",
                f"Resumen en la posición {d}: firmado con la clave {digest.key_id}, que no se "
                "proporcionó.",
            )
            return
        if outcome == "bad_signature":
            self.add_problem(
                d,
                "digest_signature",
                f"Resumen en la posición {d} (clave {digest.key_id}): la firma no es válida.",
            )
            return
        self.report.digests_valid += 1
        if digest.link != self.recomputed.hex():
            self.add_problem(
                d,
                "digest_mismatch",
                f"Resumen firmado en la posición {d}: la cadena recalculada desde los eventos "
                "no coincide con el eslabón firmado; la historia hasta esa posición fue "
                "alterada (después del último resumen válido, posición "
                f"{self.report.anchored_position}).",
            )
            return
        self.report.anchored_position = max(self.report.anchored_position, d)


Positioned = tuple[int, EventRow | None, ChainRow | None]


def merge_rows(events: Iterator[EventRow], links: Iterator[ChainRow]) -> Iterator[Positioned]:
    """Event rows and chain rows, both in position order, paired by position."""
    e, c = next(events, None), next(links, None)
    while e is not None or c is not None:
        p = min(x.position for x in (e, c) if x is not None)
        here_e = e if e is not None and e.position == p else None
        here_c = c if c is not None and c.position == p else None
        yield p, here_e, here_c
        if here_e is not None:
            e = next(events, None)
        if here_c is not None:
            c = next(links, None)


def feed(
    verifier: ChainVerifier,
    rows: Iterator[Positioned],
    digests: Iterator[Digest],
    *,
    max_positions: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Report:
    """Feed positions (and each digest right after its position) to the verifier."""
    report = verifier.report
    d = next(digests, None)
    done = 0
    for p, event, link in rows:
        if max_positions is not None and done >= max_positions:
            report.complete = False
            report.next_after = verifier.last_position
            break
        while d is not None and d.position < p:
            verifier.digest(d)
            d = next(digests, None)
        verifier.position(p, event, link)
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(1000)
    stop_at = None if report.complete else verifier.last_position
    while d is not None and (stop_at is None or d.position <= stop_at):
        verifier.digest(d)
        d = next(digests, None)
    if progress is not None:
        progress(done % 1000)
    report.head_link = verifier.recomputed.hex()
    return report


def verify_store(
    store: AuditStore,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    after: int = 0,
    stop: int | None = None,
    max_positions: int | None = None,
    extra_digests: Sequence[Digest] = (),
    check_stored_digests: bool = True,
    seed: tuple[int, bytes] | None = None,
    progress: Callable[[int], object] | None = None,
) -> Report:
    """Verify the stored chain from position ``after + 1`` (to ``stop``).

    From the start of the log the recomputed chain begins at GENESIS and depends on
    nothing stored; from a later position it starts at ``seed`` (a link the caller
    trusts, e.g. a signed one) or else at the stored link before it (say so to whoever
    reads the report: ``seed_position``).
    """
    link, seed_position = GENESIS, 0
    if seed is not None:
        seed_position, link = seed
    elif after > 0:
        before = store.chain_row_before(after + 1)
        if before is not None:
            link, seed_position = before.link, before.position
    verifier = ChainVerifier(keys, seed=link, seed_position=seed_position)
    verifier.report.from_position = after + 1
    page = PAGE if max_positions is None else max(1, min(PAGE, max_positions + 1))

    def event_pages() -> Iterator[Sequence[EventRow]]:
        last = after
        while True:
            rows = store.event_rows(last, page, stop)
            if rows:
                yield rows
            if len(rows) < page:
                return
            last = rows[-1].position

    def link_pages() -> Iterator[Sequence[ChainRow]]:
        last = after
        while True:
            rows = store.chain_rows(last, page, stop)
            if rows:
                yield rows
            if len(rows) < page:
                return
            last = rows[-1].position

    def events() -> Iterator[EventRow]:
        for rows in prefetch(event_pages()):
            yield from rows

    def links() -> Iterator[ChainRow]:
        for rows in prefetch(link_pages()):
            yield from rows

    def digests() -> Iterator[Digest]:
        stored: Iterator[Digest] = iter(())
        if check_stored_digests:
            stored = _stored_digests(store, after, stop)
        extra = sorted(
            (
                x
                for x in extra_digests
                if x.position > after and (stop is None or x.position <= stop)
            ),
            key=lambda x: (x.position, x.key_id),
        )
        return _merge_digests(stored, iter(extra))

    return feed(
        verifier,
        merge_rows(events(), links()),
        digests(),
        max_positions=max_positions,
        progress=progress,
    )


def _stored_digests(store: AuditStore, after: int, stop: int | None) -> Iterator[Digest]:
    cursor: tuple[int, str] = (after, "")
    while True:
        rows = store.digests_after(cursor, PAGE, stop)
        yield from rows
        if len(rows) < PAGE:
            return
        cursor = (rows[-1].position, rows[-1].key_id)


def _merge_digests(a: Iterator[Digest], b: Iterator[Digest]) -> Iterator[Digest]:
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and (x.position, x.key_id) <= (y.position, y.key_id)):
            assert x is not None
            yield x
            x = next(a, None)
        else:
            yield y
            y = next(b, None)
