"""Security rules, each checked so that removing the protection fails a test."""

from __future__ import annotations

import ast
import base64
import io
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.stimuli import StimulusError, from_upload

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
    import waitress

    import app

    served = {}
    monkeypatch.setattr(waitress, "serve", lambda _server, **options: served.update(options))
    monkeypatch.setattr(app.app, "run", lambda **options: served.update(options, debug_server=True))
    app.main([])
    assert served["host"] == "127.0.0.1" and "debug_server" not in served
    served.clear()
    app.main(["--debug"])
    assert served["host"] == "127.0.0.1" and served["debug_server"]
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        with pytest.raises(SystemExit):
            app.parse_args(["--host", host])
    assert app.parse_args(["--host", "0.0.0.0", "--allow-remote"]).host == "0.0.0.0"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """The upload folder (``VFS_UPLOADS``) beside a cache; ``tmp_path`` also holds files outside both."""
    monkeypatch.setenv("VFS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VFS_UPLOADS", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


def test_upload_folder_defaults_to_a_private_per_user_temp_folder(tmp_path, monkeypatch):
    from dashboard.services._files import _uploads_dir

    monkeypatch.delenv("VFS_UPLOADS", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = _uploads_dir()
    assert root.parent == tmp_path and root.name.endswith(f"-{os.getuid()}")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_uploads_are_written_inside_the_upload_folder_only(uploads, tmp_path):
    from dashboard import services

    services.save_upload("data:image/png;base64," + base64.b64encode(_png()).decode(), "../../café.png")
    buffer = io.BytesIO()
    np.savez(buffer, data=np.ones(20_484, np.float32))
    services.save_uploaded_maps([("../../map.npz", buffer.getvalue())])
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 2 and all(p.is_relative_to(uploads) for p in written)


@pytest.mark.parametrize("value", ["upload:../outside.png", "upload:{tmp}/outside.png",
                                   "upload:0123456789abcdef/../../outside.png"])
def test_uploaded_image_names_stay_inside_the_upload_folder(value, uploads, tmp_path):
    from dashboard import services

    (tmp_path / "outside.png").write_bytes(_png())
    with pytest.raises(ValueError, match="outside the upload folder"):
        services.image_thumbnail(value.format(tmp=tmp_path))


@pytest.mark.parametrize("choice", ["upload:../outside:0", "upload:../uploads-x/0123456789abcdef:0"])
def test_uploaded_map_choices_stay_inside_the_upload_folder(choice, uploads, tmp_path):
    from dashboard import services

    np.save(tmp_path / "outside.npy", np.ones((1, 20_484), np.float32))
    with pytest.raises(ValueError, match="Malformed uploaded map|outside the upload folder"):
        services.cortex_map(choice)


def test_stored_upload_never_follows_a_link_out_of_its_folder(tmp_path):
    (tmp_path / "outside.png").write_bytes(_png())
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "x.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(StimulusError, match="file name cannot be used"):
        from_upload(_png(), "x.png", upload_dir=folder)


@pytest.mark.parametrize("reader", ["reconstruction_result", "face_analysis_result", "feature_visualisation_result"])
@pytest.mark.parametrize("path", ["/etc/hostname", "{tmp}/outside", "{tmp}/outside.npz", "../outside.npz",
                                  "faces/../../outside"])
def test_result_paths_from_the_browser_stay_inside_the_cache(reader, path, tmp_path, monkeypatch):
    """Readable result files planted outside the cache (relative paths start in the cache) are refused."""
    from dashboard import services

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("VFS_CACHE", str(cache))
    monkeypatch.chdir(cache)
    np.savez(tmp_path / "outside.npz", images=np.zeros((1, 2, 2, 3), np.uint8), objective=np.zeros((2, 1)),
             target="V1")
    (tmp_path / "outside.json").write_text("{}")
    with pytest.raises(ValueError, match="run (the reconstruction|it) first"):
        getattr(services, reader)(path.format(tmp=tmp_path))
