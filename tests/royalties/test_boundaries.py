"""royalties/ imports only the standard library, the eventsourcing domain and
application layers, openpyxl (the annex), holidays (the calendar) and the shared kernel
(errors, idempotency records, the command runner) — never the ledger."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import royalties

ALLOWED = {"eventsourcing.domain", "eventsourcing.application", "openpyxl", "holidays"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def allowed(name: str) -> bool:
    top = name.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top in ("royalties", "kernel"):
        return True
    return any(name == a or name.startswith(a + ".") for a in ALLOWED)


def test_royalties_imports_stay_within_bounds() -> None:
    package = Path(royalties.__file__).parent
    files = sorted(package.rglob("*.py"))
    assert len(files) >= 10
    offending = {
        f"{path.relative_to(package)}: {name}"
        for path in files
        for name in imported_modules(path)
        if not allowed(name)
    }
    assert offending == set()
