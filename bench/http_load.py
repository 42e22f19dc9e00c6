"""HTTP benchmark on PostgreSQL (issues 3 and 5).

Starts the API (``ptm serve --workers N``) and a projection worker (``ptm projections
run``) as real processes on 127.0.0.1, then drives whole purchases with C concurrent
clients (create → lines → submit → validate, each on its own origin code), for T
seconds per API configuration. Prints confirmed purchases/s, p50/p99 of every step, and
the p99 of the projection lag (events behind head, sampled from /health) during the load.

    python bench/http_load.py [--seconds 15] [--clients 16] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.storage.recorder import recorder_of  # noqa: E402
from api.security import PasswordHasher, ScryptParams  # noqa: E402
from ledger.purchase import CONFIRMED  # noqa: E402
from ledger.usecases.identity import Identity  # noqa: E402
from ptm.bootstrap import build_services  # noqa: E402
from ptm.settings import Settings  # noqa: E402
from testkit.net import free_port  # noqa: E402
from testkit.world import make_world  # noqa: E402

DEFAULT_URL = os.environ.get("PTM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "Clave-De-Benchmark-Larga"
STEPS = ("create", "lines", "submit", "validate")


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1)))]


class Bench:
    """One PostgreSQL schema, seeded, with the API and projection processes around it."""

    def __init__(self, url: str, clients: int) -> None:
        self.schema = "bench_http_" + uuid.uuid4().hex[:8]
        with psycopg.connect(url, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{self.schema}"')
        self.pg = url
        self.url = f"{url}?schema={self.schema}"
        self.tmp = Path(tempfile.mkdtemp(prefix="ptm-bench-"))
        self.env = {
            **os.environ,
            "PTM_DATABASE_URL": self.url,
            "PTM_ENV": "test",
            "PTM_VAR_DIR": str(self.tmp),
            "PTM_CODE_HMAC_KEY": "k" * 32,
            "PTM_SESSION_KEY": "s" * 32,
            "PTM_STATEMENT_KEY": "t" * 32,
            "PTM_SIGNING_KEY_SEED": "e" * 64,
            "PTM_OUTBOX_DIR": str(self.tmp / "outbox"),
            "PTM_POSTGRES_POOL_SIZE": "20",
            # Every client submits to the one seller: its message cap raised, not off.
            "PTM_GUARD_SELLER_MESSAGES": "10000000",
        }
        settings = Settings(
            env="test",
            database_url=self.url,
            var_dir=self.tmp,
            code_hmac_key="k" * 32,
            session_key="s" * 32,
        )  # type: ignore[arg-type]
        self.services = build_services(settings)
        app = self.services.ledger
        self.world = make_world(app, quantities=tuple("100000000" for _ in range(clients)))
        hasher = PasswordHasher(ScryptParams(log2_n=12))
        identity = Identity(app, _Creds(hasher), session_key=b"s" * 32)
        self.users = []
        for i in range(clients):
            name = f"carga{i:02d}"
            identity.register_user(
                username=name,
                name=name,
                email=f"{name}@x.co",
                mobile="+573001234567",
                role="buyer",
                organisation_id=self.world.buyer,
                password_hash=hasher.hash(PASSWORD),
                actor="bench",
            )
            self.users.append(name)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, workers: int) -> str:
        port = free_port()
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ptm.cli",
                    "serve",
                    "--workers",
                    str(workers),
                    "--port",
                    str(port),
                    "--quiet",
                ],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen(
                [sys.executable, "-m", "ptm.cli", "projections", "run"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        ]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("API did not start")

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    def code_for(self, aggregate: str, template: str) -> str:
        rows = [
            r
            for r in recorder_of(self.services.ledger).outbox.caused_by(aggregate)
            if r.template == template
        ]
        return str(rows[-1].params["code"])

    def login(self, client: httpx.Client, username: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        attempt = r.json()["attempt_id"]
        client.post(f"/api/v1/auth/login/{attempt}/code", json={"channel": "email"})
        code = self.code_for(attempt, "login_code")
        r = client.post(f"/api/v1/auth/login/{attempt}/verify", json={"code": code})
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def close(self) -> None:
        self.services.close()
        with psycopg.connect(self.pg, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


class _Creds:
    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    def verify_password(self, password: str, hashed: str) -> bool:
        return self.hasher.verify(password, hashed)

    def dummy_verify(self) -> None:
        self.hasher.dummy_verify()

    def verify_totp(self, sealed_secret: str, code: str, now: Any) -> int | None:
        return None


def run(bench: Bench, workers: int, clients: int, seconds: float) -> dict[str, Any]:
    base = bench.start(workers)
    w = bench.world
    lat: dict[str, list[float]] = {s: [] for s in STEPS}
    done = [0] * clients
    errors: list[str] = []
    lags: list[int] = []
    stop = threading.Event()

    def client_loop(i: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            headers = bench.login(c, bench.users[i])
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                t = time.perf_counter()
                r = c.post(
                    "/api/v1/purchases",
                    headers=headers,
                    json={
                        "seller": w.seller_ref(),
                        "transaction": {k: str(v) for k, v in w.transaction().items()},
                    },
                )
                if r.status_code != 201:
                    errors.append(r.text[:200])
                    continue
                pid = r.json()["id"]
                lat["create"].append(time.perf_counter() - t)
                t = time.perf_counter()
                c.put(
                    f"/api/v1/purchases/{pid}/lines",
                    headers=headers,
                    json={
                        "lines": [
                            {"origin_code": w.codes[i], "quantity": "1", "unit_price": "250000"}
                        ]
                    },
                )
                lat["lines"].append(time.perf_counter() - t)
                t = time.perf_counter()
                r = c.post(f"/api/v1/purchases/{pid}/submit", headers=headers)
                lat["submit"].append(time.perf_counter() - t)
                code = bench.code_for(pid, "acceptance_code")
                t = time.perf_counter()
                r = c.post(
                    f"/api/v1/purchases/{pid}/validate", headers=headers, json={"code": code}
                )
                lat["validate"].append(time.perf_counter() - t)
                if r.status_code == 200 and r.json()["status"] == CONFIRMED:
                    done[i] += 1
                else:
                    errors.append(r.text[:200])

    def sample_lag() -> None:
        with httpx.Client(base_url=base, timeout=5) as c:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    lags.append(max(c.get("/health").json()["projection_lag"].values()))
                stop.wait(0.1)

    sampler = threading.Thread(target=sample_lag, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    stop.set()
    sampler.join()
    bench.stop()
    return {
        "workers": workers,
        "clients": clients,
        "seconds": round(elapsed, 1),
        "purchases": sum(done),
        "purchases_per_s": sum(done) / elapsed,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "latency_ms": {
            s: {
                "p50": 1000 * statistics.median(v) if v else None,
                "p99": 1000 * percentile(v, 0.99),
            }
            for s, v in lat.items()
        },
        "projection_lag_p99": percentile([float(x) for x in lags], 0.99),
        "projection_lag_max": max(lags) if lags else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default=DEFAULT_URL)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", default=str(ROOT / "var" / "bench" / "http.json"))
    args = ap.parse_args()
    rows = []
    for workers in args.workers:
        print(f"… API with {workers} worker(s), {args.clients} clients", file=sys.stderr)
        bench = Bench(args.url, args.clients)
        try:
            rows.append(run(bench, workers, args.clients, args.seconds))
        finally:
            bench.close()
    print(
        f"\nPTM Ledger over HTTP on PostgreSQL — {os.cpu_count()} cores, "
        f"{args.clients} clients, {args.seconds:.0f} s per run"
    )
    head = (
        f"{'API workers':<12}{'purchases/s':>12}"
        + "".join(f"{s + ' p50/p99 ms':>22}" for s in STEPS)
        + f"{'lag p99 ev':>12}{'errors':>8}"
    )
    print(head)
    for r in rows:
        cells = "".join(
            f"{r['latency_ms'][s]['p50']:>10.1f} / {r['latency_ms'][s]['p99']:<9.1f}" for s in STEPS
        )
        print(
            f"{r['workers']:<12}{r['purchases_per_s']:>12.1f}{cells}"
            f"{r['projection_lag_p99']:>12.0f}{r['errors']:>8}"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"cores": os.cpu_count(), "runs": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
