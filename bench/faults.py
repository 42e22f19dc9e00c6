"""Fault harness (issue 8): whole purchases over HTTP while processes die and PostgreSQL
restarts, then a check of every invariant the ledger promises.

Everything runs on 127.0.0.1 in a temporary directory, bounded in time:

* a private PostgreSQL cluster (``initdb`` from the installed binaries, run as the
  ``postgres`` user when the harness runs as root) on a free port, so restarting it
  disturbs nothing else on the machine;
* the API (``ptm serve --workers 2``), a projection worker (``ptm projections run``) and a
  notification worker (``ptm notify run``) that sends through a local SMTP server and a
  Twilio Messages API stand-in (``testkit/mailserver.py``, ``testkit/sms.py``);
* C client threads, each the user of a buyer organisation of its own, driving whole
  purchases over a few hot origin codes: create → lines → (save) → submit → read the
  acceptance code from the SMTP stand-in → validate, with cancels (of drafts and of
  pending purchases), wrong codes, a lock-out after five wrong codes, re-sends (the old
  code must then be refused) and purchases that are never validated. Every
  state-changing request carries an ``Idempotency-Key`` and is retried with the same key
  on connection errors, time-outs, 5xx, 429 and ``concurrency_conflict``;
* the clients reach the API through a TCP proxy (``testkit/proxy.py``) that loses
  ``--lose-answers`` (3 %) of the answers to keyed requests *after* the server
  committed — a SIGKILL rarely lands between a commit and its answer, this makes the
  case common, so a retry that duplicated an effect would show in the checks;
* every ``--kill-every`` seconds (±30 %) one process is killed with SIGKILL, in turn
  (shuffled): a uvicorn worker (uvicorn's supervisor restarts it), the projection worker
  or the notification worker (the harness restarts these at once); PostgreSQL is
  restarted once, half-way (``pg_ctl stop -m immediate``, ``--pg-outage`` s down, start:
  a crash and a WAL recovery; ``--pg-restart-mode fast`` for a clean restart).

**Expiries.** The reservation TTL is ``PTM_RESERVATION_TTL_S`` = 300 s (the least the
settings allow), longer than a CI run. The product's own expiry sweep (``ptm/sweeper.py``,
a thread of the projection worker ``ptm projections run``) looks every 30 s for pending
purchases past their TTL in the purchases read model and expires them, as do the buyer
coming back and a later submission that needs the mineral — but within a short run no
purchase is overdue yet, so it finds nothing. So the harness runs a small sweep of its
own: ``--expire-after`` s (default 10) after an abandoned purchase was submitted it calls
the domain's ``Ledger.expire_purchase`` through a ledger whose clock runs
``TTL − expire_after`` seconds ahead — the purchase is then overdue for the domain, which
expires it and releases its reservations in one atomic write, concurrently with the
clients' writes on the same hot codes. A third of the abandoned purchases are validated
"late" by their client at about the same moment, so expiry and validation race on the
same purchase: exactly one must win, and the client's answer (200 confirmed or 409 wrong
state) must match the ledger. With ``--expire-after 300`` (= the TTL) and ``--seconds`` >
300 the harness's sweep uses the real clock and the expiries are natural; the product's
sweep then races it too (the harness counts the purchases it found already ended).

Then the harness drains (projection lag 0, every outbox row sent), stops everything and
checks, reading the event store afresh (no cache):

1. conservation per origin code: Σ available + Σ reserved = produced (and the
   aggregate's own ``check_invariants``); no negative balance (aggregates, read model);
2. every reservation on an origin code belongs to a pending purchase and every pending
   purchase holds exactly its lines; every buyer holds exactly Σ its confirmed lines;
3. every acknowledged purchase (a create answered 201) exists, once: per buyer, the
   purchases in the read model and in the event store are the acknowledged ones plus at
   most the creates the client gave up on (a retry that created a second purchase would
   show up here);
4. the outcome each client was told (confirmed, cancelled, locked, expired…) is the
   purchase's status in the ledger;
5. the read models equal the aggregates and a fresh replay;
6. every outbox row was delivered (e-mail by ``X-PTM-Outbox-Key``, one Message-ID per key;
   SMS by the provider reference kept on the row and by body + recipient), with
   duplicates ≤ kills of the notification worker + PostgreSQL restarts (a restart can
   break ``mark_sent`` after the provider accepted a message: at least once, by design);
7. no client got an answer it should not have (e.g. a 404 or 422 on a retry);
8. the processes survived: uvicorn is back to its workers, and no worker exited on its
   own (only the harness's SIGKILLs); and the faults did happen (every kind of kill,
   the PostgreSQL restart).

It prints a summary and writes it as JSON (``--json``); the exit status is 0 when every
check passed, 1 when one failed, 2 when the harness could not set up.

    python bench/faults.py [--seconds 60] [--clients 16] [--kill-every 5] [--workers 2]
                           [--lose-answers 0.03] [--pg-restart-mode immediate|fast]
                           [--pg-outage 2] [--expire-after 10] [--seed 8] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eventsourcing.utils import get_topic  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from adapters.storage.recorder import recorder_of  # noqa: E402
from api.security import PasswordHasher, ScryptParams  # noqa: E402
from kernel.commands import utc_now  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from ledger.purchase import CONFIRMED, DRAFT, EXPIRED, LOCKED, PENDING, Purchase  # noqa: E402
from ledger.values import today_in_colombia  # noqa: E402
from notifications.outbox import SENT, OutboxRow  # noqa: E402
from projections import queries  # noqa: E402
from projections import tables as t  # noqa: E402
from ptm.bootstrap import Services, build_api_context, build_ledger, build_services  # noqa: E402
from ptm.settings import Settings  # noqa: E402
from testkit.mailserver import CollectingHandler, Received, SmtpStandIn  # noqa: E402
from testkit.net import free_port  # noqa: E402
from testkit.proxy import AckDroppingProxy  # noqa: E402
from testkit.readmodels import (  # noqa: E402
    assert_balances_match_aggregates,
    assert_equals_fresh_replay,
)
from testkit.sms import TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, TwilioStandIn  # noqa: E402
from testkit.world import nit  # noqa: E402

PASSWORD = "Clave-De-Fallas-Larga-2026"
SECRETS = {
    "PTM_CODE_HMAC_KEY": "k" * 32,
    "PTM_SESSION_KEY": "s" * 32,
    "PTM_STATEMENT_KEY": "t" * 32,
    "PTM_SIGNING_KEY_SEED": "e" * 64,
}
SELLER_NIT = nit("900123456")
SELLER_NAME = "Minera La Falla Controlada S.A.S."
SELLER_EMAIL = "ventas@lafalla.example.co"
SELLER_MOBILE = "+573009998877"
EXPEDIENTE = "EXP-001"
#: Answers a client retries with the same Idempotency-Key.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The longest pause between two tries of one request (seconds).
MAX_BACKOFF_S = 2.0
#: Weights of what a client does with a purchase.
SCENARIOS: dict[str, int] = {
    "confirm": 40,
    "wrong_then_right": 10,
    "resend": 10,
    "cancel_pending": 10,
    "cancel_draft": 5,
    "lock": 5,
    "abandon": 20,
}
KILL_KINDS = ("api", "projections", "notify")
CODE_LINE = re.compile(r"^ {4}(\d{6,12})$", re.M)
OUTBOX_KEY = re.compile(r"^([0-9a-f-]{36}):(\d+)/")


# --- small helpers ----------------------------------------------------------------------


def poll_until(condition: Callable[[], bool], *, timeout_s: float, every_s: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or the deadline passes (errors count as False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return True
        except Exception:  # the system under test may be restarting
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)


def children_of(pid: int) -> list[int]:
    """Live (not zombie) child processes of ``pid``, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the private PostgreSQL cluster -----------------------------------------------------


class SetupError(Exception):
    """The harness cannot run here (no PostgreSQL binaries, no postgres user…)."""


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server binaries."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for path in [*reversed(candidates), Path("/usr/local/pgsql/bin")]:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    raise SetupError(
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin: "
        "install PostgreSQL (Debian: apt-get install postgresql)"
    )


class PrivatePostgres:
    """A throw-away cluster of our own, on a free port, with fsync off."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="ptm-faults-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise SetupError("running as root and there is no 'postgres' user") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _pg(self, *args: str, timeout_s: float = 120) -> None:
        proc = subprocess.run(
            [*self.run_as, *args], check=False, capture_output=True, text=True, timeout=timeout_s
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stdout}{proc.stderr}\n"
                + tail(self.log)
            )

    def init(self) -> None:
        self._pg(
            str(self.bindir / "initdb"),
            "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE ptm")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300"
        )
        self._pg(
            str(self.bindir / "pg_ctl"),
            "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str, outage_s: float) -> float:
        """Stop (``immediate``: a crash; ``fast``: clean), stay down ``outage_s``, start
        again; returns the seconds it was down."""
        t0 = time.monotonic()
        self.stop(mode)
        time.sleep(outage_s)  # the outage itself
        self.start()
        return time.monotonic() - t0

    def url(self, db: str = "ptm") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- processes ------------------------------------------------------------------------


class Managed:
    """A process of the system under test, in a process group of its own."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.unexpected_exits: list[str] = []

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.log_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exited(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def kill_and_restart(self) -> None:
        """SIGKILL, reap, start again (the harness plays the process supervisor)."""
        with self.lock:
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.kills += 1
            self.start()

    def restart_if_exited(self) -> None:
        """A process that died without being killed is a finding: note it, restart it."""
        with self.lock:
            code = self.exited()
            if code is None:
                return
            self.unexpected_exits.append(f"exit {code}: {tail(self.log_path, 8)}")
            self.start()

    def stop(self, timeout_s: float = 20) -> None:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def api_workers(serve: Managed) -> list[int]:
    """uvicorn's worker processes (spawned children of the supervisor)."""
    return [p for p in children_of(serve.pid) if "spawn_main" in cmdline(p)]


# --- acceptance and login codes, read where a person would: in the mailbox ---------------


class Mailbox:
    """Indexes the codes arriving at the SMTP stand-in by aggregate and event version."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._codes: dict[str, dict[int, str]] = defaultdict(dict)

    def received(self, message: Received) -> None:
        key = OUTBOX_KEY.match(message.key)
        code = CODE_LINE.search(message.text())
        if key is None or code is None:
            return
        with self._cond:
            self._codes[key.group(1)][int(key.group(2))] = code.group(1)
            self._cond.notify_all()

    def wait_code(
        self, aggregate_id: str, *, after_version: int, timeout_s: float
    ) -> tuple[int, str]:
        """The newest code sent for the aggregate by an event after ``after_version``."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: any(v > after_version for v in self._codes.get(aggregate_id, {})),
                timeout=timeout_s,
            )
            if not ok:
                raise GaveUpError(f"code for {aggregate_id}")
            version = max(self._codes[aggregate_id])
            return version, self._codes[aggregate_id][version]


class IndexingHandler(CollectingHandler):
    """The stand-in's handler, telling the mailbox about each message as it lands."""

    def __init__(self, mailbox: Mailbox) -> None:
        super().__init__()
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:  # appended just now, with no await in between
            message = self.messages[-1]
        self.mailbox.received(message)
        return reply


# --- what the clients saw ---------------------------------------------------------------


class GaveUpError(Exception):
    """A request (or a code) did not get through before its deadline."""


class UnexpectedAnswerError(Exception):
    """An answer the step should never get."""


@dataclass
class Tracked:
    """An acknowledged purchase and the outcome its client was told."""

    id: str
    buyer: str
    scenario: str
    #: Statuses the ledger may show for it; None once a step gave up (unknown).
    expected: frozenset[str] | None = frozenset({DRAFT})
    code: str | None = None
    code_version: int = 0


@dataclass
class Observed:
    """Everything the clients and the chaos saw, shared by the threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    purchases: dict[str, Tracked] = field(default_factory=dict)
    creates_given_up: Counter[str] = field(default_factory=Counter)
    http_errors: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    gave_up: Counter[str] = field(default_factory=Counter)
    scenarios: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    answers_after_retry: int = 0
    #: Requests on the wire right now (uvicorn kills wait for one, to hit it).
    in_flight: int = 0
    logins: int = 0
    late_validations: Counter[str] = field(default_factory=Counter)
    abandoned: list[tuple[float, str]] = field(default_factory=list)

    def count(self, counter: str, label: str) -> None:
        with self.lock:
            getattr(self, counter)[label] += 1


def problem_code(r: httpx.Response) -> str | None:
    if r.headers.get("content-type", "").startswith("application/problem+json"):
        with contextlib.suppress(ValueError):
            return str(r.json().get("code"))
    return None


# --- the harness ------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: float = 60.0
    clients: int = 16
    kill_every: float = 5.0
    workers: int = 2
    hot_codes: int = 3
    reservation_ttl_s: int = 300
    expire_after_s: float = 10.0
    pg_restart_at: float = 0.5
    pg_restart_mode: str = "immediate"
    pg_outage_s: float = 2.0
    lose_answers: float = 0.03
    request_deadline_s: float = 60.0
    drain_s: float = 90.0
    seed: int = 8
    json_path: str | None = None
    keep: bool = False


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


class Harness:
    """One run: set up, load with faults, drain, check, report."""

    def __init__(self, opts: Options) -> None:
        assert opts.clients >= 1 and opts.seconds > 0 and opts.kill_every > 0
        assert opts.workers >= 2, "the harness kills uvicorn workers: run at least 2"
        assert 1 <= opts.hot_codes <= 20
        assert opts.reservation_ttl_s >= 300, "PTM_RESERVATION_TTL_S is at least 300"
        assert 0 < opts.expire_after_s <= opts.reservation_ttl_s
        assert 0 <= opts.lose_answers <= 0.5, "the clients would rarely get an answer"
        self.opts = opts
        self.rnd = random.Random(opts.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="ptm-faults-"))
        self.pg: PrivatePostgres | None = None
        self.seen = Observed()
        self.mailbox = Mailbox()
        self.smtp = SmtpStandIn()
        self.smtp.handler = IndexingHandler(self.mailbox)
        self.twilio = TwilioStandIn()
        self.procs: dict[str, Managed] = {}
        self.proxy: AckDroppingProxy | None = None
        self.api_url = ""
        self.stop = threading.Event()
        self.load_over = threading.Event()
        self.pg_restarts = 0
        self.pg_downtime_s = 0.0
        self.api_kills_skipped = 0
        self.api_restore_s: list[float] = []
        self.lag_max = 0
        self.sweeper_stats: Counter[str] = Counter()
        self.codes: list[str] = []
        self.buyers: list[str] = []
        self.operator = ""
        self.produced = Decimal("10000000")
        self.base_url = ""
        self.elapsed_s = 0.0
        self.load_until = float("inf")
        self.status_counts: Counter[str] = Counter()
        self.duplicates: dict[str, int] | None = None
        self.duplicate_bound: int | None = None
        self._prices = iter(range(250_000, 10**9))
        self._prices_lock = threading.Lock()

    # --- set-up ----------------------------------------------------------------------

    def settings(self, **override: Any) -> Settings:
        assert self.pg is not None
        values: dict[str, Any] = {
            "env": "test",
            "database_url": self.pg.url(),
            "var_dir": self.tmp / "var",
            "code_hmac_key": SECRETS["PTM_CODE_HMAC_KEY"],
            "session_key": SECRETS["PTM_SESSION_KEY"],
            "statement_key": SECRETS["PTM_STATEMENT_KEY"],
            "signing_key_seed": SECRETS["PTM_SIGNING_KEY_SEED"],
            "reservation_ttl_s": self.opts.reservation_ttl_s,
            "postgres_pool_size": 4,
        }
        values.update(override)
        return Settings(**values)

    def env(self) -> dict[str, str]:
        assert self.pg is not None
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PTM_")}
        return {
            **inherited,
            **SECRETS,
            "PYTHONUNBUFFERED": "1",
            "PTM_ENV": "test",
            "PTM_DATABASE_URL": self.pg.url(),
            "PTM_VAR_DIR": str(self.tmp / "var"),
            "PTM_OUTBOX_DIR": str(self.tmp / "var" / "outbox"),
            "PTM_RESERVATION_TTL_S": str(self.opts.reservation_ttl_s),
            "PTM_POSTGRES_POOL_SIZE": "10",
            # Thousands of submits (and deliberate wrong codes) on one seller by one buyer:
            # the budgets across purchases raised for the harness, not switched off.
            "PTM_GUARD_SELLER_MESSAGES": "10000000",
            "PTM_GUARD_WRONG_CODES": "10000000",
            "PTM_NOTIFICATIONS_BACKEND": "smtp",
            "PTM_SMTP_HOST": "127.0.0.1",
            "PTM_SMTP_PORT": str(self.smtp.port),
            "PTM_SMTP_SECURITY": "none",
            "PTM_SMTP_TIMEOUT_S": "5",
            "PTM_TWILIO_BASE_URL": self.twilio.base_url,
            "PTM_TWILIO_ACCOUNT_SID": TWILIO_SID,
            "PTM_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "PTM_TWILIO_FROM": TWILIO_FROM,
            "PTM_NOTIFY_MAX_BACKOFF_S": "5",
        }

    def setup(self) -> None:
        self.pg = PrivatePostgres()
        self.pg.init()
        self.smtp.start()
        self.twilio.start()
        svc = build_services(self.settings())  # event tables and read models, once
        try:
            self.seed(svc)
        finally:
            svc.close()
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        env = self.env()
        py = [sys.executable, "-m", "ptm.cli"]
        self.procs = {
            "api": Managed(
                "api",
                [*py, "serve", "--workers", str(self.opts.workers), "--port", str(port), "--quiet"],
                env,
                self.tmp,
            ),
            "projections": Managed("projections", [*py, "projections", "run"], env, self.tmp),
            "notify": Managed("notify", [*py, "notify", "run"], env, self.tmp),
        }
        for p in self.procs.values():
            p.start()
        if not poll_until(self._api_ready, timeout_s=90, every_s=0.3):
            raise SetupError("the API did not start:\n" + tail(self.procs["api"].log_path, 30))
        # The clients talk through a proxy that loses some answers after the commit.
        self.proxy = AckDroppingProxy(
            port, lose_fraction=self.opts.lose_answers, seed=self.opts.seed
        )
        self.proxy.start()
        self.base_url = self.proxy.url

    def _api_ready(self) -> bool:
        ok = httpx.get(self.api_url + "/health", timeout=2).status_code == 200
        return ok and len(api_workers(self.procs["api"])) == self.opts.workers

    def seed(self, svc: Services) -> None:
        ledger = svc.ledger
        ctx = build_api_context(svc, hasher=PasswordHasher(ScryptParams(log2_n=12)))
        password_hash = ctx.hasher.hash(PASSWORD)
        operator = ledger.register_operator(
            doc_type="NIT",
            doc_number=SELLER_NIT,
            name=SELLER_NAME,
            expedientes=[EXPEDIENTE],
            email=SELLER_EMAIL,
            mobile=SELLER_MOBILE,
        )
        self.operator = str(operator)
        self.codes = [
            ledger.register_production(
                operator_id=operator,
                mineral="ORO",
                quantity=str(self.produced),
                expediente=EXPEDIENTE,
                department_code="05",
                municipality_code="05001",
                period="2026-01",
                code=f"OC-ORO-FALLA-{i + 1:04d}",
            )
            for i in range(self.opts.hot_codes)
        ]
        for i in range(self.opts.clients):
            buyer = ledger.register_buyer(
                nit=nit(str(901304961 + i)),
                name=f"Comercializadora Resistente {i:02d} S.A.S.",
                rucom=f"RUCOM-2026{i:04d}",
                email=f"compras{i:02d}@resistente.example.co",
                mobile="+573001112233",
            )
            self.buyers.append(str(buyer))
            ctx.identity.register_user(
                username=f"cliente{i:02d}",
                name=f"Cliente {i:02d}",
                email=f"cliente{i:02d}@resistente.example.co",
                mobile="+573001234567",
                role="buyer",
                organisation_id=buyer,
                password_hash=password_hash,
                actor="faults",
            )

    def next_price(self) -> str:
        """Unit prices are unique, so every SMS body is too (SMS are counted by body)."""
        with self._prices_lock:
            return str(next(self._prices))

    # --- the run ---------------------------------------------------------------------

    def run(self) -> list[Check]:
        self.setup()
        threads = [
            threading.Thread(target=self.monitor, name="monitor", daemon=True),
            threading.Thread(target=self.sweeper, name="sweeper", daemon=True),
        ]
        for th in threads:
            th.start()
        clients = [Client(self, i) for i in range(self.opts.clients)]
        t0 = time.monotonic()
        self.load_until = t0 + self.opts.seconds
        for c in clients:
            c.start()
        self.chaos(t0)
        self.load_over.set()
        for c in clients:
            c.join(timeout=self.opts.request_deadline_s * 3 + 120)
        stuck = [c.name for c in clients if c.is_alive()]
        self.elapsed_s = time.monotonic() - t0
        drained = self.drain()
        self.stop.set()
        for th in threads:
            th.join(timeout=30)
        restored = poll_until(
            lambda: len(api_workers(self.procs["api"])) == self.opts.workers, timeout_s=30
        )
        for p in self.procs.values():
            p.stop()
        return self.check(drained=drained, stuck=stuck, api_restored=restored)

    def chaos(self, t0: float) -> None:
        """Kill something every few seconds, and restart PostgreSQL once."""
        opts = self.opts
        pg_at = t0 + opts.seconds * opts.pg_restart_at
        next_kill = t0 + opts.kill_every
        bag: list[str] = []
        while True:
            pending_pg = self.pg_restarts == 0 and opts.pg_restart_at < 1
            at = min(next_kill, pg_at) if pending_pg else next_kill
            if at >= self.load_until:
                self.stop.wait(max(0.0, self.load_until - time.monotonic()))
                return
            self.stop.wait(max(0.0, at - time.monotonic()))
            if pending_pg and time.monotonic() >= pg_at:
                assert self.pg is not None
                self.pg_downtime_s = self.pg.restart(opts.pg_restart_mode, opts.pg_outage_s)
                self.pg_restarts += 1
                continue
            if not bag:
                bag = list(KILL_KINDS)
                self.rnd.shuffle(bag)
            self.kill(bag.pop())
            next_kill += opts.kill_every * self.rnd.uniform(0.7, 1.3)

    def kill(self, kind: str) -> None:
        if kind != "api":
            self.procs[kind].kill_and_restart()
            return
        serve = self.procs["api"]
        # Most of a client's time goes to waiting for its code: kill when requests are on
        # the wire, so the kill cuts some of them (their retries must be harmless).
        poll_until(lambda: self.seen.in_flight >= 3, timeout_s=2.0, every_s=0.005)
        workers = api_workers(serve)
        if not workers:  # both are being restarted right now
            self.api_kills_skipped += 1
            return
        victim = self.rnd.choice(workers)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
            serve.kills += 1
        killed_at = time.monotonic()

        def restored() -> None:
            # uvicorn's supervisor notices within 0.5 s and spawns a new worker.
            if poll_until(
                lambda: (
                    victim not in api_workers(serve)
                    and len(api_workers(serve)) == self.opts.workers
                ),
                timeout_s=60,
                every_s=0.1,
            ):
                self.api_restore_s.append(time.monotonic() - killed_at)

        threading.Thread(target=restored, daemon=True).start()

    def monitor(self) -> None:
        """Restart a worker that died on its own (and note it); sample the projection lag."""
        svc = build_services(self.settings(), create_table=False, migrate=False)
        last_lag = 0.0
        try:
            while not self.stop.wait(0.25):
                for p in self.procs.values():
                    p.restart_if_exited()
                if time.monotonic() - last_lag >= 1:
                    last_lag = time.monotonic()
                    with contextlib.suppress(Exception):
                        self.lag_max = max(self.lag_max, *svc.runner.lag().values())
        finally:
            svc.close()

    def sweeper(self) -> None:
        """Expire abandoned purchases ``expire_after_s`` after their submission (see top)."""
        skew = timedelta(seconds=self.opts.reservation_ttl_s - self.opts.expire_after_s)
        ledger = build_ledger(
            self.settings(aggregate_cache_size=0),
            clock=lambda: utc_now() + skew,
            create_table=False,
        )
        try:
            while not self.stop.wait(0.5):
                now = time.monotonic()
                with self.seen.lock:
                    due = [a for a in self.seen.abandoned if a[0] <= now]
                    self.seen.abandoned = [a for a in self.seen.abandoned if a[0] > now]
                for at, pid in due:
                    try:
                        expired = ledger.expire_purchase(purchase_id=uuid.UUID(pid))
                    except Exception:  # PostgreSQL restarting: try again
                        self.sweeper_stats["errors"] += 1
                        with self.seen.lock:
                            self.seen.abandoned.append((at + 1, pid))
                        continue
                    self.sweeper_stats["expired" if expired else "already_ended"] += 1
        finally:
            ledger.close()

    def drain(self) -> dict[str, bool]:
        """Let the workers catch up: projection lag 0, every outbox row delivered."""
        svc = build_services(self.settings(), create_table=False, migrate=False)
        try:
            deadline = time.monotonic() + self.opts.drain_s
            projected = poll_until(
                lambda: not any(svc.runner.lag().values()), timeout_s=self.opts.drain_s
            )
            outbox = recorder_of(svc.ledger).outbox
            delivered = poll_until(
                lambda: all(r.status == SENT for r in outbox.all()),
                timeout_s=max(1.0, deadline - time.monotonic()),
                every_s=0.5,
            )
            return {"projections": projected, "outbox": delivered}
        finally:
            svc.close()

    # --- the checks ------------------------------------------------------------------

    def check(
        self, *, drained: dict[str, bool], stuck: list[str], api_restored: bool
    ) -> list[Check]:
        svc = build_services(
            self.settings(aggregate_cache_size=0), create_table=False, migrate=False
        )
        checks: list[Check] = []

        def record(name: str, fn: Callable[[], str]) -> None:
            try:
                checks.append(Check(name, True, fn()))
            except AssertionError as e:
                checks.append(Check(name, False, str(e) or "assertion failed"))
            except Exception as e:  # a check that crashes has failed
                checks.append(Check(name, False, f"{type(e).__name__}: {e}"))

        try:
            purchases = self._all_purchases(svc.ledger)
            self.status_counts = Counter(p.status for p in purchases.values())
            record("drained", lambda: self._check_drained(drained, stuck))
            record("conservation", lambda: self._check_conservation(svc))
            record("no_negative_balance", lambda: self._check_no_negative(svc))
            record("reservations_and_transfers", lambda: self._check_holdings(svc, purchases))
            record("acknowledged_exactly_once", lambda: self._check_acknowledged(svc, purchases))
            record("client_outcomes", lambda: self._check_outcomes(purchases))
            record("read_models_equal_replay", lambda: self._check_read_models(svc))
            record("messages", lambda: self._check_messages(svc))
            record("no_unexpected_answers", self._check_answers)
            record("processes", lambda: self._check_processes(api_restored))
            record("faults_happened", self._check_faults)
        finally:
            svc.close()
        return checks

    def _all_purchases(self, ledger: Ledger) -> dict[str, Purchase]:
        topic = get_topic(Purchase.Created)
        ids: list[uuid.UUID] = []
        start = 1
        while True:
            page = ledger.recorder.select_notifications(start=start, limit=1000, topics=[topic])
            ids += [n.originator_id for n in page]  # type: ignore[misc]
            if len(page) < 1000:
                break
            start = page[-1].id + 1
        return {str(i): ledger.get_purchase(i) for i in ids}

    def _check_drained(self, drained: dict[str, bool], stuck: list[str]) -> str:
        assert not stuck, f"clients still running at the end: {stuck}"
        assert drained["projections"], "the projection worker did not catch up"
        assert drained["outbox"], "the outbox was not delivered before the deadline"
        return "clients finished, projections caught up, outbox delivered"

    def _check_conservation(self, svc: Services) -> str:
        for code in self.codes:
            oc = svc.ledger.get_origin_code(code)
            oc.check_invariants()
            total = sum(oc.available.values(), Decimal(0)) + sum(
                (r["quantity"] for r in oc.reservations.values()), Decimal(0)
            )
            assert total == oc.produced == self.produced, (
                f"{code}: available + reserved = {total}, produced {oc.produced}"
            )
        return f"Σ available + reserved = {self.produced} on each of {len(self.codes)} codes"

    def _check_no_negative(self, svc: Services) -> str:
        for code in self.codes:
            oc = svc.ledger.get_origin_code(code)
            negative = {h: q for h, q in oc.available.items() if q < 0}
            assert not negative, f"{code}: negative balances {negative}"
            assert all(r["quantity"] > 0 for r in oc.reservations.values()), code
        rows = queries.all_balances(svc.engine)
        bad = [r for r in rows if r["available"] < 0 or r["reserved"] < 0]
        assert not bad, f"negative rows in the read model: {bad[:3]}"
        return f"{len(rows)} balance rows, none negative"

    def _check_holdings(self, svc: Services, purchases: Mapping[str, Purchase]) -> str:
        pending: dict[str, dict[str, Decimal]] = defaultdict(dict)
        confirmed: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for pid, p in purchases.items():
            for ln in p.lines:
                if p.status == PENDING:
                    pending[ln["origin_code"]][pid] = ln["quantity"]
                elif p.status == CONFIRMED:
                    confirmed[(ln["origin_code"], str(p.buyer_id))] += ln["quantity"]
        for code in self.codes:
            oc = svc.ledger.get_origin_code(code)
            held = {pid: r["quantity"] for pid, r in oc.reservations.items()}
            assert held == pending[code], (
                f"{code}: reservations {len(held)} ≠ pending purchases {len(pending[code])}: "
                f"{set(held) ^ set(pending[code])}"
            )
            sold = Decimal(0)
            for holder, qty in oc.available.items():
                if holder != self.operator:
                    assert qty == confirmed[(code, holder)], (
                        f"{code}: buyer {holder} holds {qty}, confirmed {confirmed[(code, holder)]}"
                    )
                    sold += qty
            expected_seller = self.produced - sold - sum(pending[code].values(), Decimal(0))
            assert oc.available_to(uuid.UUID(self.operator)) == expected_seller, code
        n_pending = sum(len(v) for v in pending.values())
        return (
            f"{n_pending} reservations = pending lines; buyers hold exactly their confirmed lines"
        )

    def _check_acknowledged(self, svc: Services, purchases: Mapping[str, Purchase]) -> str:
        acked = self.seen.purchases
        missing = set(acked) - set(purchases)
        assert not missing, f"acknowledged but absent from the event store: {sorted(missing)[:5]}"
        with svc.engine.connect() as conn:
            per_buyer_rm: dict[str, int] = dict(
                conn.execute(
                    select(t.purchases.c.buyer_id, func.count()).group_by(t.purchases.c.buyer_id)
                ).all()
            )
            rm_ids = {r[0] for r in conn.execute(select(t.purchases.c.id))}
        assert rm_ids == set(purchases), "read model and event store disagree on purchases"
        per_buyer_es = Counter(str(p.buyer_id) for p in purchases.values())
        per_buyer_ack = Counter(p.buyer for p in acked.values())
        extra = 0
        for buyer in set(per_buyer_es) | set(per_buyer_rm) | set(per_buyer_ack):
            assert buyer in self.buyers, f"purchase of an unknown buyer {buyer}"
            surplus = per_buyer_rm.get(buyer, 0) - per_buyer_ack[buyer]
            assert per_buyer_es[buyer] == per_buyer_rm.get(buyer, 0), buyer
            assert 0 <= surplus <= self.seen.creates_given_up[buyer], (
                f"buyer {buyer}: {per_buyer_rm.get(buyer, 0)} purchases, "
                f"{per_buyer_ack[buyer]} acknowledged, "
                f"{self.seen.creates_given_up[buyer]} creates given up"
            )
            extra += surplus
        return f"{len(acked)} acknowledged, each once; {extra} from creates given up"

    def _check_outcomes(self, purchases: Mapping[str, Purchase]) -> str:
        wrong = []
        known = 0
        for pid, tr in self.seen.purchases.items():
            if tr.expected is None:
                continue
            known += 1
            if purchases[pid].status not in tr.expected:
                wrong.append(f"{pid} ({tr.scenario}): {purchases[pid].status} ∉ {set(tr.expected)}")
        assert not wrong, f"{len(wrong)} outcomes differ from what clients were told: {wrong[:5]}"
        return f"{known} outcomes as told ({len(self.seen.purchases) - known} unknown: gave up)"

    def _check_read_models(self, svc: Services) -> str:
        svc.runner.catch_up()
        assert_balances_match_aggregates(svc, self.codes)
        assert_equals_fresh_replay(svc)
        return "balances = aggregates; every read model = a fresh replay"

    def _check_messages(self, svc: Services) -> str:
        rows: list[OutboxRow] = list(recorder_of(svc.ledger).outbox.all())
        unsent = [r.key for r in rows if r.status != SENT]
        assert not unsent, f"{len(unsent)} outbox rows not delivered: {unsent[:5]}"
        email_rows = {r.key for r in rows if r.channel == "email"}
        sms_rows = [r for r in rows if r.channel == "sms"]
        mails = self.smtp.messages
        per_key = Counter(m.key for m in mails)
        assert set(per_key) == email_rows, (
            f"e-mail lost: {sorted(email_rows - set(per_key))[:5]}; "
            f"foreign: {sorted(set(per_key) - email_rows)[:5]}"
        )
        ids: defaultdict[str, set[str]] = defaultdict(set)
        for m in mails:
            ids[m.key].add(str(m.message["Message-ID"]))
        assert all(len(v) == 1 for v in ids.values()), "a duplicate e-mail changed Message-ID"
        sms = self.twilio.received()
        sids = {s.sid for s in sms}
        lost = [r.key for r in sms_rows if r.provider_ref not in sids]
        assert not lost, f"SMS marked sent but never received: {lost[:5]}"
        per_body = Counter((s.to, s.body) for s in sms)
        self.duplicates = {
            "email": len(mails) - len(per_key),
            "sms_by_ref": len(sms) - len(sms_rows),
            "sms_by_body": len(sms) - len(per_body),
        }
        self.duplicate_bound = self.procs["notify"].kills + self.pg_restarts
        dups = self.duplicates["email"] + max(
            self.duplicates["sms_by_ref"], self.duplicates["sms_by_body"]
        )
        assert dups <= self.duplicate_bound, (
            f"{dups} duplicates > {self.duplicate_bound} (notification worker kills + PG restarts)"
        )
        assert len(per_body) == len(sms_rows), "SMS by body + recipient ≠ SMS rows"
        return (
            f"{len(rows)} rows delivered ({len(email_rows)} e-mail, {len(sms_rows)} SMS); "
            f"{dups} duplicates ≤ {self.duplicate_bound}"
        )

    def _check_answers(self) -> str:
        a = self.seen.anomalies
        assert not a, f"{len(a)} unexpected answers: {a[:5]}"
        return f"{sum(self.seen.refusals.values())} refusals, all expected"

    def _check_processes(self, api_restored: bool) -> str:
        assert api_restored, "uvicorn did not get back to its workers"
        exits = {n: p.unexpected_exits for n, p in self.procs.items() if p.unexpected_exits}
        assert not exits, f"processes exited on their own: {exits}"
        return f"uvicorn back to {self.opts.workers} workers; no process died on its own"

    def _check_faults(self) -> str:
        kills = self.kills()
        quiet = [k for k in KILL_KINDS if kills[k] == 0]
        # A very short run may not reach every kind; it must reach the PG restart if asked.
        if self.opts.seconds >= 3 * self.opts.kill_every * 1.3:
            assert not quiet, f"never killed: {quiet}"
        if self.opts.pg_restart_at < 1:
            assert self.pg_restarts == 1, "PostgreSQL was not restarted"
        assert self.seen.purchases, "no purchase was acknowledged"
        return f"kills {kills}, PostgreSQL restarts {self.pg_restarts}"

    # --- the report ------------------------------------------------------------------

    def kills(self) -> dict[str, int]:
        return {k: self.procs[k].kills for k in KILL_KINDS} if self.procs else {}

    def report(self, checks: list[Check]) -> dict[str, Any]:
        s = self.seen
        restore = self.api_restore_s
        return {
            "options": asdict(self.opts),
            "cores": os.cpu_count(),
            "load_seconds": round(self.elapsed_s, 1),
            "purchases": {
                "acknowledged": len(s.purchases),
                "by_status": dict(sorted(self.status_counts.items())),
                "scenarios": dict(sorted(s.scenarios.items())),
                "late_validations": dict(s.late_validations),
                "expired_by_sweep": self.sweeper_stats["expired"],
            },
            "kills": self.kills(),
            "api_kills_skipped": self.api_kills_skipped,
            "api_worker_restore_s": {
                "max": round(max(restore), 2) if restore else None,
                "mean": round(sum(restore) / len(restore), 2) if restore else None,
            },
            "pg_restarts": self.pg_restarts,
            "pg_restart_mode": self.opts.pg_restart_mode,
            "pg_downtime_s": round(self.pg_downtime_s, 2),
            "http_errors": dict(s.http_errors.most_common()),
            "refusals": dict(s.refusals.most_common()),
            "answers_after_retry": s.answers_after_retry,
            "answers_lost_by_proxy": len(self.proxy.dropped) if self.proxy else 0,
            "gave_up": dict(s.gave_up),
            "creates_given_up": sum(s.creates_given_up.values()),
            "logins": s.logins,
            "projection_lag_max": self.lag_max,
            "messages": {
                "sms": len(self.twilio.received()),
                "email": len(self.smtp.messages),
                "duplicates": self.duplicates,
                "duplicate_bound": self.duplicate_bound,
            },
            "sweeper": dict(self.sweeper_stats),
            "unexpected_exits": {n: p.unexpected_exits for n, p in self.procs.items()},
            "anomalies": s.anomalies[:20],
            "checks": [asdict(c) for c in checks],
            "ok": bool(checks) and all(c.ok for c in checks),
        }

    def close(self, *, keep: bool) -> None:
        for p in self.procs.values():
            with contextlib.suppress(Exception):
                p.stop(timeout_s=5)
        if self.proxy is not None:
            self.proxy.stop()
        self.smtp.stop()
        self.twilio.stop()
        if self.pg is not None:
            if keep:
                with contextlib.suppress(Exception):
                    self.pg.stop("fast")
            else:
                self.pg.destroy()
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --- a client ---------------------------------------------------------------------------


class Client(threading.Thread):
    """One buyer's user, buying over HTTP until the load phase is over."""

    def __init__(self, h: Harness, i: int) -> None:
        super().__init__(name=f"cliente{i:02d}", daemon=True)
        self.h = h
        self.seen = h.seen
        self.username = f"cliente{i:02d}"
        self.buyer = h.buyers[i]
        self.rnd = random.Random(h.opts.seed * 1000 + i)
        self.auth: dict[str, str] = {}
        self.late: list[tuple[float, Tracked]] = []
        self.http = httpx.Client(base_url=h.base_url, timeout=15)

    def run(self) -> None:
        try:
            self.login()
            while time.monotonic() < self.h.load_until:
                self.late_validations()
                scenario = self.rnd.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
                self.seen.count("scenarios", scenario)
                self.purchase(scenario)
            for _ in self.late:  # the load is over: the sweep gets these
                self.seen.count("late_validations", "not attempted")
        except Exception:  # a crashed client is a harness bug: show it
            with self.seen.lock:
                self.seen.anomalies.append(f"{self.name} crashed: {traceback.format_exc()[-800:]}")
        finally:
            self.http.close()

    # --- HTTP with retries ---------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        step: str,
        expect: Mapping[int, str | None],
        body: Any = None,
        keyed: bool = True,
    ) -> httpx.Response:
        """Send until an expected answer; retry with the same key on errors and 5xx."""
        headers = dict(self.auth)
        if keyed:
            headers["Idempotency-Key"] = f"{self.username}-{uuid.uuid4().hex}"
        deadline = time.monotonic() + self.h.opts.request_deadline_s
        delay = 0.05
        retried = False
        while True:
            wait = delay
            with self.seen.lock:
                self.seen.in_flight += 1
            try:
                r = self.http.request(method, path, json=body, headers=headers)
            except httpx.TimeoutException:
                label = "timeout"
            except httpx.TransportError:
                label = "connection"
            else:
                code = problem_code(r)
                if r.status_code in expect and expect[r.status_code] in (None, code):
                    if r.status_code >= 400:
                        self.seen.count("refusals", f"{r.status_code} {code} ({step})")
                    if retried:
                        with self.seen.lock:
                            self.seen.answers_after_retry += 1
                    return r
                if r.status_code not in RETRY_STATUSES and code != "concurrency_conflict":
                    raise UnexpectedAnswerError(f"{step}: {r.status_code} {r.text[:300]}")
                label = f"{r.status_code} {code}" if code else str(r.status_code)
                with contextlib.suppress(ValueError):
                    wait = max(delay, min(MAX_BACKOFF_S, float(r.headers.get("Retry-After", 0))))
            finally:
                with self.seen.lock:
                    self.seen.in_flight -= 1
            self.seen.count("http_errors", label)
            retried = True
            if time.monotonic() + wait > deadline:
                raise GaveUpError(step)
            time.sleep(wait)  # back-off before the retry
            delay = min(MAX_BACKOFF_S, delay * 2)

    def login(self) -> None:
        for _ in range(10):
            try:
                r = self.call(
                    "POST",
                    "/api/v1/auth/login",
                    step="login",
                    expect={200: None},
                    body={"username": self.username, "password": PASSWORD},
                    keyed=False,
                )
                attempt = r.json()["attempt_id"]
                self.call(
                    "POST",
                    f"/api/v1/auth/login/{attempt}/code",
                    step="login code",
                    expect={202: None},
                    body={"channel": "email"},
                    keyed=False,
                )
                _, code = self.h.mailbox.wait_code(attempt, after_version=0, timeout_s=60)
                r = self.call(
                    "POST",
                    f"/api/v1/auth/login/{attempt}/verify",
                    step="login verify",
                    expect={200: None, 401: None},
                    body={"code": code},
                    keyed=False,
                )
                if r.status_code == 200:
                    self.auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
                    with self.seen.lock:
                        self.seen.logins += 1
                    return
            except (GaveUpError, UnexpectedAnswerError):
                continue
        raise RuntimeError(f"{self.username} could not log in")

    # --- purchases -----------------------------------------------------------------

    def transaction(self) -> dict[str, str]:
        today = today_in_colombia(datetime.now().astimezone())
        return {
            "invoice_date": (today - timedelta(days=2)).isoformat(),
            "transaction_date": (today - timedelta(days=1)).isoformat(),
            "sha256": "ab" * 32,
            "currency": "COP",
            "department_code": "05",
            "municipality_code": "05001",
        }

    def lines(self) -> list[dict[str, str]]:
        n = 2 if self.rnd.random() < 0.3 else 1
        codes = self.rnd.sample(self.h.codes, min(n, len(self.h.codes)))
        return [
            {
                "origin_code": c,
                "quantity": f"{self.rnd.randint(100, 2000) / 100:.2f}",
                "unit_price": self.h.next_price(),
            }
            for c in codes
        ]

    def purchase(self, scenario: str) -> None:
        seller = {
            "expediente": EXPEDIENTE,
            "doc_type": "NIT",
            "doc_number": SELLER_NIT,
            "razon_social": SELLER_NAME,
        }
        try:
            r = self.call(
                "POST",
                "/api/v1/purchases",
                step="create",
                expect={201: None},
                body={"seller": seller, "transaction": self.transaction()},
            )
        except GaveUpError:
            self.seen.count("creates_given_up", self.buyer)
            self.seen.count("gave_up", "create")
            return
        except UnexpectedAnswerError as e:
            self.anomaly(str(e))
            return
        tr = Tracked(id=str(r.json()["id"]), buyer=self.buyer, scenario=scenario)
        with self.seen.lock:
            self.seen.purchases[tr.id] = tr
        try:
            self.steps(tr, scenario)
        except GaveUpError as e:
            tr.expected = None
            self.seen.count("gave_up", str(e).split(" ")[0])
        except UnexpectedAnswerError as e:
            tr.expected = None
            self.anomaly(str(e))

    def anomaly(self, text: str) -> None:
        with self.seen.lock:
            self.seen.anomalies.append(f"{self.username}: {text}")

    def told(self, tr: Tracked, r: httpx.Response) -> None:
        tr.expected = frozenset({str(r.json()["status"])})

    def steps(self, tr: Tracked, scenario: str) -> None:
        base = f"/api/v1/purchases/{tr.id}"
        ok = {200: None}
        self.told(
            tr,
            self.call(
                "PUT", base + "/lines", step="lines", expect=ok, body={"lines": self.lines()}
            ),
        )
        if self.rnd.random() < 0.3:
            self.told(tr, self.call("POST", base + "/save", step="save", expect=ok))
        if scenario == "cancel_draft":
            self.told(tr, self.call("POST", base + "/cancel", step="cancel", expect=ok))
            return
        self.told(tr, self.call("POST", base + "/submit", step="submit", expect={202: None}))
        tr.code_version, tr.code = self.h.mailbox.wait_code(tr.id, after_version=0, timeout_s=60)
        if scenario == "cancel_pending":
            self.told(tr, self.call("POST", base + "/cancel", step="cancel", expect=ok))
        elif scenario == "abandon":
            tr.expected = frozenset({PENDING, EXPIRED})
            due = time.monotonic() + self.h.opts.expire_after_s
            with self.seen.lock:
                self.seen.abandoned.append((due, tr.id))
            if self.rnd.random() < 1 / 3:  # come back at about the moment it expires
                self.late.append((due + self.rnd.uniform(-1.0, 1.0), tr))
        elif scenario == "lock":
            wrong = {422: "invalid_code"}
            for _ in range(4):
                self.validate(tr, self.wrong(tr.code), step="wrong code", expect=wrong)
            self.validate(
                tr, self.wrong(tr.code), step="5th wrong code", expect={409: "purchase_locked"}
            )
            tr.expected = frozenset({LOCKED})
        else:
            if scenario == "wrong_then_right":
                self.validate(
                    tr, self.wrong(tr.code), step="wrong code", expect={422: "invalid_code"}
                )
            if scenario == "resend":
                old = tr.code
                self.call("POST", base + "/resend-code", step="resend", expect={202: None})
                tr.code_version, tr.code = self.h.mailbox.wait_code(
                    tr.id, after_version=tr.code_version, timeout_s=60
                )
                if old != tr.code:  # (one chance in a million that they are equal)
                    self.validate(tr, old, step="old code", expect={422: "invalid_code"})
            self.told(tr, self.validate(tr, tr.code, step="validate", expect=ok))

    def validate(
        self, tr: Tracked, code: str, *, step: str, expect: Mapping[int, str | None]
    ) -> httpx.Response:
        return self.call(
            "POST",
            f"/api/v1/purchases/{tr.id}/validate",
            step=step,
            expect=expect,
            body={"code": code},
        )

    @staticmethod
    def wrong(code: str) -> str:
        return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"

    def late_validations(self) -> None:
        now = time.monotonic()
        due = [x for x in self.late if x[0] <= now]
        self.late = [x for x in self.late if x[0] > now]
        for _, tr in due:
            assert tr.code is not None
            try:
                r = self.validate(
                    tr, tr.code, step="late validate", expect={200: None, 409: "wrong_state"}
                )
            except GaveUpError:
                tr.expected = None
                self.seen.count("gave_up", "late")
                continue
            except UnexpectedAnswerError as e:
                tr.expected = None
                self.anomaly(str(e))
                continue
            won = r.status_code == 200
            tr.expected = frozenset({CONFIRMED} if won else {EXPIRED})
            self.seen.count("late_validations", "confirmed" if won else "expired first")


# --- entry point ------------------------------------------------------------------------


def print_summary(rep: dict[str, Any]) -> None:
    o = rep["options"]
    p = rep["purchases"]
    print(
        f"\nPTM Ledger fault harness — {rep['cores']} cores, {o['clients']} clients, "
        f"{rep['load_seconds']} s of load, {o['workers']} API workers, "
        f"{o['hot_codes']} hot origin codes, a kill every ~{o['kill_every']} s"
    )
    st = p["by_status"]
    print(
        f"  purchases   acknowledged {p['acknowledged']}: "
        + ", ".join(f"{k} {v}" for k, v in st.items())
        + f"  (expired by the sweep {p['expired_by_sweep']}; late validations "
        f"{p['late_validations'] or '{}'})"
    )
    restore = rep["api_worker_restore_s"]
    print(
        "  kills       "
        + ", ".join(f"{k} {v}" for k, v in rep["kills"].items())
        + f"  (uvicorn back in ≤ {restore['max']} s, mean {restore['mean']} s)"
    )
    print(
        f"  PostgreSQL  restarts {rep['pg_restarts']} ({rep['pg_restart_mode']}, "
        f"{rep['pg_downtime_s']} s down)"
    )
    errors = rep["http_errors"]
    print(
        "  HTTP errors "
        + (", ".join(f"{k}: {v}" for k, v in errors.items()) or "none")
        + f"  ({rep['answers_lost_by_proxy']} answers lost after the commit by the proxy)"
        + f"  → {rep['answers_after_retry']} answers after a retry, gave up {rep['gave_up'] or 0}"
    )
    print("  refusals    " + (", ".join(f"{k}: {v}" for k, v in rep["refusals"].items()) or "none"))
    m = rep["messages"]
    print(
        f"  messages    {m['email']} e-mails, {m['sms']} SMS received; duplicates "
        f"{m['duplicates']} (bound {m['duplicate_bound']}); projection lag max "
        f"{rep['projection_lag_max']} events"
    )
    print("  checks")
    for c in rep["checks"]:
        print(f"    [{'ok' if c['ok'] else 'FAILED'}] {c['name']}: {c['detail']}")
    print("PASSED" if rep["ok"] else "FAILED")


def parse_args(argv: list[str] | None) -> Options:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="load phase (s)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--kill-every", type=float, default=5.0, help="mean seconds between kills")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers (≥ 2)")
    ap.add_argument("--hot-codes", type=int, default=3)
    ap.add_argument("--expire-after", type=float, default=10.0, help="see Expiries above")
    ap.add_argument("--pg-restart-at", type=float, default=0.5, help="fraction of the run")
    ap.add_argument("--pg-restart-mode", choices=["immediate", "fast"], default="immediate")
    ap.add_argument("--pg-outage", type=float, default=2.0, help="seconds PostgreSQL stays down")
    ap.add_argument(
        "--lose-answers",
        type=float,
        default=0.03,
        help="fraction of answers to keyed requests the proxy loses after the commit",
    )
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--json", default=str(ROOT / "var" / "bench" / "faults.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory and logs")
    a = ap.parse_args(argv)
    return Options(
        seconds=a.seconds,
        clients=a.clients,
        kill_every=a.kill_every,
        workers=a.workers,
        hot_codes=a.hot_codes,
        expire_after_s=a.expire_after,
        pg_restart_at=a.pg_restart_at,
        pg_restart_mode=a.pg_restart_mode,
        pg_outage_s=a.pg_outage,
        lose_answers=a.lose_answers,
        seed=a.seed,
        json_path=a.json,
        keep=a.keep,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    h = Harness(opts)
    try:
        print(f"… setting up in {h.tmp}", file=sys.stderr, flush=True)
        checks = h.run()
    except SetupError as e:
        print(f"fault harness: cannot set up: {e}", file=sys.stderr)
        h.close(keep=opts.keep)
        return 2
    except BaseException:
        h.close(keep=True)
        print(
            f"fault harness crashed; logs kept in {h.tmp} "
            f"(PostgreSQL data in {h.pg.dir if h.pg else '-'})",
            file=sys.stderr,
        )
        raise
    rep = h.report(checks)
    keep = opts.keep or not rep["ok"]
    h.close(keep=keep)
    print_summary(rep)
    if keep:
        print(f"logs kept in {h.tmp} (PostgreSQL data in {h.pg.dir if h.pg else '-'})")
    if opts.json_path:
        path = Path(opts.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rep, indent=2, default=str))
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
