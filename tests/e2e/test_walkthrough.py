"""The README's curl walkthrough, run as written against a live ``ptm serve --demo`` on
the embedded default: if the README lies, this fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from testkit.net import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_readme_walkthrough(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PTM_VAR_DIR": str(tmp_path / "var"),
        "PTM_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ptm.sqlite3'}",
        "PTM_OUTBOX_DIR": str(tmp_path / "var" / "outbox"),
        "PTM_ENV": "development",
        "PTM": str(Path(sys.executable).parent / "ptm"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "ptm.cli", "serve", "--demo", "--port", str(port), "--quiet"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        out = subprocess.run(
            ["bash", "docs/walkthrough.sh", base],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert '"available": "125.50"' in out.stdout
        assert "OC-ORO-DEMO-0001" in out.stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
