"""Dependencies point one way, and every package's imports are checked against it.

    kernel  ←  ledger, royalties  ←  audit, projections, notifications  ←  adapters
            ←  api  ←  ptm (composition root: settings, bootstrap; entry points: CLI,
                           server, workers)

A package may import any package of an inner layer, and its own layer's neighbours only
where :data:`SIDEWAYS` says so. Inside ``ptm/`` the composition root imports no entry
point, and only the process entry points import the composition root
(:data:`PTM_IMPORTERS`); only the composition root imports the adapters, and only it and
the two processes that serve HTTP import the API. Neither the product nor ``bench/``
imports ``tests/``. The kernel and the domains stay free of HTTP, SQL, SMTP and settings.
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
#: Code that no product module imports, and what each may import of the project. The
#: migrations (shipped as ``ptm_migrations``, run by alembic) read the settings and the
#: tables like the CLI does; the rest is not shipped.
OUTSIDE = {
    "alembic": set(LAYER),
    "testkit": set(LAYER),
    "bench": set(LAYER) | {"testkit"},
    "scripts": set(LAYER) | {"testkit"},
}
PROJECT = set(LAYER) | set(OUTSIDE) | {"tests"}
#: What project code can import by name (``import alembic`` is the library: the folder
#: of our migrations is importable only as ``ptm_migrations``).
IMPORTABLE = set(LAYER) | {"testkit", "tests", "bench", "scripts", "ptm_migrations"}

#: The composition root: the only modules that know the settings object's wiring and the
#: concrete adapters.
COMPOSITION_ROOT = {"ptm.settings", "ptm.bootstrap", "ptm.royalties_wiring"}
#: Each module of ``ptm/`` and the ``ptm`` modules allowed to import it.
PTM_IMPORTERS = {
    "ptm.settings": {"ptm.bootstrap", "ptm.royalties_wiring", "ptm.cli", "ptm.server"}
    | {"ptm.audit_cli"},
    "ptm.bootstrap": {"ptm.cli", "ptm.server", "ptm.audit_cli"},
    "ptm.royalties_wiring": {"ptm.bootstrap"},
    "ptm.cli": set(),
    "ptm.server": {"ptm.cli"},
    "ptm.sweeper": {"ptm.cli", "ptm.server"},
    "ptm.demo": {"ptm.cli", "ptm.server"},
    "ptm.bench": {"ptm.cli"},
    "ptm.audit_cli": {"ptm.cli"},
    "ptm.royalties_cli": {"ptm.cli"},
}
#: Who may import a package beyond the layer rule (product code only).
ONLY_IMPORTED_BY = {
    "adapters": COMPOSITION_ROOT,
    "api": {"ptm.bootstrap", "ptm.cli", "ptm.server"},
}

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
    """Every module a file imports; ``from a import b`` gives ``a`` and ``a.b`` (b may be
    a module). Relative imports are refused: the rules read absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{path}: relative import"
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def violations(package: str, files: list[Path]) -> list[str]:
    """The imports of ``files`` (modules of ``package``) that break the layer rule."""
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
    return bad


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
    assert violations(package, files) == []


def test_every_ptm_module_has_a_place_and_imports_only_what_it_may() -> None:
    modules = {module_name(f): f for f in python_files("ptm") if f.name != "__init__.py"}
    assert set(modules) == set(PTM_IMPORTERS), "a ptm module without a place in PTM_IMPORTERS"
    bad = []
    for importer, f in modules.items():
        for name in imports_of(f):
            for target, allowed in PTM_IMPORTERS.items():
                reaches = name == target or name.startswith(target + ".")
                if reaches and importer != target and importer not in allowed:
                    bad.append(f"{importer} imports {name}")
    assert bad == []


@pytest.mark.parametrize("package", sorted(ONLY_IMPORTED_BY))
def test_the_adapters_and_the_api_are_imported_only_where_they_are_wired(package: str) -> None:
    allowed = ONLY_IMPORTED_BY[package]
    bad = [
        f"{module_name(f)} imports {name}"
        for other in LAYER
        if other != package
        for f in python_files(other)
        for name in imports_of(f)
        if name.split(".")[0] == package and module_name(f) not in allowed
    ]
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
                assert any(name == a or name.startswith(a + ".") for a in ALLOWED_EVENTSOURCING), (
                    f"{f.relative_to(ROOT)} imports {name}"
                )


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


def test_the_checker_sees_a_violation() -> None:
    """A planted module of the domain that reaches outwards is reported (so a pass means
    something), and a sideways import only where it is allowed."""
    planted = ROOT / "ledger" / "_planted_for_the_boundary_test.py"
    planted.write_text(
        "from ptm.bootstrap import Services\nimport api.context\nfrom kernel import errors\n",
        encoding="utf-8",
    )
    try:
        found = violations("ledger", [planted])
        sideways = violations("projections", [planted])  # audit → projections only
    finally:
        planted.unlink()
    name = "ledger/_planted_for_the_boundary_test.py"
    assert sorted(found) == [
        f"{name} imports api.context",
        f"{name} imports ptm.bootstrap",
        f"{name} imports ptm.bootstrap.Services",
    ]
    assert f"{name} imports kernel.errors" not in sideways
