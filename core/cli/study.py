"""``python -m core study import|list|show|remove`` and ``experiment`` (on an imported study, or the default
experiment through ``core.workflows.cli``)."""

from __future__ import annotations

import numpy as np

from core.cli.common import exit_on_value_error
from core.workflows.cli import (
    add_default_experiment_arguments,
    fraction_bar,
    run_default_experiment_command,
)


def _study_import(args) -> int:
    from core.studies import check_study_name, import_study

    check_study_name(args.name)
    bar, progress = fraction_bar(f"study {args.name}")
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
    bar, progress = fraction_bar(f"experiment {args.study}")
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


def add_experiment_parser(commands) -> None:
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
    experiment.set_defaults(func=exit_on_value_error(
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


def add_study_parser(commands) -> None:
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
    load.set_defaults(func=exit_on_value_error(_study_import))
    actions.add_parser("list", help="the imported studies").set_defaults(func=exit_on_value_error(_study_list))
    show = actions.add_parser("show", help="a study's validation report; exit status 1 when images changed")
    show.add_argument("name")
    show.set_defaults(func=exit_on_value_error(_study_show))
    remove = actions.add_parser("remove", help="remove a study from the store (its source files stay)")
    remove.add_argument("--name", required=True)
    remove.set_defaults(func=exit_on_value_error(_study_remove))
