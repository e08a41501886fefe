"""``python -m core encode fit|evaluate|predict``: voxel-wise encoding models from feature and response
files."""

from __future__ import annotations

import sys

import numpy as np

from core.cli.common import exit_on_value_error, stage_bar


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


def _encode_fit(args) -> int:
    from core.encoding import EncodingModel, save_encoding_model
    from core.virtual_fmri import load_feature_file

    X, slices, _ = load_feature_file(args.features)
    (Y,) = _read_responses([args.responses], args.responses_right and [args.responses_right], args.variable)
    _check_rows([Y], len(X), args.features)
    print(f"{len(X)} stimuli, {len(slices)} layers ({X.shape[1]:,} units), {Y.shape[1]:,} vertices")
    with stage_bar(3, "encode fit") as bar:
        bar.set_postfix_str(f"layer-wise PCA ({args.variance:.0%} variance), ridge ({args.n_folds}-fold CV)")
        model = EncodingModel(slices, variance=args.variance, n_folds=args.n_folds, device=args.device,
                              random_state=args.seed).fit(X, Y)
        bar.update(2)
        bar.set_postfix_str("saving")
        meta = {"model": args.model, "reduction": args.reduction, "layers": list(slices),
                "features": str(args.features), "responses": str(args.responses), "n_samples": len(X)}
        npz, json_path = save_encoding_model(args.out, model, meta)
        bar.update()
    print(f"{model.n_components_} PCA components; median alpha {np.median(model.ridge_.best_alphas_):.3g}; "
          f"mean CV R² {model.ridge_.cv_scores_.mean():.4f}")
    print(f"wrote {npz} and {json_path}")
    return 0


def _encode_evaluate(args) -> int:
    from core.encoding import evaluate_predictions, load_encoding_model, noise_ceiling, normalized_accuracy
    from core.files import atomic_open
    from core.virtual_fmri import load_feature_file

    model = load_encoding_model(args.model)
    X, _, _ = load_feature_file(args.features, layers=list(model.layers_))
    sessions = _read_responses(args.responses, args.responses_right, args.variable)
    _check_rows(sessions, len(X), args.features)
    Y = np.stack(sessions)
    with stage_bar(3 if len(sessions) > 1 else 2, "encode evaluate") as bar:
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
        with stage_bar(1, f"encode predict ({len(stimuli)} images)") as bar:
            def progress(done, total):
                bar.total, bar.n = total, done
                bar.refresh()

            result = predictor.predict(stimuli, progress=progress)
        maps, ids = result.maps, result.stimulus_ids
        for name, reason in result.skipped:
            print(f"skipped {name}: {reason}", file=sys.stderr)
    else:
        model = load_encoding_model(args.model)
        X, _, ids = load_feature_file(args.features, layers=list(model.layers_))
        maps = model.predict(X).astype(np.float32)
    with atomic_open(args.out) as handle:
        np.savez(handle, maps=maps, stimulus_ids=np.asarray(ids, dtype=str))
    print(f"wrote {args.out}: {maps.shape[0]} predicted maps of {maps.shape[1]:,} vertices")
    _export_maps(maps, list(ids), args)
    return 0


def add_encode_parser(commands) -> None:
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
    fit.set_defaults(func=exit_on_value_error(_encode_fit))
    evaluate.set_defaults(func=exit_on_value_error(_encode_evaluate))
    predict.set_defaults(func=exit_on_value_error(_encode_predict))
