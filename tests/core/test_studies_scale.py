"""Imports stream their rows: the memory an import allocates stays far below the size of the responses."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import core.studies.sources
from core.studies import import_study
from core.studies.simulate import write_simulated_study

#: Rows read at once in these tests (the default is ~64 MB worth of rows).
BLOCK_ROWS = 4


@pytest.fixture
def traced_peak(tmp_path, monkeypatch):
    """Peak bytes allocated by an import, in blocks of BLOCK_ROWS rows (modules imported beforehand)."""
    monkeypatch.setattr(core.studies.sources, "_rows_per_block", lambda n_columns: BLOCK_ROWS)
    write_simulated_study(tmp_path / "warm", "folder-npy", n_stimuli=3)
    import_study("folder", tmp_path / "warm", "warm-up")

    def measure(*args) -> int:
        tracemalloc.start()
        try:
            import_study(*args)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    return measure


def test_folder_import_allocates_a_few_blocks_not_the_array(tmp_path, traced_peak):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=300)
    rows = np.load(folder / "responses.npy")
    rows[:, 3] = np.nan  # a dropped column: the compaction pass streams too
    np.save(folder / "responses.npy", rows)
    size = rows.nbytes  # 300 × 20,484 float32: 24.6 MB, blocks of 0.33 MB
    del rows
    peak = traced_peak("folder", folder, "s")
    assert peak < size / 10, f"peak {peak / 2**20:.2f} MiB for {size / 2**20:.1f} MiB of responses"


def test_algonauts_import_allocates_a_few_blocks_not_the_array(tmp_path, traced_peak):
    folder = tmp_path / "subj"
    write_simulated_study(folder, "algonauts2023", n_stimuli=300, n_per_hemisphere=20_000)
    size = 300 * 40_000 * 4  # 48 MB in two hemisphere files; the two fsaverage masks (int64) take 2.6 MB
    peak = traced_peak("algonauts2023", folder, "s")
    assert peak < size / 8, f"peak {peak / 2**20:.2f} MiB for {size / 2**20:.1f} MiB of responses"
