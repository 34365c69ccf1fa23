"""The layout's rules, read from the source: no import cycles (imports inside functions count), and the
engine-free core (``kgpipe``, ``schemas``) imports neither the engine shells (``jobs``, ``pipelines``) nor
the engines themselves.

Every ``import`` statement counts, wherever it stands (module level, inside a function, under
``TYPE_CHECKING``): a reader sees all of them, and an import deferred into a function is still a
dependency. Only the stage table (``kgpipe/stages.py``) names shells, as ``module:function`` strings.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("kgpipe", "schemas", "jobs", "pipelines")
CORE = ("kgpipe", "schemas")
SHELLS = ("jobs", "pipelines")
ENGINES = ("pyspark", "apache_beam", "graphframes")
#: the one core module that builds Spark types from the Arrow schemas, for the Spark jobs
CORE_ENGINE_BRIDGES = {"schemas.spark": ("pyspark",)}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """First-party modules and third-party top-level packages that ``name`` imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from package import module` imports the module; `from module import name` the module
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target and target.split(".")[0] in PACKAGES:
                target = target.rsplit(".", 1)[0]   # `import kgpipe.serve.qa as qa` style, a name in a module
            found.add(target if target in modules else target.split(".")[0])
    found.discard(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_graph_is_read_from_every_module():
    graph = _graph()
    # a sample of arrows the rules below rely on, so that a parser regression cannot pass them vacuously
    assert "kgpipe.extract.relation_model" in graph["kgpipe.extract.documents"]     # inside a function once
    assert "kgpipe.serve.qa" in graph["kgpipe.serve.kg"]
    assert "kgpipe.cli" in graph["jobs.extract"]                                     # the job file's main
    assert "pyspark" in graph["jobs.resolve"] and "apache_beam" in graph["pipelines.ingest"]
    assert len(graph) > 60


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_a_cycle_is_found_where_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_imports_no_shell_and_no_engine():
    offending = {}
    for name, imported in _graph().items():
        if not name.startswith(CORE):
            continue
        allowed = CORE_ENGINE_BRIDGES.get(name, ())
        bad = sorted(target for target in imported
                     if target.startswith(SHELLS) or (target in ENGINES and target not in allowed))
        if bad:
            offending[name] = bad
    assert offending == {}


def test_every_code_folder_is_a_package_that_setup_ships():
    """setup.py's find_packages skips folders without __init__.py: an installed wheel (the images, the
    executors) would lack them although an editable install imports them as namespace packages."""
    from setuptools import find_packages
    shipped = set(find_packages(where=str(REPO), include=[f"{p}*" for p in PACKAGES]))
    folders = {".".join(path.parent.relative_to(REPO).parts) for package in PACKAGES
               for path in (REPO / package).rglob("*.py")}
    assert folders - shipped == set()
