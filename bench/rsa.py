"""Benchmark core.rsa against rsatoolbox: RDM, comparison and a 100k-permutation test.

Run: ``.venv/bin/python bench/rsa.py`` (needs rsatoolbox). 80 categories; 20k and 59k vertices.
Times are medians of ``REPEATS`` runs after one warm-up call; the permutation tests also show
their CPU time, which a busy machine disturbs less than the wall time. The numba kernels are
compiled into a fresh cache directory first and that compile time is printed on its own.
rsatoolbox has no vectorised permutation test, so its loop (permute the conditions of the
RDM, ``rsatoolbox.rdm.compare``) is timed for ``N_REFERENCE_PERMUTATIONS`` permutations and
extrapolated linearly to 100,000; the output says so. The loop uses the same permutations as
the first ``N_REFERENCE_PERMUTATIONS`` of ours (same seed), so the null values are compared
one by one (max |diff|). On a busy 2-core machine OpenBLAS's threads slow the RDM step of
both libraries several-fold; ``OPENBLAS_NUM_THREADS=1`` gives steadier totals.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# a fresh numba cache, so that the first call below measures the compilation
_NUMBA_CACHE = tempfile.TemporaryDirectory(prefix="bench-rsa-numba-")
os.environ["NUMBA_CACHE_DIR"] = _NUMBA_CACHE.name

import rsatoolbox  # noqa: E402
from scipy.spatial.distance import squareform  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a script: make the repo's `core` importable

from core.rsa import COMPARE_METHODS, compare_rdms, compute_rdm, rdm_permutation_test  # noqa: E402

N_CATEGORIES = 80
N_PERMUTATIONS = 100_000
N_REFERENCE_PERMUTATIONS = 1_000
#: kendall_tau_a is much slower on both sides: fewer permutations, extrapolated to 100,000
N_KENDALL = {"ours": 5_000, "rsatoolbox": 30}
METHODS = ("pearson", "spearman")
REPEATS = 5
SEED = 0


def _median_time(f, repeats: int = REPEATS, *, cpu: bool = False):
    """``(result of the last call, median wall seconds[, median CPU seconds])`` after one warm-up."""
    f()
    wall, process = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = f()
        wall.append(time.perf_counter() - start)
        process.append(time.process_time() - start_cpu)
    return (out, float(np.median(wall))) + ((float(np.median(process)),) if cpu else ())


def _reference_permutations(a, b, method, n):
    """rsatoolbox loop over our first ``n`` permutations: permute the conditions of ``a`` and compare."""
    square = a.get_matrices()[0]
    name = COMPARE_METHODS[method].rsatoolbox_name
    perms = np.random.default_rng(SEED).permuted(np.broadcast_to(np.arange(N_CATEGORIES), (n, N_CATEGORIES)), axis=1)
    return np.array([rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(squareform(square[np.ix_(p, p)], checks=False)), b,
                                            method=name)[0, 0] for p in perms])


def compile_kernels() -> None:
    """Print the time of the first call of each kernel (JIT compilation into the fresh cache)."""
    a, b = compute_rdm(np.eye(4)), compute_rdm(np.eye(4)[::-1])
    for methods, kernel in ((("pearson", "spearman", "rho_a", "cosine"), "pair sums"),
                            (("kendall_tau_a",), "concordance (Fenwick tree)")):
        start = time.perf_counter()
        rdm_permutation_test(a, b, method=methods[0], n_permutations=1)
        first = time.perf_counter() - start
        _, warm = _median_time(lambda m=methods[0]: rdm_permutation_test(a, b, method=m, n_permutations=1))
        print(f"numba compile, {kernel} kernel ({', '.join(methods)}): {first:.2f} s "
              f"(first call; a warm call takes {warm * 1e3:.2f} ms)")


def run(n_vertices: int, rng: np.random.Generator) -> None:
    shared = rng.normal(size=(N_CATEGORIES, n_vertices))
    brain = shared + 2.0 * rng.normal(size=shared.shape)
    model = shared + 2.0 * rng.normal(size=shared.shape)

    def ours_rdms():
        return compute_rdm(brain, metric="correlation"), compute_rdm(model, metric="correlation")

    def ref_rdms():
        return tuple(rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method="correlation") for x in (brain, model))

    (oa, ob), t_ours_rdm = _median_time(ours_rdms, 3)
    (ra, rb), t_ref_rdm = _median_time(ref_rdms, 3)
    d_rdm = np.abs(oa.dissimilarities - ra.get_vectors()).max()
    print(f"\n== {N_CATEGORIES} categories x {n_vertices} vertices ==")
    print(f"2 RDMs (correlation): ours {t_ours_rdm:.3f} s, rsatoolbox {t_ref_rdm:.3f} s, "
          f"ratio {t_ref_rdm / t_ours_rdm:.1f}x, max|diff| {d_rdm:.2e}")
    for method in (*METHODS, "kendall_tau_a"):
        n_ours = N_KENDALL["ours"] if method == "kendall_tau_a" else N_PERMUTATIONS
        n_ref = N_KENDALL["rsatoolbox"] if method == "kendall_tau_a" else N_REFERENCE_PERMUTATIONS
        name = COMPARE_METHODS[method].rsatoolbox_name
        r_ours, t_ours_cmp = _median_time(lambda m=method: compare_rdms(oa, ob, method=m)[0, 0])
        r_ref, t_ref_cmp = _median_time(lambda n=name: rsatoolbox.rdm.compare(ra, rb, n)[0, 0])
        perm, t_ours_some, cpu_ours = _median_time(lambda m=method, n=n_ours: rdm_permutation_test(
            oa, ob, method=m, n_permutations=n, random_state=SEED, return_null=True), cpu=True)
        ref_null, t_ref_some, cpu_ref = _median_time(lambda m=method, n=n_ref: _reference_permutations(ra, rb, m, n),
                                                     1 if method == "kendall_tau_a" else 3, cpu=True)
        t_ours_perm = t_ours_some * N_PERMUTATIONS / n_ours
        t_ref_perm = t_ref_some * N_PERMUTATIONS / n_ref
        d_null = np.abs(perm.null[:n_ref] - ref_null).max()
        total_ours = t_ours_rdm + t_ours_cmp + t_ours_perm
        total_ref = t_ref_rdm + t_ref_cmp + t_ref_perm
        ours_text = (f"{t_ours_perm:.3f} s (median of {REPEATS}; CPU {cpu_ours:.3f} s)" if n_ours == N_PERMUTATIONS
                     else f"{t_ours_some:.2f} s for {n_ours}, extrapolated to {t_ours_perm:.1f} s")
        print(f"[{method}] compare: ours {t_ours_cmp * 1e3:.2f} ms, rsatoolbox {t_ref_cmp * 1e3:.2f} ms, "
              f"max|diff r| {abs(r_ours - r_ref):.2e} (r = {r_ours:.4f})")
        print(f"[{method}] {N_PERMUTATIONS} permutations: ours {ours_text}; rsatoolbox {t_ref_some:.2f} s for "
              f"{n_ref}, extrapolated to {t_ref_perm:.0f} s; ratio {t_ref_perm / t_ours_perm:.0f}x "
              f"(CPU time: {cpu_ref / n_ref / (cpu_ours / n_ours):.0f}x)")
        print(f"[{method}] null: max|diff| over the {n_ref} shared permutations {d_null:.2e}; "
              f"observed |diff| {abs(perm.observed - r_ref):.2e}; p = {perm.p_value:.2e} "
              f"(floor 1/(n+1) = {1 / (n_ours + 1):.1e})")
        print(f"[{method}] RDM + compare + test: ours {total_ours:.2f} s, rsatoolbox (extrapolated) "
              f"{total_ref:.0f} s, ratio {total_ref / total_ours:.0f}x (goal >= 50x)")


def main() -> None:
    compile_kernels()
    rng = np.random.default_rng(SEED)
    for n_vertices in (20_000, 59_000):
        run(n_vertices, rng)


if __name__ == "__main__":
    main()
