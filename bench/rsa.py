"""Benchmark core.rsa against rsatoolbox: RDM, comparison and a 100k-permutation test.

Run: ``.venv/bin/python bench/rsa.py`` (needs rsatoolbox). 80 categories; 20k and 59k vertices.
rsatoolbox has no vectorised permutation test, so its loop (permute the conditions of the
RDM, ``rsatoolbox.rdm.compare``) is timed for ``N_REFERENCE_PERMUTATIONS`` permutations and
extrapolated linearly to 100,000; the output says so.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import rsatoolbox
from scipy.spatial.distance import squareform

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a script: make the repo's `core` importable

from core.rsa import COMPARE_METHODS, compare_rdms, compute_rdm, rdm_permutation_test  # noqa: E402

N_CATEGORIES = 80
N_PERMUTATIONS = 100_000
N_REFERENCE_PERMUTATIONS = 1_000
METHODS = ("pearson", "spearman")


def _timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def _reference_permutations(a, b, method, n, rng):
    """rsatoolbox loop: permute the conditions of ``a`` and compare, ``n`` times."""
    square = a.get_matrices()[0]
    name = COMPARE_METHODS[method].rsatoolbox_name
    null = np.empty(n)
    for k in range(n):
        p = rng.permutation(N_CATEGORIES)
        null[k] = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(squareform(square[np.ix_(p, p)], checks=False)), b,
                                         method=name)[0, 0]
    return null


def run(n_vertices: int, rng: np.random.Generator) -> None:
    shared = rng.normal(size=(N_CATEGORIES, n_vertices))
    brain = shared + 2.0 * rng.normal(size=shared.shape)
    model = shared + 2.0 * rng.normal(size=shared.shape)

    def ours_rdms():
        return compute_rdm(brain, metric="correlation"), compute_rdm(model, metric="correlation")

    def ref_rdms():
        return tuple(rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method="correlation") for x in (brain, model))

    (oa, ob), t_ours_rdm = _timed(ours_rdms)
    (ra, rb), t_ref_rdm = _timed(ref_rdms)
    d_rdm = np.abs(oa.dissimilarities - ra.get_vectors()).max()
    print(f"\n== {N_CATEGORIES} categories x {n_vertices} vertices ==")
    print(f"2 RDMs (correlation): ours {t_ours_rdm:.3f} s, rsatoolbox {t_ref_rdm:.3f} s, "
          f"ratio {t_ref_rdm / t_ours_rdm:.1f}x, max|diff| {d_rdm:.2e}")
    for method in METHODS:
        r_ours, t_ours_cmp = _timed(lambda m=method: compare_rdms(oa, ob, method=m)[0, 0])
        r_ref, t_ref_cmp = _timed(lambda m=method: rsatoolbox.rdm.compare(ra, rb, COMPARE_METHODS[m].rsatoolbox_name)[0, 0])
        perm, t_ours_perm = _timed(lambda m=method: rdm_permutation_test(oa, ob, method=m, n_permutations=N_PERMUTATIONS,
                                                                         random_state=0, return_null=True))
        ref_null, t_ref_some = _timed(lambda m=method: _reference_permutations(ra, rb, m, N_REFERENCE_PERMUTATIONS, rng))
        t_ref_perm = t_ref_some * N_PERMUTATIONS / N_REFERENCE_PERMUTATIONS
        p_ref = (1 + np.count_nonzero(ref_null >= r_ref)) / (1 + N_REFERENCE_PERMUTATIONS)
        total_ours = t_ours_rdm + t_ours_cmp + t_ours_perm
        total_ref = t_ref_rdm + t_ref_cmp + t_ref_perm
        print(f"[{method}] compare: ours {t_ours_cmp * 1e3:.2f} ms, rsatoolbox {t_ref_cmp * 1e3:.2f} ms, "
              f"max|diff r| {abs(r_ours - r_ref):.2e} (r = {r_ours:.4f})")
        print(f"[{method}] {N_PERMUTATIONS} permutations: ours {t_ours_perm:.2f} s; rsatoolbox "
              f"{t_ref_some:.2f} s for {N_REFERENCE_PERMUTATIONS}, extrapolated to {t_ref_perm:.0f} s; "
              f"ratio {t_ref_perm / t_ours_perm:.0f}x")
        print(f"[{method}] null sd: ours {perm.null.std():.5f}, rsatoolbox {ref_null.std():.5f} "
              f"(|diff| {abs(perm.null.std() - ref_null.std()):.1e}); p: ours {perm.p_value:.2e}, "
              f"rsatoolbox {p_ref:.2e} (floor 1/(n+1))")
        print(f"[{method}] RDM + compare + test: ours {total_ours:.2f} s, rsatoolbox (extrapolated) "
              f"{total_ref:.0f} s, ratio {total_ref / total_ours:.0f}x (goal >= 50x)")


def main() -> None:
    rng = np.random.default_rng(0)
    for n_vertices in (20_000, 59_000):
        run(n_vertices, rng)


if __name__ == "__main__":
    main()
