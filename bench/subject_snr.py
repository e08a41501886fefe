"""How the v3 subject's declared SNR decides what the small default experiment can find.

Run: ``python bench/subject_snr.py [--max-images 160] [--snr 0.5 1 2 3] [--n-permutations 1000]``

The encoding stage of ``core.experiments.run_default_experiment`` (same split, whole-map features, layer-wise
PCA, ridge with nine-fold CV, 10 test repeats, block-permutation p and BH q) on the v3 subject with its
declared SNR replaced by each ``--snr`` (the signal is computed once). No refit, no category maps. Printed per
SNR: the median true single-session ceiling of the driven vertices, their test r (10th/50th/90th percentile),
how many vertices reach the permutation floor p = 1/(n_permutations + 1) against the number BH needs there
(q · k / m ≥ floor, m = 59,412), the fraction of driven vertices found at q < 0.05, the share of undriven
vertices found (false positives), and the vertices of the paper's rule (q < 0.01, r > 0.2). The peer of the
time column is the first SNR's run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-images", type=int, default=160)
    parser.add_argument("--snr", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0])
    parser.add_argument("--n-permutations", type=int, default=1000)
    args = parser.parse_args(argv)

    from core import experiments
    from core.encoding import LayerwisePCA, RidgeEncoder, evaluate_predictions, stack_layer_features

    library, _, simulated, drivers, labels, _ = experiments.calibrated_default_subject(
        subject="v3", max_images=args.max_images)
    features = experiments._encoding_features(library, "resnet50", "random_projection")
    test = experiments._stratified_test_split(labels, 0.2, np.random.default_rng(0))
    train = np.setdiff1d(np.arange(len(labels)), test)
    X, slices = stack_layer_features(dict(features))
    pca = LayerwisePCA(slices, variance=0.99, random_state=0).fit(X[train])
    Z_train, Z_test = pca.transform(X[train]), pca.transform(X[test])
    driven = simulated.driver_map() >= 0
    floor = 1 / (args.n_permutations + 1)
    needed = int(np.ceil(floor / 0.05 * simulated.n_vertices))
    declared, peer = simulated.spec, None
    print(f"{len(train)} training, {len(test)} test images; {driven.sum()} driven of {simulated.n_vertices} vertices; "
          f"BH needs >= {needed} vertices at p = {floor:.5f}")
    for snr in args.snr:
        start = time.perf_counter()
        simulated.spec = dataclasses.replace(declared, snr=snr)
        run = simulated.image_experiment({k: v[train] for k, v in drivers.items()},
                                         {k: v[test] for k, v in drivers.items()},
                                         n_repeats=10, random_state=np.random.default_rng(0))
        prediction = RidgeEncoder(n_folds=9).fit(Z_train, run["Y_train"]).predict(Z_test)
        scores = evaluate_predictions(run["Y_test"], prediction, block_size=1, n_permutations=args.n_permutations,
                                      random_state=0)
        variance = run["signal_test"].var(axis=0)
        ceiling = np.sqrt(variance / (variance + simulated.noise_variance()))
        seconds = time.perf_counter() - start
        peer = peer or seconds
        print(f"SNR {snr:g}: ceiling {np.median(ceiling[driven]):.2f}; r driven "
              f"{np.round(np.percentile(scores.r[driven], [10, 50, 90]), 2)}; at the floor "
              f"{int((scores.p <= floor * (1 + 1e-6)).sum())} (need {needed}); q < 0.05: driven "
              f"{np.mean(scores.q[driven] < 0.05):.3f}, undriven {np.mean(scores.q[~driven] < 0.05):.4f}; "
              f"paper's rule {int(((scores.q < 0.01) & (scores.r > 0.2)).sum())}; {seconds:.0f} s "
              f"({seconds / peer:.2f}x the first)", flush=True)


if __name__ == "__main__":
    main()
