"""The package's import graph, read from the source: no circle at run time, and each layer
imports only what it may (the settings no destination and no run-time module, a destination
no run-time module, the emulator nothing of the target).

Imports under `if TYPE_CHECKING:` and inside functions are not run when a module is loaded, so
they make no edge; a module's own parent packages are loaded before it and make none either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import target_kibo_inventory

PACKAGE = Path(target_kibo_inventory.__file__).parent
NAME = PACKAGE.name


def _modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _loaded_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run when the module is loaded: not in functions or TYPE_CHECKING."""
    run = []
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(statement, ast.If):
            test = ast.unparse(statement.test)
            if test not in ("TYPE_CHECKING", "t.TYPE_CHECKING", "typing.TYPE_CHECKING"):
                run += _loaded_statements(statement.body)
            run += _loaded_statements(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (statement.body, *(h.body for h in statement.handlers)):
                run += _loaded_statements(block)
        elif isinstance(statement, ast.ClassDef):
            run += _loaded_statements(statement.body)
        else:
            run.append(statement)
    return run


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def imports(name: str) -> set[str]:
    """The package's modules that loading this one loads first (beside its own parents)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for statement in _loaded_statements(ast.parse(path.read_text()).body):
        if isinstance(statement, ast.Import):
            targets |= {alias.name for alias in statement.names}
        elif isinstance(statement, ast.ImportFrom):
            base = statement.module or ""
            if statement.level:
                anchor = (
                    package.rsplit(".", statement.level - 1)[0] if statement.level > 1 else package
                )
                base = f"{anchor}.{base}" if base else anchor
            for alias in statement.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    targets = {t for t in targets if t in MODULES}
    targets |= {a for t in targets for a in _ancestors(t) if a in MODULES}
    return targets - _ancestors(name) - {name}


def _circles() -> list[list[str]]:
    """Each circle of imports once (Tarjan's strongly connected components of 2 or more)."""
    graph = {name: imports(name) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return circles


def test_the_package_has_no_import_circle():
    assert _circles() == []


def test_the_reader_finds_the_edges():
    """The graph is read right: a known edge, a TYPE_CHECKING import that is none."""
    assert f"{NAME}.errors" in imports(f"{NAME}.settings.shared")
    assert f"{NAME}.settings" in imports(f"{NAME}.destinations.kibo.settings")
    assert f"{NAME}.settings" not in imports(f"{NAME}.loader")  # under TYPE_CHECKING only


def _reach(name: str) -> set[str]:
    """Every module of the package that loading this one loads."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for nxt in imports(todo.pop()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_settings_import_no_destination_and_no_run_time_module():
    allowed = {f"{NAME}.errors", f"{NAME}.files", NAME}
    for name in (m for m in MODULES if m.startswith(f"{NAME}.settings")):
        outside = {m for m in _reach(name) if not m.startswith(f"{NAME}.settings")}
        assert outside <= allowed, f"{name} loads {sorted(outside - allowed)}"


def test_a_destination_imports_no_run_time_module():
    allowed = {f"{NAME}.{m}" for m in ("errors", "files", "rules", "auth", "redaction")}
    allowed.add(NAME)
    for name in (m for m in MODULES if m.startswith(f"{NAME}.destinations")):
        outside = {
            m
            for m in _reach(name)
            if not m.startswith((f"{NAME}.destinations", f"{NAME}.settings"))
        }
        assert outside <= allowed, f"{name} loads {sorted(outside - allowed)}"


def test_the_emulator_imports_nothing_of_the_target():
    for name in (m for m in MODULES if m.startswith(f"{NAME}.emulator")):
        outside = {m for m in _reach(name) if not m.startswith(f"{NAME}.emulator")}
        assert outside <= {NAME}, f"{name} loads {sorted(outside - {NAME})}"
