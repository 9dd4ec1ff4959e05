"""The app's modules import each other in one direction: no import cycle, none hidden.

A cycle works or breaks depending on which module a process imports first (a worker, a CLI
command, a benchmark, a test), so it is found here from the source, without importing
anything: every ``import`` of every module in app/ (at module level, inside a function or
under ``TYPE_CHECKING``) is an edge. The one cycle allowed is Flask's blueprint pattern: a
package whose ``__init__`` creates a ``Blueprint`` and imports its own route modules, which
import it back for ``bp``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The names an import statement in ``module`` may load, most specific first."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    # ``from app import metrics`` loads the module app.metrics; ``from app.x import name``, app.x.
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_graph(package: Path) -> tuple[dict[str, set[str]], list[str], dict[str, Path]]:
    """``(edges, imports made inside functions, module paths)`` of every module under
    ``package`` (its parent is the import root)."""
    root = package.parent
    paths = {module_name(p, root): p for p in sorted(package.rglob("*.py"))}
    edges: dict[str, set[str]] = {name: set() for name in paths}
    hidden = []
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        in_function = {
            id(inner)
            for outer in ast.walk(tree)
            if isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(outer)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            candidates = _imported(node, name, path.name == "__init__.py")
            if isinstance(node, ast.Import):
                targets = {t for t in candidates if t in paths}
            else:
                targets = {t for t in candidates[:-1] if t in paths}
                if not targets and candidates[-1] in paths:
                    targets = {candidates[-1]}
            targets.discard(name)
            edges[name] |= targets
            if targets and id(node) in in_function:
                hidden.append(f"{path.relative_to(root)}:{node.lineno} imports {sorted(targets)}")
    return edges, hidden, paths


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other (size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def _blueprint_package(group: list[str], paths: dict[str, Path]) -> bool:
    """A package ``__init__`` that creates a Blueprint, with modules of its own package only."""
    inits = [m for m in group if paths[m].name == "__init__.py"]
    if len(inits) != 1 or "Blueprint(" not in paths[inits[0]].read_text():
        return False
    return all(m == inits[0] or m.startswith(inits[0] + ".") for m in group)


def import_cycles(package: Path) -> list[list[str]]:
    edges, _, paths = import_graph(package)
    return [g for g in strongly_connected(edges) if not _blueprint_package(g, paths)]


def test_the_app_has_no_import_cycle():
    edges, _, _ = import_graph(APP)
    # The graph is really read: the service imports the answer cache, the API the service.
    assert "app.payments.cache" in edges["app.payments.service"]
    assert "app.payments.service" in edges["app.api.routes"]
    assert import_cycles(APP) == []


def test_no_app_import_is_hidden_inside_a_function():
    # An import inside a function is how a cycle is dodged at run time; at module level
    # the cycle would show, and the import order is read at the top of the file.
    _, hidden, _ = import_graph(APP)
    assert hidden == []


def test_a_cycle_is_found_wherever_its_imports_are(tmp_path):
    package = tmp_path / "pkg"
    (package / "views").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def late():\n    from pkg.a import thing\n")
    (package / "views" / "__init__.py").write_text(
        "from flask import Blueprint\nbp = Blueprint('v', __name__)\nfrom pkg.views import routes\n"
    )
    (package / "views" / "routes.py").write_text("from pkg.views import bp\n")
    assert import_cycles(package) == [["pkg.a", "pkg.b"]]
    assert import_graph(package)[1] == ["pkg/b.py:2 imports ['pkg.a']"]


def test_the_app_package_imports_in_a_fresh_interpreter():
    done = subprocess.run(
        [sys.executable, "-c", "import app; app.create_app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_no_app_module_is_longer_than_a_sitting():
    # A module a reader takes in one sitting: past this, it is usually two ideas.
    longest = max(APP.rglob("*.py"), key=lambda path: len(path.read_text().splitlines()))
    assert len(longest.read_text().splitlines()) <= 450, longest
