"""``python -m core clusters`` (on a maps file; ``--experiment`` runs the workflow) and ``calibrate``."""

from __future__ import annotations

import numpy as np

from core.cli.common import exit_on_value_error


def _clusters(args) -> int:
    import json

    if args.experiment:
        from core.workflows.cli import run_cluster_analyses_command

        return run_cluster_analyses_command(args)

    from tqdm import tqdm

    from core.clustering import clustering_significance, null_for_vertices
    from core.files import atomic_open

    with np.load(args.maps, allow_pickle=False) as data:
        missing = [name for name in ("maps", "labels") if name not in data.files]
        if missing:
            raise ValueError(f"{args.maps} lacks {missing}; it needs 'maps' (n_categories, n_vertices) and 'labels' "
                             f"(n_categories,), and holds {data.files}")
        maps, labels = data["maps"], data["labels"]
    if labels.shape != (len(maps),):
        raise ValueError(f"labels has shape {labels.shape}; expected ({len(maps)},), one per row of maps")
    null = null_for_vertices(maps.shape[1] if maps.ndim == 2 else 0)
    print(f"{len(maps)} category maps of {maps.shape[-1]:,} vertices; null: {null.description}")
    with tqdm(total=args.n_permutations, unit="sample", desc="null samples") as bar:
        def progress(done, total):
            bar.n = done
            bar.refresh()

        test = clustering_significance(maps, n_permutations=args.n_permutations, random_state=args.seed,
                                       include_diagonal=args.include_diagonal, null=null, progress=progress)
    c = test.clustering
    out = {"k": int(c.best_k), "q": test.q, "p": test.p_value, "assignment": c.labels.tolist(),
           "labels": [str(label) for label in labels], "k_values": c.k_values.tolist(),
           "q_per_k": c.modularity.tolist(), "n_permutations": test.n_permutations, "null": test.null,
           "null_q_95": float(np.quantile(test.null_q, 0.95)), "include_diagonal": bool(args.include_diagonal),
           "seed": args.seed}
    with atomic_open(args.out, "w") as handle:
        handle.write(json.dumps(out, indent=1))
    for k in range(c.best_k):
        print(f"  cluster {k}: {', '.join(str(x) for x in labels[c.labels == k])}")
    print(f"k = {c.best_k}, Q = {test.q:.4f}, p = {test.p_value:.4g} ({test.n_permutations:,} null samples); "
          f"wrote {args.out}")
    return 0


def add_clusters_parser(commands) -> None:
    clusters = commands.add_parser(
        "clusters", help="k-means + signed modularity of category maps, with a spin-test p-value",
        description="Cluster category maps as the RDM Clusters page does (maps centred over categories, Pearson "
                    "similarity, k-means for k = 2..10, k by the largest signed modularity Q with the diagonal left "
                    "out) and test Q against null maps clustered the same way: each map rotated on the sphere for "
                    "59,412 fsLR-32k or 20,484 fsaverage5 values, else shifted along the vertex order.")
    source = clusters.add_mutually_exclusive_group(required=True)
    source.add_argument("--maps", help=".npz with 'maps' (n_categories, n_vertices) and 'labels' (n_categories,) strings")
    source.add_argument("--experiment", help="key of a finished experiment (`python -m core experiment`): run the "
                                             "page's analyses, the spin test, layer-wise and finer clustering")
    clusters.add_argument("--out", required=True, help="output .json (k, q, p, assignment, labels, ...); with "
                                                       "--experiment, a folder (clusters.npz + clusters.json)")
    clusters.add_argument("--n-permutations", type=int, default=1000, help="null samples (default 1000)")
    clusters.add_argument("--n-rotations", type=int, default=300,
                          help="with --experiment: the spin test's pool of sphere rotations (default 300)")
    clusters.add_argument("--seed", type=int, default=0, help="random seed (k-means starts, null samples)")
    clusters.add_argument("--include-diagonal", action="store_true",
                          help="count each map's similarity with itself in Q, as bctpy's modularity_und_sign on the "
                               "matrix as given (rewards many small clusters)")
    clusters.set_defaults(func=exit_on_value_error(_clusters))


#: Null and planted data sets per case of ``calibrate`` (full, quick).
CALIBRATION_SIZES = {"full": (200, 100), "quick": (60, 20)}


def _calibrate(args) -> int:
    from tqdm import tqdm

    from core.calibration import all_cases, calibrate, format_table

    cases = [c for c in all_cases() if not args.only or any(word in c.name for word in args.only)]
    if not cases:
        raise ValueError(f"no calibration case matches {args.only}; cases: {[c.name for c in all_cases()]}")
    n_null, n_planted = CALIBRATION_SIZES["quick" if args.quick else "full"]
    results = []
    for case in cases:
        with tqdm(total=n_null + n_planted, desc=case.name[:48], unit="set", leave=False) as bar:
            def progress(done, total):
                bar.n = done
                bar.refresh()

            results.append(calibrate(case, n_null=n_null, n_planted=n_planted, seed=args.seed, progress=progress))
    print(format_table(results))
    failed = [r.case.name for r in results if not (r.calibrated and r.powered)]
    print(f"{len(results) - len(failed)} of {len(results)} tests calibrated (α = 0.05 inside the false-positive "
          f"rate's 99 % interval) and powered (≥ 0.8)" + (f"; not: {failed}" if failed else ""))
    return 1 if failed else 0


def add_calibrate_parser(commands) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="false-positive rate and power of every p-value and interval the studio shows",
        description="Run each test of the studio on null data with the structure of real data (smooth maps on "
                    "the mesh, correlated features, autocorrelated series) and on planted effects; print the "
                    "false-positive rate at α = 0.05 with its binomial 99 % interval and the power. Exit status "
                    "1 when a test is miscalibrated or underpowered.")
    calibrate.add_argument("--quick", action="store_true",
                           help="{} null and {} planted sets per test instead of {} and {}".format(
                               *CALIBRATION_SIZES["quick"], *CALIBRATION_SIZES["full"]))
    calibrate.add_argument("--only", nargs="+", metavar="WORD", help="only the tests whose name contains a WORD")
    calibrate.add_argument("--seed", type=int, default=0, help="random seed of the data sets")
    calibrate.set_defaults(func=exit_on_value_error(_calibrate))
