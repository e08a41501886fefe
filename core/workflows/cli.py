"""``python -m core faces|reconstruct|visualise``, ``clusters --experiment`` and ``experiment`` without ``--study``: each runs one workflow,
shows a progress bar on stderr and writes its result under ``--out`` (``core.workflows.store``)."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = [
    "add_default_experiment_arguments",
    "add_workflow_parsers",
    "fraction_bar",
    "progress_bar",
    "run_cluster_analyses_command",
    "run_default_experiment_command",
]


def fraction_bar(desc: str):
    """A tqdm bar (stderr) in percent and ``progress(fraction, message)`` that moves it: ``bar, progress``."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, bar_format="{desc}: {percentage:3.0f}% |{bar:20}| {postfix} [{elapsed}]")

    def progress(fraction, message):
        bar.n = round(100 * fraction)
        bar.set_postfix_str(message[:60])
        bar.refresh()

    return bar, progress


def progress_bar(desc: str):
    """:func:`fraction_bar` moved by a ``core.runtime.Progress``: ``bar, progress(done, total, message)``."""
    bar, fraction = fraction_bar(desc)
    return bar, lambda done, total, message="": fraction(done / total if total else 0.0, message)


def _saved(result, out: str, name: str) -> Path:
    from core.workflows.store import save_result

    prefix = save_result(result, Path(out) / name)
    print(f"wrote {prefix}.npz and {prefix}.json")
    return prefix


def run_default_experiment_command(args) -> int:
    """``experiment`` without ``--study``: the default experiment, copied to ``--out``."""
    if getattr(args, "features", None):
        raise ValueError("--features goes with --study (a study's images); the default experiment extracts its own")
    from core.experiments import experiment_dir, experiment_key, run_default_experiment

    settings = dict(network=args.network, n_repeats=args.n_repeats, test_fraction=args.test_fraction,
                    n_folds=args.n_folds, n_permutations=args.n_permutations, max_images=args.max_images,
                    random_state=args.seed)
    bar, progress = progress_bar("experiment")
    with bar:
        result = run_default_experiment(**settings, device=args.device, progress=progress)
    key = experiment_key(**settings)
    shutil.copytree(experiment_dir(key), Path(args.out), dirs_exist_ok=True)
    print(f"experiment {key}: {len(result.stimulus_ids)} images, {len(result.categories)} categories, "
          f"{int((result.maps['q'] < 0.05).sum()):,} vertices with test FDR q < 0.05; wrote {args.out} "
          f"(result, encoding model, predicted maps); other verbs take --experiment {key}")
    return 0


def _faces(args) -> int:
    from core.workflows.faces import run_face_analysis

    bar, progress = progress_bar("faces")
    with bar:
        result = run_face_analysis(max_images=args.max_images, progress=progress)
    _saved(result, args.out, "faces")
    for i, region in enumerate(result.regions):
        print(f"  {region}: identity − expression Δr = {result.difference[i]:+.3f} "
              f"[{result.difference_low[i]:+.3f}, {result.difference_high[i]:+.3f}], p = {result.difference_p[i]:.3g}")
    return 0


def _reconstruct(args) -> int:
    if args.study:
        return _reconstruct_study(args)
    from core.workflows.reconstruction import run_reconstruction

    bar, progress = progress_bar("reconstruct")
    with bar:
        result = run_reconstruction(args.faces, args.snr, encoder_steps=args.encoder_steps, progress=progress)
    _saved(result, args.out, "reconstruction")
    for name, (accuracy, p) in result.pairwise.items():
        print(f"  pairwise identification {name}: {accuracy:.3f} (p = {p:.3g})")
    return 0


def _reconstruct_study(args) -> int:
    from core.studies import load_study
    from core.workflows.reconstruction import run_study_reconstruction

    study = load_study(args.study)
    bar, progress = progress_bar("reconstruct")
    with bar:
        result = run_study_reconstruction(study, roi=args.roi, allow_non_faces=args.allow_non_faces,
                                          progress=progress)
    _saved(result, args.out, "reconstruction")
    meta = result.meta
    print(f"{meta['study']}: {meta['roi'] or 'all vertices'} ({meta['n_vertices']:,}); {meta['evaluation']}; faces "
          f"found in {meta['faces_found']:,} of {meta['n_images']:,} images")
    for name, (accuracy, p) in result.pairwise.items():
        print(f"  pairwise identification {name}: {accuracy:.3f} (p = {p:.3g})")
    for model, (accuracy, chance) in result.gender.items():
        print(f"  gender from decoded {model} latents: {accuracy:.3f} (chance {chance:.3f})")
    for note in meta["notes"]:
        print(f"  note: {note}")
    return 0


def run_cluster_analyses_command(args) -> int:
    """``clusters --experiment KEY``: the cluster analyses of a finished experiment."""
    from core.workflows.clusters import run_cluster_analyses

    bar, progress = progress_bar("clusters")
    with bar:
        result = run_cluster_analyses(args.experiment, n_permutations=args.n_permutations,
                                      n_rotations=args.n_rotations, progress=progress)
    _saved(result, args.out, "clusters")
    s = result.significance
    print(f"k = {s['best_k']}, Q = {s['q']:.4f}, p = {s['p']:.4g} ({s['n_permutations']:,} null samples); "
          f"{len(result.layers)} layers, {len(result.finer_info)} clusters refined")
    return 0


def _visualise(args) -> int:
    from core.workflows.visualisation import run_feature_visualisation

    bar, progress = progress_bar("visualise")
    with bar:
        result = run_feature_visualisation(args.experiment, args.target, args.steps, n_starts=args.starts,
                                           image_size=args.image_size, progress=progress)
    _saved(result, args.out, "visualisation")
    print(f"{args.target}: predicted response {result.objective[0].mean():.3f} → {result.objective[-1].mean():.3f}")
    return 0


def add_default_experiment_arguments(experiment) -> None:
    """The default experiment's options of the ``experiment`` verb (its --network, --n-folds, --n-permutations,
    --seed, --device and --out are shared with ``experiment --study``)."""
    experiment.add_argument("--max-images", type=int, help="default experiment: at most this many library images")
    experiment.add_argument("--n-repeats", type=int, default=10, help="default experiment: test sessions per image")
    experiment.add_argument("--test-fraction", type=float, default=0.2,
                            help="default experiment: held-out images per category")


def add_workflow_parsers(commands, wrap) -> None:
    """Add the workflow verbs to ``commands`` (argparse subparsers); ``wrap`` turns a command's ValueError
    into an exit message."""
    faces = commands.add_parser(
        "faces", help="identity vs expression networks against the simulated subject's face regions",
        description="Schwartz et al. (2023) on 48 generated faces: RDMs of every layer of the face-identity and "
                    "face-expression networks against the simulated regions (Spearman r, 1,000 permutations), the "
                    "identity − expression difference per region (1,000 stimulus bootstraps), decoding and "
                    "subspace congruence. Writes OUT/faces.npz and OUT/faces.json.")
    faces.add_argument("--max-images", type=int, help="library images calibrating the simulated subject")
    faces.add_argument("--out", required=True, help="output folder")
    faces.set_defaults(func=wrap(_faces))

    reconstruct = commands.add_parser(
        "reconstruct", help="faces reconstructed from simulated brain patterns (GAN latent vs PCA)",
        description="VanRullen & Reddy (2019): DCGAN faces, 200 simulated voxels driven by their latent codes, "
                    "a brain → latent decoder, reconstructions scored by pairwise identification, accuracy vs "
                    "training size and SNR. Writes OUT/reconstruction.npz and OUT/reconstruction.json.")
    reconstruct.add_argument("--faces", type=int, default=400, help="generated faces (40..2000, default 400)")
    reconstruct.add_argument("--snr", type=float, default=1.0, help="signal-to-noise ratio of the voxels")
    reconstruct.add_argument("--encoder-steps", type=int, help="training steps of the image → latent encoder")
    reconstruct.add_argument("--study", help="an imported study of face images (python -m core study list): its "
                                             "faces are reconstructed from its responses instead (--faces and --snr "
                                             "are not used)")
    reconstruct.add_argument("--roi", help="with --study: decode from this region of the study's ROI masks only "
                                           "(default: all vertices)")
    reconstruct.add_argument("--allow-non-faces", action="store_true",
                             help="with --study: run even when the face detector finds faces in under half the images")
    reconstruct.add_argument("--out", required=True, help="output folder")
    reconstruct.set_defaults(func=wrap(_reconstruct))

    visualise = commands.add_parser(
        "visualise", help="images maximising a cluster's or an area's predicted response",
        description="Activation maximisation through an experiment's network and encoding model, from Gaussian "
                    "noise. Writes OUT/visualisation.npz (uint8 images, objective per step) and .json.")
    visualise.add_argument("--experiment", required=True, help="experiment key (printed by `experiment`)")
    visualise.add_argument("--target", required=True, help="'cluster:<k>' or 'roi:<Glasser area>', e.g. roi:FFC")
    visualise.add_argument("--steps", type=int, default=200, help="optimisation steps (10..1000, default 200)")
    visualise.add_argument("--starts", type=int, help="noise starts (default 4)")
    visualise.add_argument("--image-size", type=int, help="image size in pixels (default 128)")
    visualise.add_argument("--out", required=True, help="output folder")
    visualise.set_defaults(func=wrap(_visualise))
