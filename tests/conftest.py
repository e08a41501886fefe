"""Shared fixtures: seeded rng, skip rules for shared data and CUDA."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng():
    """Seeded generator for tiny synthetic arrays."""
    return np.random.default_rng(0)


@pytest.fixture
def shared_data():
    """Path of ../shared/data; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="CUDA is not available")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def pytest_sessionfinish(session, exitstatus):
    """Stop the Virtual fMRI page's warm prediction worker, which would otherwise keep pytest from exiting."""
    services = sys.modules.get("dashboard.services")
    if services is not None:
        services.stop_predictors()
