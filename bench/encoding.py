"""Benchmark: per-vertex ridge CV (core.encoding.fit_ridge_cv) against himalaya and sklearn.

Same data, same run, same folds (``KFold(n_folds)``, contiguous) and the same scoring (mean over
folds of the validation R², per-fold centring = ``fit_intercept=True``) for himalaya's
``RidgeCV``. sklearn's ``RidgeCV(alpha_per_target=True)`` only supports its efficient
leave-one-out (``cv=None``, MSE), so it searches a different criterion: its time is a
reference and its alpha agreement is not expected to be 1. It is run only up to
``--sklearn-max-targets`` targets. Above ``--peer-max-targets`` targets himalaya is fitted on the
first ``--peer-max-targets`` targets only and its time scaled by n_targets / that number (each
target's CV and refit are independent, so its cost is linear in targets); its alphas and
predictions are compared on those targets, and the line says so.

Run from the repository root::

    .venv/bin/python bench/encoding.py                       # 10,000 then 59,412 targets
    .venv/bin/python bench/encoding.py --n-targets 10000 --device cuda

Not a test; prints a table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.encoding import fit_ridge_cv  # noqa: E402


def make_data(n_samples: int, n_features: int, n_targets: int, random_state: int = 0):
    """Features with a decaying spectrum and targets whose noise level varies, so alphas vary."""
    rng = np.random.default_rng(random_state)
    X = (rng.standard_normal((n_samples + 500, n_features), dtype=np.float32)
         * np.geomspace(1.0, 0.05, n_features, dtype=np.float32))
    W = rng.standard_normal((n_features, n_targets), dtype=np.float32) * 0.05
    noise = np.geomspace(0.1, 30.0, n_targets, dtype=np.float32)
    Y = X @ W
    Y += rng.standard_normal(Y.shape, dtype=np.float32) * noise
    return X[:n_samples], Y[:n_samples], X[n_samples:]


def timed(fn):
    """Result, wall seconds and CPU seconds (all threads; less sensitive to other jobs' load)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def run_case(n_targets: int, args) -> None:
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import r2_score

    X, Y, X_test = make_data(args.n_samples, args.n_features, n_targets)
    alphas = np.logspace(-2, 6, 15)
    print(f"\n== {args.n_samples} samples x {args.n_features} features -> {n_targets} targets, "
          f"{len(alphas)} alphas, {args.n_folds}-fold, device={args.device}")

    ours, t_ours, c_ours = timed(lambda: fit_ridge_cv(X, Y, alphas=alphas, n_folds=args.n_folds,
                                              n_targets_batch=args.n_targets_batch, device=args.device))
    pred_ours = X_test @ ours.coef + ours.intercept
    print(f"ours      {t_ours:8.1f} s wall {c_ours:8.1f} s CPU")

    backend = "torch_cuda" if args.device.startswith("cuda") else "numpy"
    set_backend(backend, on_error="raise")
    himalaya = HimalayaRidgeCV(alphas=alphas, cv=KFold(args.n_folds), fit_intercept=True,
                               solver_params={"score_func": r2_score, "n_targets_batch": args.n_targets_batch})
    n_peer = min(n_targets, args.peer_max_targets)
    _, t_him, c_him = timed(lambda: himalaya.fit(X, Y[:, :n_peer]))
    scale = n_targets / n_peer
    t_him, c_him = t_him * scale, c_him * scale
    him_alphas = np.asarray(himalaya.best_alphas_.cpu() if hasattr(himalaya.best_alphas_, "cpu")
                            else himalaya.best_alphas_)
    pred_him = np.asarray(himalaya.predict(X_test).cpu() if backend != "numpy" else himalaya.predict(X_test))
    same = np.isclose(ours.best_alphas[:n_peer], him_alphas, rtol=1e-4)
    scaled = f", timed on the first {n_peer} targets x{scale:.2f}" if n_peer < n_targets else ""
    print(f"himalaya  {t_him:8.1f} s wall {c_him:8.1f} s CPU ({backend}{scaled}); "
          f"speed-up x{t_him / t_ours:.2f} wall, x{c_him / c_ours:.2f} CPU; "
          f"identical alphas {same.mean():.5f} ({(~same).sum()} differ); "
          f"max |d prediction| {np.abs(pred_ours[:, :n_peer] - pred_him).max():.2e} "
          f"(prediction sd {pred_him.std():.2f})")
    set_backend("numpy")

    if n_targets <= args.sklearn_max_targets:
        from sklearn.linear_model import RidgeCV

        sk = RidgeCV(alphas=alphas, alpha_per_target=True)
        _, t_sk, c_sk = timed(lambda: sk.fit(X, Y))
        same_sk = np.isclose(ours.best_alphas, sk.alpha_, rtol=1e-4)
        print(f"sklearn   {t_sk:8.1f} s wall {c_sk:8.1f} s CPU (LOO/GCV, MSE); speed-up x{t_sk / t_ours:.2f} wall, "
              f"x{c_sk / c_ours:.2f} CPU; "
              f"identical alphas {same_sk.mean():.3f} (different CV scheme); "
              f"max |d prediction| {np.abs(pred_ours - sk.predict(X_test)).max():.2e}")
    else:
        print(f"sklearn   skipped above {args.sklearn_max_targets} targets (memory and time)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-targets", type=int, nargs="+", default=[10_000, 59_412])
    parser.add_argument("--n-samples", type=int, default=3000)
    parser.add_argument("--n-features", type=int, default=1000)
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--n-targets-batch", type=int, default=4096)
    parser.add_argument("--sklearn-max-targets", type=int, default=10_000)
    parser.add_argument("--peer-max-targets", type=int, default=60_000,
                        help="fit himalaya on at most this many targets and scale its time linearly")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for n_targets in args.n_targets:
        run_case(n_targets, args)


if __name__ == "__main__":
    main()
