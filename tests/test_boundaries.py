"""Dependencies point one way, and every package's imports are checked against it.

    kernel  ←  ledger, royalties  ←  audit, projections, notifications  ←  adapters
            ←  api  ←  ptm (composition root: settings, bootstrap, royalties_wiring;
                           process entry points: cli, server, audit_cli; their parts)

A package may import any package of an inner layer, and its own layer's neighbours only
where :data:`SIDEWAYS` says so. Inside ``ptm/`` the composition root imports no entry
point, and only the process entry points import the composition root
(:data:`PTM_IMPORTERS`); only the composition root imports the adapters, and only
bootstrap and the two processes that serve HTTP import the API (:data:`ONLY_IMPORTED_BY`);
the settings library and the server each have one home (:data:`LIBRARY_HOMES`). Neither
the product nor ``bench/`` imports ``tests/``. The kernel and the domains stay free of
HTTP, SQL, SMTP and settings, and load no code by name. The last test plants a module
breaking each rule and checks that it is reported.
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
#: Modules of the standard library that would reach the network or load code by name.
FORBIDDEN_STDLIB_IN_DOMAIN = ("http", "urllib.request", "ssl", "ftplib", "xmlrpc")
#: Where the settings library and the server live: nowhere else.
LIBRARY_HOMES = {"pydantic_settings": {"ptm.settings"}, "uvicorn": {"ptm.server"}}

Modules = dict[str, Path]


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


def loads_code_by_name(path: Path) -> bool:
    """``importlib.import_module`` or ``__import__``: an import the rules cannot read."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__import__":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "import_module":
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "importlib"
            and any(a.name == "import_module" for a in node.names)
        ):
            return True
    return False


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if ".venv" not in p.parts)


def modules_of(*packages: str) -> Modules:
    return {module_name(f): f for package in packages for f in python_files(package)}


def reaches(name: str, target: str) -> bool:
    return name == target or name.startswith(target + ".")


def violations(package: str, modules: Modules) -> list[str]:
    """The imports of ``modules`` (of ``package``) that break the layer rule."""
    mine = LAYER[package]
    bad = []
    for module, f in modules.items():
        for name in imports_of(f):
            top = name.split(".")[0]
            if top not in IMPORTABLE or top == package:
                continue
            theirs = LAYER.get(top)
            ok = theirs is not None and (
                theirs < mine or (theirs == mine and top in SIDEWAYS.get(package, set()))
            )
            if not ok:
                bad.append(f"{module} imports {name}")
    return sorted(bad)


def ptm_violations(modules: Modules) -> list[str]:
    """Imports between modules of ``ptm/`` that :data:`PTM_IMPORTERS` does not allow (the
    package's ``__init__`` may import none of them)."""
    bad = []
    for importer, f in modules.items():
        for name in imports_of(f):
            for target, allowed in PTM_IMPORTERS.items():
                if reaches(name, target) and importer != target and importer not in allowed:
                    bad.append(f"{importer} imports {name}")
    return sorted(bad)


def wiring_violations(package: str, modules: Modules) -> list[str]:
    """Imports of ``package`` by modules that :data:`ONLY_IMPORTED_BY` does not name."""
    allowed = ONLY_IMPORTED_BY[package]
    return sorted(
        f"{module} imports {name}"
        for module, f in modules.items()
        if module.split(".")[0] != package and module not in allowed
        for name in imports_of(f)
        if reaches(name, package)
    )


def library_violations(modules: Modules) -> list[str]:
    """The settings library or the server imported outside their one home."""
    return sorted(
        f"{module} imports {name}"
        for module, f in modules.items()
        for name in imports_of(f)
        for library, homes in LIBRARY_HOMES.items()
        if reaches(name, library) and module not in homes
    )


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
    modules = modules_of(package)
    assert modules, f"{package} has no modules"
    assert violations(package, modules) == []


def test_every_ptm_module_has_a_place_and_imports_only_what_it_may() -> None:
    modules = modules_of("ptm")
    assert set(modules) - {"ptm"} == set(PTM_IMPORTERS), "a ptm module without a place"
    assert ptm_violations(modules) == []


@pytest.mark.parametrize("package", sorted(ONLY_IMPORTED_BY))
def test_the_adapters_and_the_api_are_imported_only_where_they_are_wired(package: str) -> None:
    assert wiring_violations(package, modules_of(*LAYER)) == []


def test_settings_and_the_server_only_in_their_home() -> None:
    assert library_violations(modules_of(*LAYER)) == []


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
        assert not loads_code_by_name(f), f"{f.relative_to(ROOT)} imports by name"
        for name in imports_of(f):
            top = name.split(".")[0]
            assert top not in FORBIDDEN_IN_DOMAIN, f"{f.relative_to(ROOT)} imports {name}"
            assert not any(reaches(name, m) for m in FORBIDDEN_STDLIB_IN_DOMAIN), (
                f"{f.relative_to(ROOT)} imports {name}"
            )
            if top == "eventsourcing":
                assert any(reaches(name, a) for a in ALLOWED_EVENTSOURCING), (
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


def plant(tmp_path: Path, name: str, source: str) -> Path:
    f = tmp_path / f"{name}.py"
    f.write_text(source, encoding="utf-8")
    return f


def test_the_checkers_report_what_they_exist_for(tmp_path: Path) -> None:
    """Planted modules that break each rule are reported (so a pass means something)."""
    outward = plant(
        tmp_path, "a", "from ptm.bootstrap import Services\nimport api.context\nimport kernel\n"
    )
    assert violations("ledger", {"ledger.x": outward}) == [
        "ledger.x imports api.context",
        "ledger.x imports ptm.bootstrap",
        "ledger.x imports ptm.bootstrap.Services",
    ]
    sideways = plant(tmp_path, "b", "from projections import queries\n")
    assert violations("notifications", {"notifications.x": sideways}) == [
        "notifications.x imports projections",
        "notifications.x imports projections.queries",
    ]
    assert violations("audit", {"audit.x": sideways}) == []

    to_entry = plant(tmp_path, "c", "from ptm.cli import main\n")
    assert ptm_violations({"ptm.bootstrap": to_entry, "ptm": to_entry}) == [
        "ptm imports ptm.cli",
        "ptm imports ptm.cli.main",
        "ptm.bootstrap imports ptm.cli",
        "ptm.bootstrap imports ptm.cli.main",
    ]
    assert ptm_violations({"ptm.server": plant(tmp_path, "d", "import ptm.bootstrap\n")}) == []

    wired = plant(tmp_path, "e", "from adapters.db import make_engine\nimport api\n")
    assert wiring_violations("adapters", {"ptm.cli": wired, "ptm.bootstrap": wired}) == [
        "ptm.cli imports adapters.db",
        "ptm.cli imports adapters.db.make_engine",
    ]
    assert wiring_violations("api", {"ptm.sweeper": wired, "ptm.server": wired}) == [
        "ptm.sweeper imports api"
    ]
    libs = plant(tmp_path, "f", "import uvicorn\nfrom pydantic_settings import BaseSettings\n")
    assert library_violations({"ptm.sweeper": libs, "ptm.server": libs}) == [
        "ptm.server imports pydantic_settings",
        "ptm.server imports pydantic_settings.BaseSettings",
        "ptm.sweeper imports pydantic_settings",
        "ptm.sweeper imports pydantic_settings.BaseSettings",
        "ptm.sweeper imports uvicorn",
    ]
    assert loads_code_by_name(
        plant(tmp_path, "g", "import importlib\nimportlib.import_module('x')\n")
    )
    assert not loads_code_by_name(plant(tmp_path, "h", "from importlib import resources\n"))
