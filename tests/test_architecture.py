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
