"""Dependencies point one way, and every package's imports are checked against it.

    kernel  ←  ledger, royalties  ←  audit, projections, notifications  ←  adapters
            ←  api  ←  ptm (settings, bootstrap, CLI, workers)

A package may import its own layer's neighbours only where :data:`SIDEWAYS` says so,
and any package of an inner layer. Nothing imports an entry point or the composition
root; neither the product nor ``bench/`` imports ``tests/``. The domains and the kernel
also stay free of HTTP, SQL, SMTP and settings.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Each project package and its layer, innermost first.
LAYER = {
    "kernel": 0,
    "ledger": 1,
    "royalties": 1,
    "audit": 2,
    "projections": 2,
    "notifications": 2,
    "adapters": 3,
    "api": 4,
    "ptm": 5,
}
#: Imports within one layer that are allowed (importer → imported).
SIDEWAYS = {"audit": {"projections"}}
#: Code that is not shipped: what each may import of the project.
OUTSIDE = {
    "alembic": set(LAYER),  # the migrations read settings and tables like the CLI
    "testkit": set(LAYER),
    "bench": set(LAYER) | {"testkit"},
    "scripts": set(LAYER) | {"testkit"},
}
PROJECT = set(LAYER) | set(OUTSIDE) | {"tests"}
#: What project code can import by name (``import alembic`` is the library: the folder
#: of our migrations is no package of that name).
IMPORTABLE = set(LAYER) | {"testkit", "tests"}

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
    "socket",
}
ALLOWED_EVENTSOURCING = {
    "eventsourcing.domain",
    "eventsourcing.application",
    "eventsourcing.persistence",
    "eventsourcing.utils",
}
#: Only the composition root reads settings or starts a server.
FORBIDDEN_OUTSIDE_ROOT = {"pydantic_settings", "uvicorn"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if ".venv" not in p.parts)


def test_every_top_level_package_has_a_place() -> None:
    packages = {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.py"))
    }
    assert packages <= PROJECT, f"packages without a layer: {sorted(packages - PROJECT)}"
    assert set(LAYER) <= packages


@pytest.mark.parametrize("package", sorted(LAYER))
def test_dependencies_point_inwards(package: str) -> None:
    files = python_files(package)
    assert files, f"{package} has no modules"
    mine = LAYER[package]
    bad = []
    for f in files:
        for name in imports_of(f):
            top = name.split(".")[0]
            if top not in IMPORTABLE or top == package:
                continue
            theirs = LAYER.get(top)
            ok = theirs is not None and (
                theirs < mine or (theirs == mine and top in SIDEWAYS.get(package, set()))
            )
            if not ok:
                bad.append(f"{f.relative_to(ROOT)} imports {name}")
    assert bad == []


@pytest.mark.parametrize("package", sorted(OUTSIDE))
def test_unshipped_code_never_imports_tests(package: str) -> None:
    bad = [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in python_files(package)
        for name in imports_of(f)
        if name.split(".")[0] in IMPORTABLE
        and name.split(".")[0] not in OUTSIDE[package] | {package}
    ]
    assert bad == []


@pytest.mark.parametrize("package", ["kernel", "ledger", "royalties"])
def test_domain_imports_no_edges(package: str) -> None:
    files = python_files(package)
    assert files, f"{package} has no modules"
    for f in files:
        for name in imports_of(f):
            top = name.split(".")[0]
            assert top not in FORBIDDEN_IN_DOMAIN, f"{f.relative_to(ROOT)} imports {name}"
            if top == "eventsourcing":
                assert name in ALLOWED_EVENTSOURCING, f"{f.relative_to(ROOT)} imports {name}"


def test_kernel_needs_only_the_standard_library_and_eventsourcing() -> None:
    for f in python_files("kernel"):
        for name in imports_of(f):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in ("kernel", "eventsourcing"), (
                f"{f.relative_to(ROOT)} imports {name}"
            )


def test_the_domains_do_not_know_each_other() -> None:
    for a, b in (("ledger", "royalties"), ("royalties", "ledger")):
        for f in python_files(a):
            for name in imports_of(f):
                assert name.split(".")[0] != b, f"{f.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("package", sorted(p for p in LAYER if p != "ptm"))
def test_settings_and_servers_only_in_the_composition_root(package: str) -> None:
    for f in python_files(package):
        for name in imports_of(f):
            assert name.split(".")[0] not in FORBIDDEN_OUTSIDE_ROOT, (
                f"{f.relative_to(ROOT)} imports {name}"
            )


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rule would catch an arrow that runs back up (so a pass means something)."""
    f = tmp_path / "m.py"
    f.write_text("from ptm.bootstrap import Services\nimport api.context\n", encoding="utf-8")
    assert imports_of(f) == {"ptm.bootstrap", "api.context"}
    assert all(LAYER[n.split(".")[0]] > LAYER["ledger"] for n in imports_of(f))
