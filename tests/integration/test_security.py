"""Security rules, each checked so that removing the protection fails a test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.integration._servers import linked_cache

ROOT = Path(__file__).resolve().parents[2]

#: Calls that can execute code while reading data: (module, function).
UNSAFE_LOADERS = {("pickle", "load"), ("pickle", "loads"), ("joblib", "load"), ("dill", "load"),
                  ("dill", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("marshal", "loads"),
                  ("pd", "read_pickle"), ("pandas", "read_pickle")}


def _keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def unsafe_loads(source: str) -> list[str]:
    """Calls in ``source`` that may unpickle: pickle/joblib/dill loads, ``torch.load`` without
    ``weights_only=True``, ``np.load(..., allow_pickle=True)``. Returns ``"line: call"`` strings."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            continue
        module, function = node.func.value.id, node.func.attr
        unsafe = ((module, function) in UNSAFE_LOADERS
                  or (module, function) == ("torch", "load") and not _keyword_is_true(node, "weights_only")
                  or (module in ("np", "numpy") and function == "load" and _keyword_is_true(node, "allow_pickle")))
        if unsafe:
            found.append(f"{node.lineno}: {module}.{function}")
    return found


def test_scanner_finds_every_unsafe_load():
    source = """
import pickle, joblib, torch, numpy as np
pickle.load(f); pickle.loads(b); joblib.load(p); torch.load(p); torch.load(p, weights_only=False)
np.load(p, allow_pickle=True)
torch.load(p, weights_only=True); np.load(p); np.load(p, allow_pickle=False)
"""
    assert unsafe_loads(source) == ["3: pickle.load", "3: pickle.loads", "3: joblib.load", "3: torch.load",
                                    "3: torch.load", "4: np.load"]


def test_no_code_reads_data_with_pickle():
    files = [ROOT / "app.py", *sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "dashboard").rglob("*.py"))]
    found = {str(path.relative_to(ROOT)): hits for path in files if (hits := unsafe_loads(path.read_text()))}
    assert found == {}


def test_celery_accepts_json_only(monkeypatch):
    from dashboard.jobs import make_background_manager

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing is contacted when the manager is built
    conf = make_background_manager().handle.conf
    assert (conf.task_serializer, conf.result_serializer, list(conf.accept_content)) == ("json", "json", ["json"])


def test_app_binds_loopback_by_default_and_refuses_others_without_flag(monkeypatch):
    import app

    served = {}
    monkeypatch.setattr(app.app, "run", lambda **options: served.update(options))
    app.main([])
    assert served["host"] == "127.0.0.1"
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        with pytest.raises(SystemExit):
            app.parse_args(["--host", host])
    assert app.parse_args(["--host", "0.0.0.0", "--allow-remote"]).host == "0.0.0.0"


@pytest.mark.parametrize("value", ["upload:../../../../etc/hostname", "upload:/etc/hostname", "/etc/hostname"])
def test_uploaded_image_names_stay_inside_the_upload_folder(value, tmp_path, monkeypatch):
    from dashboard import services

    monkeypatch.setenv("VFS_CACHE", str(linked_cache(tmp_path)))
    with pytest.raises(ValueError, match="upload it again|Unknown library image"):
        services.image_thumbnail(value)


@pytest.mark.parametrize("reader", ["reconstruction_result", "face_analysis_result"])
@pytest.mark.parametrize("path", ["/etc/hostname", "../../../../etc/hostname", "faces/../../../etc/hostname"])
def test_result_paths_from_the_browser_stay_inside_the_cache(reader, path, tmp_path, monkeypatch):
    from dashboard import services

    monkeypatch.setenv("VFS_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="run (the reconstruction|it) first"):
        getattr(services, reader)(path)
