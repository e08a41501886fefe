"""Whole feature maps (count-sketch random projection) vs channel means: time, peak RAM and recovery.

Run: ``python bench/feature_reductions.py [--max-images 748] [--n-permutations 1000] [--subject v3]``

Two parts, each step in its own interpreter so that its peak RSS is its own:

1. **Extraction**: ResNet-50 ``wen18`` features of the library images (``--max-images``; all 748 by
   default) into an empty temporary feature cache, once with ``reduction="mean"`` (the peer every ratio
   refers to) and once with ``reduction="random_projection"`` (the experiment's default: the whole map
   of every layer, 4,096 count-sketch dimensions per layer). Printed: seconds, images/s, peak RSS and the
   size of the features. On a shared machine the two runs meet different loads, so the time ratio is
   taken in one more interpreter that alternates the two reductions chunk by chunk (64 images) on the
   same decoded images (``--ratio-images``, the first library images).
2. **Experiment**: ``core.experiments.run_default_experiment`` with each reduction on the same simulated
   subject (``--subject``), through the user's cache (``VFS_CACHE``): the subject's readings are computed
   by the first run and read by the second, so the first run's time is that of a cold default run when
   the cache starts empty (its stages are printed). A cached result is recomputed (its folder is removed
   first). Printed per reduction: seconds, peak RSS, and the recovery of the declared truth
   (``core.recovery``): best layer within ±2 (refit per layer, paper's attribution), mean test r of
   V1–V3 vertices with a true single-session ceiling > 0.3, the category-cluster ARI.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.extraction import peak_rss_mib  # noqa: E402

REDUCTIONS = ("mean", "random_projection")  # the peer first


def extract(reduction: str, max_images: int | None) -> dict:
    """Encoding features of the library with ``reduction`` into an empty temporary cache."""
    from core import experiments
    from core.features import FeatureCache, extract_features, model_digest
    from core.models import build_model

    library, ((network, layers),) = experiments.experiment_feature_sets(max_images=max_images)
    folder = Path(tempfile.mkdtemp(prefix="vfs-bench-features-"))
    try:
        start = time.perf_counter()
        model = build_model(network)
        features = extract_features(model, library, layers=layers, cache=FeatureCache(folder),
                                    model_key=f"{network}:{model_digest(model)}",
                                    **experiments.encoding_reduction_options(reduction))
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "n_images": len(features.stimulus_ids), "peak_rss_mib": peak_rss_mib(),
            "feature_mib": sum(a.nbytes for a in features.values()) / 2**20,
            "n_features": int(sum(a.shape[1] for a in features.values()))}


def interleaved(n_images: int) -> dict:
    """Seconds of each reduction on the same chunks of decoded images, alternating which goes first."""
    from core import experiments
    from core.features import extract_features
    from core.models import build_model
    from core.stimuli import load_images

    library, ((network, layers),) = experiments.experiment_feature_sets(max_images=n_images)
    model = build_model(network)
    seconds = dict.fromkeys(REDUCTIONS, 0.0)
    for index, start in enumerate(range(0, len(library), 64)):
        images = load_images(library, range(start, min(start + 64, len(library))), size=tuple(model.input_size))
        for reduction in (REDUCTIONS if index % 2 == 0 else REDUCTIONS[::-1]):
            begin = time.perf_counter()
            extract_features(model, images, layers=layers, **experiments.encoding_reduction_options(reduction))
            seconds[reduction] += time.perf_counter() - begin
    return {"n_images": len(library), "seconds": seconds}


def experiment(reduction: str, subject: str, max_images: int | None, n_permutations: int) -> dict:
    """One default experiment with ``reduction`` (recomputed), its stage times and its recovery."""
    from core import experiments
    from core.recovery import category_cluster_ari, layer_recovery
    from core.subject import load_default_subject

    settings = dict(subject=subject, reduction=reduction, max_images=max_images, n_permutations=n_permutations)
    shutil.rmtree(experiments.experiment_dir(experiments.experiment_key(
        network="resnet50", n_repeats=10, test_fraction=0.2, n_folds=9, random_state=0, **settings)),
        ignore_errors=True)
    stages, last = {}, [time.perf_counter(), "start"]

    def progress(fraction, message):
        stage = message.split(":")[0]
        if stage != last[1]:
            now = time.perf_counter()
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
            last[:] = [now, stage]

    start = time.perf_counter()
    result = experiments.run_default_experiment(**settings, progress=progress)
    seconds = time.perf_counter() - start
    progress(1.0, "end")
    layers = layer_recovery(result, load_default_subject(subject))
    simulated = load_default_subject(subject)
    early = np.concatenate([simulated.roi_vertices[(a, h)] for a in ("V1", "V2", "V3") for h in "LR"])
    early = early[result.maps["true_ceiling"][early] > 0.3]
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "refit": layers["refit"],
            "attribution": layers["attribution"], "n_scored": layers["n_vertices"],
            "early_r": float(result.maps["r"][early].mean()), "n_early": int(early.size),
            "ari": category_cluster_ari(result)["ari"], "n_images": len(result.stimulus_ids),
            "stages": {k: round(v, 1) for k, v in stages.items() if v > 1}}


def _child(args, *extra) -> dict:
    command = [sys.executable, __file__, *extra, "--max-images", str(args.max_images or 0),
               "--n-permutations", str(args.n_permutations), "--subject", args.subject]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-images", type=int, default=0, help="library images (0: all 748)")
    parser.add_argument("--n-permutations", type=int, default=1000)
    parser.add_argument("--subject", default="v3")
    parser.add_argument("--ratio-images", type=int, default=256, help="images of the interleaved time ratio")
    parser.add_argument("--extract", choices=REDUCTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--interleaved", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--experiment", choices=REDUCTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--skip-experiments", action="store_true", help="only the extraction part")
    parser.add_argument("--skip-extraction", action="store_true", help="only the experiment part")
    args = parser.parse_args()
    max_images = args.max_images or None
    if args.extract:
        print(json.dumps(extract(args.extract, max_images)))
        return
    if args.interleaved:
        print(json.dumps(interleaved(args.ratio_images)))
        return
    if args.experiment:
        print(json.dumps(experiment(args.experiment, args.subject, max_images, args.n_permutations)))
        return
    if not args.skip_extraction:
        _extraction_part(args)
    if not args.skip_experiments:
        _experiment_part(args)


def _extraction_part(args) -> None:
    extraction = {r: _child(args, "--extract", r) for r in REDUCTIONS}
    print(f"Extraction, ResNet-50 wen18, {extraction['mean']['n_images']} library images, empty cache, CPU:")
    for reduction, row in extraction.items():
        print(f"  {reduction:18s} {row['seconds']:7.1f} s  {row['n_images'] / row['seconds']:5.2f} img/s  "
              f"peak RSS {row['peak_rss_mib']:6.0f} MiB  features {row['n_features']} columns, "
              f"{row['feature_mib']:.0f} MiB")
    full, means = extraction["random_projection"], extraction["mean"]
    ratio = _child(args, "--interleaved", "--ratio-images", str(args.ratio_images))
    print(f"  whole maps / means: peak RSS {full['peak_rss_mib'] / means['peak_rss_mib']:.2f}×; time "
          f"{ratio['seconds']['random_projection'] / ratio['seconds']['mean']:.2f}× (interleaved chunk by chunk on "
          f"{ratio['n_images']} images: {ratio['seconds']['mean']:.0f} s vs {ratio['seconds']['random_projection']:.0f} s)")


def _experiment_part(args) -> None:
    runs = {r: _child(args, "--experiment", r) for r in ("random_projection", "mean")}
    print(f"Default experiment, subject {args.subject}, {runs['mean']['n_images']} images, "
          f"{args.n_permutations} permutations (first run computes the subject's readings):")
    for reduction, row in runs.items():
        print(f"  {reduction:18s} {row['seconds']:7.1f} s  peak RSS {row['peak_rss_mib']:6.0f} MiB  "
              f"best layer ±2: refit {row['refit']:.2f}, attribution {row['attribution']:.2f} "
              f"({row['n_scored']} vertices)  V1–V3 r {row['early_r']:.3f} ({row['n_early']} vertices)  "
              f"ARI {row['ari']:.2f}")
        print(f"    stages (s): {row['stages']}")
    full, means = runs["random_projection"], runs["mean"]
    print(f"  whole maps − means: refit {full['refit'] - means['refit']:+.2f}, attribution "
          f"{full['attribution'] - means['attribution']:+.2f}, V1–V3 r {full['early_r'] - means['early_r']:+.3f}, "
          f"ARI {full['ari'] - means['ari']:+.2f}")


if __name__ == "__main__":
    main()
