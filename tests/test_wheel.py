"""The wheel is what gets deployed: built from the checkout and installed alone in a fresh
virtualenv, it must carry every module, template and migration, and run from a folder
that is not the checkout.

Offline: the wheel is built without build isolation (this environment's setuptools,
see pyproject's ``[build-system]``) and installed with ``--no-deps --no-index``. The
fresh virtualenv borrows the development environment's dependencies through a ``.pth``
file that names its site-packages *after* its own; the development environment's own
``.pth`` files (among them the editable install's finder) are not processed there, so
every project module must come from the wheel.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from testkit.net import free_port

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "setuptools"
]
#: Each installed top-level package and its folder in the checkout (pyproject.toml; the
#: migrations in alembic/ install as ptm_migrations).
FOLDERS = {
    name: SETUPTOOLS.get("package-dir", {}).get(name, name)
    for name in sorted({p.split(".")[0] for p in SETUPTOOLS["packages"]})
}
MIGRATIONS = "ptm_migrations"
PACKAGES = tuple(name for name in FOLDERS if name != MIGRATIONS)
READ_MODEL_TABLES = {
    "alembic_version",
    "ptm_tracking",
    "rm_origin_codes",
    "rm_balances",
    "rm_purchases",
    "rm_custody",
    "rm_report",
    "identity_credentials",
}

#: The newest alembic revision in the checkout (the installed tool must reach it).
HEAD_REVISION = max(
    p.name.split("_", 1)[0] for p in (ROOT / "alembic" / "versions").glob("[0-9]*_*.py")
)

pytestmark = pytest.mark.timeout(300)


def _checkout_files(folder: str) -> list[Path]:
    return sorted(
        p.relative_to(ROOT / folder)
        for p in (ROOT / folder).rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
        and p.suffix != ".pyc"
    )


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout (no build/ left in it)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for text in pyproject["build-system"]["requires"]:
        req = Requirement(text)
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have is None or not req.specifier.contains(have, prereleases=True):
            pytest.fail(
                f"building the wheel offline needs {text} in this environment (found {have});"
                f" scripts/lib/bootstrap.sh installs it: pip install '{text}'"
            )
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in FOLDERS.values():
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    _run([*pip_wheel, "--no-index", "--wheel-dir", str(dist), str(src)])
    (built,) = dist.glob("ptm_ledger-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel installed (dependencies borrowed)."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    pip_install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    _run([*pip_install, "--no-deps", "--no-index", str(wheel)])
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    dev_site = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    # A plain path line: appended to sys.path after the fresh site-packages, and the
    # .pth files inside it (the editable install's finder) are not run.
    (site / "zz_dev_dependencies.pth").write_text("\n".join(dev_site) + "\n", encoding="utf-8")
    return venv


def _env(work: Path, venv: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PTM_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        PYTHONNOUSERSITE="1",
        PTM_DATABASE_URL=f"sqlite:///{work}/ptm.sqlite3",
        PTM_VAR_DIR=str(work / "var"),
        PTM_OUTBOX_DIR=str(work / "var" / "outbox"),
    )
    return env


def test_the_wheel_holds_every_file_of_the_checkout(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        meta = zf.read(metadata).decode()
    missing = [
        f"{folder}/{path}"
        for installed, folder in FOLDERS.items()
        for path in _checkout_files(folder)
        if f"{installed}/{path.as_posix()}" not in names
    ]
    assert not missing, (
        "not in the wheel (pyproject.toml [tool.setuptools] packages / package-data): "
        + ", ".join(missing)
    )
    assert {"kernel", "ledger", "royalties", "audit", "projections"} <= set(PACKAGES)
    assert {"notifications", "adapters", "api", "ptm"} <= set(PACKAGES)
    assert {f"{p}/py.typed" for p in PACKAGES} <= names
    assert {"ptm_migrations/env.py", "ptm_migrations/script.py.mako"} <= names
    assert not [n for n in names if n.startswith("alembic/")]  # would shadow the library
    assert "License-Expression: LicenseRef-Proprietary" in meta
    assert "Classifier: License ::" not in meta


def test_the_fresh_venv_imports_the_wheel_not_the_checkout(venv: Path, tmp_path: Path) -> None:
    probe = """
import importlib, importlib.metadata, json, sys, sysconfig
from adapters.db import migrations_dir
import fastapi
mods = {name: importlib.import_module(name).__file__ for name in sys.argv[1:]}
print(json.dumps({
    "site": sysconfig.get_path("purelib"),
    "modules": mods,
    "migrations": str(migrations_dir()),
    "dist": str(importlib.metadata.distribution("ptm-ledger").locate_file("")),
    "fastapi": fastapi.__file__,
    "editable": [m for m in sys.modules if "editable" in m],
    "meta_path": [getattr(f, "__name__", type(f).__name__) for f in sys.meta_path],
}))
"""
    done = _run(
        [str(venv / "bin" / "python"), "-c", probe, *PACKAGES],
        cwd=tmp_path,
        env=_env(tmp_path, venv),
    )
    found = json.loads(done.stdout)
    site = Path(found["site"]).resolve()
    assert site.is_relative_to(venv.resolve())
    for name, file in found["modules"].items():
        assert Path(file).resolve().is_relative_to(site), (name, file)
        assert not Path(file).resolve().is_relative_to(ROOT), (name, file)
    assert Path(found["migrations"]) == site / "ptm_migrations"
    assert Path(found["dist"]).resolve() == site
    assert not Path(found["fastapi"]).resolve().is_relative_to(site)  # borrowed
    assert found["editable"] == []
    assert not [f for f in found["meta_path"] if "Editable" in f], found["meta_path"]


def test_db_upgrade_and_serve_from_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    env = _env(work, venv)
    ptm = str(venv / "bin" / "ptm")
    _run([ptm, "db", "upgrade"], cwd=work, env=env)
    with sqlite3.connect(work / "ptm.sqlite3") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert tables >= READ_MODEL_TABLES, tables
    assert version == HEAD_REVISION

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [ptm, "serve", "--host", "127.0.0.1", "--port", str(port), "--quiet"],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 45
        status, body = None, b""
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    status, body = r.status, r.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        assert status == 200, log.read_text()
        assert json.loads(body)["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0, log.read_text()
