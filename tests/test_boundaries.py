"""The domain stays free of HTTP, SQL, SMTP and settings; nothing imports the API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_DOMAIN = {
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "psycopg",
    "psycopg_pool",
    "sqlite3",
    "sqlalchemy",
    "alembic",
    "smtplib",
    "email",
    "twilio",
    "aiosmtpd",
    "pydantic",
    "pydantic_settings",
    "api",
    "ptm",
    "projections",
    "notifications",
    "socket",
}
ALLOWED_EVENTSOURCING = {
    "eventsourcing.domain",
    "eventsourcing.application",
    "eventsourcing.persistence",
    "eventsourcing.utils",
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["ledger", "royalties"])
def test_domain_imports_no_edges(package: str) -> None:
    files = list((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    for f in files:
        for name in imports_of(f):
            top = name.split(".")[0]
            assert top not in FORBIDDEN_IN_DOMAIN, f"{f.relative_to(ROOT)} imports {name}"
            if top == "eventsourcing":
                assert name in ALLOWED_EVENTSOURCING, f"{f.relative_to(ROOT)} imports {name}"


def test_nothing_imports_api() -> None:
    for package in ("ledger", "royalties", "projections", "notifications", "ptm"):
        for f in (ROOT / package).rglob("*.py"):
            if package == "ptm" and f.name in ("cli.py", "server.py"):
                continue  # the entry points start the API
            for name in imports_of(f):
                assert name.split(".")[0] != "api", f"{f.relative_to(ROOT)} imports {name}"
