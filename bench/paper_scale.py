"""Paper scale: 64,000 images (80 categories × 800) → ResNet-50 wen18 features → PCA → encoding predict →
80 category maps on fsLR-32k, selectivity, clustering. Prints stage times and peak RAM (and VRAM on CUDA).

Run: ``python bench/paper_scale.py [--n-images 64000] [--device cpu|cuda] [--chunk 500]``

Images: no 64k-image set is present offline, so they are generated from the stimulus library (748 photos
in 15 categories): category ``k`` takes the photos of library category ``k mod 15`` and gives each image a
seeded random crop (scale 0.5–1), a horizontal flip and a brightness change; categories that share a
library category differ by a fixed colour gain per category. The encoding model is the default
experiment's (``core.experiments``, fitted on ``--fit-images`` library images; taken from the cache, else
fitted first and not timed). Images are processed in chunks, so memory is bounded by one chunk plus the
category sums: predicted maps are never all in memory. Selectivity (d′) uses up to
``--selectivity-exemplars`` exemplars per category (all of them when fewer), because d′ needs each
exemplar's map; clustering uses the category maps on the experiment's predictable vertices.
With ``--n-images`` below 64,000 the time of each per-image stage is also projected linearly to 64,000.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.extraction import peak_rss_mib  # noqa: E402
from core import rsa  # noqa: E402
from core.categories import category_maps, category_selectivity  # noqa: E402
from core.clustering import cluster_categories  # noqa: E402
from core.encoding import load_encoding_model, stack_layer_features  # noqa: E402
from core.experiments import experiment_dir, run_default_experiment  # noqa: E402
from core.features import extract_features, reduction_options  # noqa: E402
from core.models import RESNET50_WEN18, build_model  # noqa: E402
from core.stimuli import load_images, load_stimulus_library  # noqa: E402

PAPER_IMAGES, PAPER_CATEGORIES = 64_000, 80

#: Stages run per chunk, inside the streamed category-map accumulation.
STREAMED_STAGES = ("augment", "features (ResNet-50 wen18)", "PCA transform", "encoding predict")


class Stopwatch:
    """Accumulated seconds per named stage."""

    def __init__(self, device: str):
        self.device = device
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fn, *args, **kwargs):
        if self.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start
        return result


def library_pixels(size: int = 256):
    """All library photos at ``size`` × ``size`` (center crop) with their category labels."""
    library = load_stimulus_library()
    pixels = load_images(library, size=(size, size), resize_mode="center_crop")
    return pixels, np.asarray(library.labels)


def augmented_chunk(pixels, labels, sources, categories: np.ndarray, seed: int, out: int = 224) -> np.ndarray:
    """Images of the given categories (one per entry), uint8 (n, out, out, 3); see the module docstring."""
    rng = np.random.default_rng(seed)
    gains = np.random.default_rng(1).uniform(0.8, 1.2, (PAPER_CATEGORIES, 3))
    images = np.empty((len(categories), out, out, 3), np.uint8)
    side = pixels.shape[1]
    for i, category in enumerate(categories):
        members = np.flatnonzero(labels == sources[category % len(sources)])
        image = pixels[rng.choice(members)]
        crop = int(side * np.sqrt(rng.uniform(0.5, 1.0)))
        top, left = rng.integers(0, side - crop + 1, 2)
        patch = torch.from_numpy(image[top:top + crop, left:left + crop]).permute(2, 0, 1)[None].float()
        patch = torch.nn.functional.interpolate(patch, size=(out, out), mode="bilinear", antialias=True)[0]
        patch = patch.permute(1, 2, 0).numpy() * gains[category] * rng.uniform(0.8, 1.2)
        images[i] = np.clip(patch[:, ::-1] if rng.random() < 0.5 else patch, 0, 255).astype(np.uint8)
    return images


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=PAPER_IMAGES)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--chunk", type=int, default=500, help="images per chunk")
    parser.add_argument("--fit-images", type=int, default=160, help="library images of the encoding fit")
    parser.add_argument("--selectivity-exemplars", type=int, default=100, help="per category, for d′")
    args = parser.parse_args(argv)
    if args.n_images % PAPER_CATEGORIES:
        parser.error(f"--n-images must be a multiple of {PAPER_CATEGORIES}")
    watch = Stopwatch(args.device)

    experiment = run_default_experiment(max_images=args.fit_images, device=args.device)
    model = load_encoding_model(experiment_dir(experiment.meta["key"]) / "encoding")
    network = build_model("resnet50", device=args.device)
    pixels, labels = watch("library decode", library_pixels)
    sources = np.unique(labels)
    per_category = args.n_images // PAPER_CATEGORIES
    order = np.random.default_rng(0).permutation(np.repeat(np.arange(PAPER_CATEGORIES), per_category))
    keep_per_category = min(per_category, args.selectivity_exemplars)
    kept_maps, kept_labels, kept_count = [], [], np.zeros(PAPER_CATEGORIES, int)
    print(f"{args.n_images} images ({PAPER_CATEGORIES} categories × {per_category}) from {len(labels)} library "
          f"photos in {len(sources)} categories; encoding model of experiment {experiment.meta['key']} "
          f"({model.ridge_.coef_.shape[-1]} vertices); device {args.device}")

    def predicted_chunks():
        for start in range(0, args.n_images, args.chunk):
            categories = order[start:start + args.chunk]
            images = watch("augment", augmented_chunk, pixels, labels, sources, categories, seed=start)
            features = watch("features (ResNet-50 wen18)", extract_features, network, images,
                             layers=list(RESNET50_WEN18), **reduction_options(model.meta_), device=args.device,
                             batch_size=min(args.chunk, 256 if args.device == "cuda" else 32))
            X, _ = stack_layer_features({layer: features[layer] for layer in RESNET50_WEN18})
            Z = watch("PCA transform", model.pca_.transform, X)
            maps = watch("encoding predict", model.ridge_.predict, Z).astype(np.float32)
            take = []
            for i, category in enumerate(categories):
                if kept_count[category] < keep_per_category:
                    kept_count[category] += 1
                    take.append(i)
            kept_maps.append(maps[take].astype(np.float16))
            kept_labels.append(categories[take])
            print(f"  {start + len(categories):6d} images  {time.strftime('%H:%M:%S')}", flush=True)
            yield maps, categories

    names, means = watch("category maps (streamed)", category_maps, predicted_chunks(), device=args.device)
    # the chunks are made inside category_maps' loop: keep only its own accumulation time
    watch.seconds["category maps (streamed)"] -= sum(watch.seconds[stage] for stage in STREAMED_STAGES)
    exemplars = np.concatenate(kept_maps).astype(np.float32)
    _, dprime = watch("selectivity d′", category_selectivity, exemplars, np.concatenate(kept_labels))
    mask = rsa.predictable_vertices(experiment.maps["r"], experiment.maps["q"], r_min=0.0, q_max=0.05)
    similarity = watch("clustering", rsa.category_similarity, means, mask=mask)
    clustering = watch("clustering", cluster_categories, similarity, k_range=range(2, 11), random_state=0)

    per_image = (*STREAMED_STAGES, "category maps (streamed)")
    total = sum(watch.seconds.values())
    scale = PAPER_IMAGES / args.n_images
    print(f"\n{'stage':<28}{'seconds':>10}{'projected 64k':>16}")
    for stage, seconds in watch.seconds.items():
        projected = seconds * scale if stage in per_image else seconds
        print(f"{stage:<28}{seconds:10.1f}{projected:16.1f}")
    projected_total = sum(s * scale if k in per_image else s for k, s in watch.seconds.items())
    print(f"{'total':<28}{total:10.1f}{projected_total:16.1f}")
    print(f"category maps {means.shape}, d′ {dprime.shape} from {len(exemplars)} exemplars, "
          f"{int(mask.sum())} predictable vertices, best k = {clustering.best_k}")
    print(f"peak RAM {peak_rss_mib():.0f} MiB (one chunk of {args.chunk} images + category sums + "
          f"{len(exemplars)} exemplar maps for d′; independent of --n-images beyond that)")
    if args.device == "cuda":
        print(f"peak VRAM {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"categories: {len(names)}")


if __name__ == "__main__":
    main()
