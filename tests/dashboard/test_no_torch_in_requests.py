"""No torch in the web process: every ordinary callback of every page, driven in a fresh interpreter, leaves it out.

Work that needs the networks (a semantic measure such as MiniLM) or long statistics runs in background jobs,
which are separate processes (STYLE.md rule 5). ``tests/dashboard/_callback_driver.py`` drives the callbacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_ordinary_callback_imports_torch(vfs_folders):
    env = {**os.environ, "VFS_CACHE": str(vfs_folders.cache), "VFS_UPLOADS": str(vfs_folders.uploads)}
    out = subprocess.run([sys.executable, "-m", "tests.dashboard._callback_driver"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    pages = {name.rsplit(".", 1)[0] for name in report["driven"]}
    assert {f"dashboard.pages.{page}" for page in ("cortical_maps", "virtual_fmri", "selectivity", "rdm_clusters",
                                                    "identity_expression", "reconstructions")} <= pages
    assert "dashboard.pages.rdm_clusters.draw_semantics" in report["driven"]
    assert report["failed"] == []
    assert report["torch_after"] is None, f"torch was imported by the callback {report['torch_after']}"
