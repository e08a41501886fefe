"""Benchmark model evaluation (compare + bootstrap over stimuli) against rsatoolbox's.

Run: ``.venv/bin/python bench/rsa_eval.py`` (needs rsatoolbox). Inputs: ``--n-stimuli`` stimuli (92, the size
of Kriegeskorte et al.'s hIT set), ``--n-models`` model RDMs (18, one per ResNet-50 layer of Wen et al.) and
``--n-subjects`` brain RDMs of one region, all correlation distances of correlated patterns (the model RDMs
share the brain's structure in varying amounts).

Per method, the same work on both sides: rsatoolbox's ``rsatoolbox.rdm.compare`` of every model with the data
(r, the mean over subjects) and ``rsatoolbox.inference.eval_bootstrap_pattern`` with ``ModelFixed`` models
(``--n-bootstrap`` samples, ``boot_noise_ceil=False``: the ceiling once, as ours) and its
``Result.get_ci(0.95, "bootstrap")``; ours: ``core.rsa.compare_rdms`` and
``core.rdm_inference.bootstrap_evaluations`` + ``bootstrap_interval`` on the *same* index draws (numpy's
global generator reseeded before each, as rsatoolbox draws one ``randint`` per sample), so r, every bootstrap
evaluation and the interval are compared value by value. Kendall's tau-a is slow on both sides and gets
``--n-bootstrap-tau`` samples. Wall and CPU seconds of one run each, after a warm-up of ours (numba
compilation, printed apart); the ratio is rsatoolbox's time over ours. Also printed: the whole
``compare_models_to_brain`` (no permutations) on the same inputs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # rsatoolbox's progress bars

import numpy as np  # noqa: E402
import rsatoolbox  # noqa: E402
from rsatoolbox.inference import eval_bootstrap_pattern  # noqa: E402
from rsatoolbox.model import ModelFixed  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a script: make the repo's `core` importable

from core.model_brain_rsa import compare_models_to_brain  # noqa: E402
from core.rdm_inference import bootstrap_evaluations, bootstrap_interval  # noqa: E402
from core.rsa import COMPARE_METHODS, compare_rdms, compute_rdm  # noqa: E402

SEED = 0


def _timed(f):
    start, start_cpu = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - start, time.process_time() - start_cpu


def make_rdms(n_stimuli: int, n_models: int, n_subjects: int, rng: np.random.Generator):
    """Model RDMs (n_models, n_pairs) and subject RDMs (n_subjects, n_pairs) of correlated patterns."""
    truth = rng.standard_normal((n_stimuli, 8)) @ rng.standard_normal((8, 200))
    region = truth + rng.standard_normal(truth.shape)
    subjects = np.concatenate([compute_rdm(region + 1.5 * rng.standard_normal(truth.shape)).dissimilarities
                               for _ in range(n_subjects)])
    noise = np.geomspace(8.0, 0.5, n_models)
    models = np.concatenate([compute_rdm(truth + s * rng.standard_normal(truth.shape)).dissimilarities
                             for s in noise])
    return models, subjects


def rsatoolbox_draws(seed: int, n_stimuli: int, n_samples: int) -> np.ndarray:
    """The stimulus indices rsatoolbox's eval_bootstrap_pattern draws after ``np.random.seed(seed)``."""
    saved = np.random.get_state()  # noqa: NPY002 -- rsatoolbox draws from numpy's global generator
    try:
        np.random.seed(seed)  # noqa: NPY002
        return np.stack([np.random.randint(0, n_stimuli, size=n_stimuli) for _ in range(n_samples)])  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def theirs(models: np.ndarray, subjects: np.ndarray, method: str, n_samples: int):
    n = int(round((1 + np.sqrt(1 + 8 * models.shape[1])) / 2))
    descriptors = {"index": np.arange(n)}
    data = rsatoolbox.rdm.RDMs(subjects, pattern_descriptors=descriptors)
    fixed = [ModelFixed(f"layer{i}", rsatoolbox.rdm.RDMs(m[None], pattern_descriptors=descriptors))
             for i, m in enumerate(models)]
    name = COMPARE_METHODS[method].rsatoolbox_name
    r = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(models), data, method=name).mean(axis=1)
    np.random.seed(SEED)  # noqa: NPY002
    result = eval_bootstrap_pattern(fixed, data, method=name, N=n_samples, boot_noise_ceil=False)
    low, high = result.get_ci(0.95, test_type="bootstrap")
    return r, result.evaluations, np.asarray(low), np.asarray(high)


def ours(models: np.ndarray, subjects: np.ndarray, method: str, indices: np.ndarray):
    r = compare_rdms(models, subjects, method=method).mean(axis=1)
    evaluations = bootstrap_evaluations(models, subjects, indices, method=method)
    low, high = bootstrap_interval(evaluations)
    return r, evaluations, low, high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stimuli", type=int, default=92)
    parser.add_argument("--n-models", type=int, default=18)
    parser.add_argument("--n-subjects", type=int, default=3)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--n-bootstrap-tau", type=int, default=100)
    parser.add_argument("--methods", default="spearman,pearson,rho_a,cosine,kendall_tau_a")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    models, subjects = make_rdms(args.n_stimuli, args.n_models, args.n_subjects, rng)
    print(f"{args.n_stimuli} stimuli ({models.shape[1]} pairs), {args.n_models} model RDMs, {args.n_subjects} "
          f"subject RDMs; rsatoolbox {rsatoolbox.__name__} 0.3.x vs core.model_brain_rsa")
    for method in args.methods.split(","):
        n_samples = args.n_bootstrap_tau if method == "kendall_tau_a" else args.n_bootstrap
        indices = rsatoolbox_draws(SEED, args.n_stimuli, n_samples)
        _, compile_s, _ = _timed(lambda m=method, i=indices[:2]: ours(models, subjects, m, i))
        mine, t_ours, cpu_ours = _timed(lambda m=method, i=indices: ours(models, subjects, m, i))
        ref, t_ref, cpu_ref = _timed(lambda m=method, n=n_samples: theirs(models, subjects, m, n))
        d_r = np.abs(mine[0] - ref[0]).max()
        d_eval = np.nanmax(np.abs(mine[1] - ref[1]))
        d_ci = max(np.abs(mine[2] - ref[2]).max(), np.abs(mine[3] - ref[3]).max())
        best = int(np.argmax(mine[0]))
        print(f"[{method}] {n_samples} bootstrap samples: rsatoolbox {t_ref:.2f} s (CPU {cpu_ref:.2f} s), ours "
              f"{t_ours:.3f} s (CPU {cpu_ours:.3f} s; first call with compilation {compile_s:.2f} s); ratio "
              f"{t_ref / t_ours:.0f}x wall, {cpu_ref / cpu_ours:.0f}x CPU (goal >= 10x)")
        print(f"[{method}] max|diff| r {d_r:.1e}, bootstrap evaluations {d_eval:.1e}, 95% interval {d_ci:.1e}; "
              f"best layer{best}: r = {mine[0][best]:.4f} [{mine[2][best]:.4f}, {mine[3][best]:.4f}]")
    keys = {("net", f"layer{i}"): m for i, m in enumerate(models)}
    _, t_all, cpu_all = _timed(lambda: compare_models_to_brain(keys, {"region": subjects}, method="spearman",
                                                               n_permutations=0, n_bootstrap=args.n_bootstrap))
    print(f"compare_models_to_brain (spearman, {args.n_bootstrap} bootstrap samples, ceiling, best layer, "
          f"second-order matrix, no permutations): {t_all:.2f} s (CPU {cpu_all:.2f} s)")


if __name__ == "__main__":
    main()
