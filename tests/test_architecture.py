"""Architecture rules that are checked, not hoped for."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules_after_import(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_importing_the_app_does_not_import_torch():
    assert "torch" not in _modules_after_import("import app")


@pytest.mark.parametrize("module", ["core", "core.weights", "core.models"])
def test_importing_core_loads_no_web_stack_and_no_torch(module):
    loaded = _modules_after_import(f"import {module}")
    assert not loaded & {"dash", "plotly", "flask", "diskcache", "torch"}


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]


def test_app_refuses_remote_bind_without_flag():
    result = subprocess.run([sys.executable, "app.py", "--host", "0.0.0.0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--allow-remote" in result.stderr


def _import_cycles(package: str) -> list[list[str]]:
    """Groups of ``package``'s modules that import each other (strongly connected, size > 1), lazy imports included."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(module):  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_core_has_no_import_cycles():
    assert _import_cycles("core") == []


@pytest.mark.parametrize("module", ["core.runtime", "core.images", "core.errors"])
def test_bottom_modules_of_core_import_no_other_project_module(module):
    import grimp

    graph = grimp.build_graph("core", cache_dir=None)
    assert graph.find_modules_directly_imported_by(module) == set()
