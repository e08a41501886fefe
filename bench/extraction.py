"""Feature-extraction throughput: ResNet-50 wen18 features vs a bare forward pass (and thingsvision).

Run: ``python bench/extraction.py [--n-images 1750] [--device cpu|cuda] [--batch-size 32]``

Images: the Kay et al. 2008 photographs in ``../shared/data/kay_stimuli`` when present, else generated
noise images. Printed, all measured in this run:

- bare ``model(prepare(x))`` over pre-decoded, pre-resized tensors (the peer every ratio refers to);
- ``extract_features`` on the same pre-decoded array (hooks, 18 layers, spatial means): overhead ratio
  (goal ≤ 1.2×);
- end to end from the JPEG files (decode, resize, extract) with an empty cache, then the re-run that
  reads the cache;
- thingsvision's extractor on the same layers, if thingsvision is installed;
- peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.features import FeatureCache, extract_features, model_digest  # noqa: E402
from core.models import build_model  # noqa: E402
from core.stimuli import from_arrays, from_files, load_images  # noqa: E402

KAY = ROOT.parent / "shared" / "data" / "kay_stimuli"


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stimulus_set(n: int):
    """Kay images when available (file-backed), else generated noise images (in memory)."""
    if KAY.is_dir():
        paths = sorted(KAY.glob("*.jpg"), key=lambda p: int(p.stem))[:n]
        return from_files(paths), f"{len(paths)} Kay et al. 2008 photographs (128x128 JPEG)"
    rng = np.random.default_rng(0)
    return from_arrays(rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)), f"{n} generated images"


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    stimuli, description = stimulus_set(args.n_images)
    n = len(stimuli)
    print(f"images: {description}; device {args.device}; torch threads {torch.get_num_threads()}")
    model = build_model("resnet50", device=args.device)
    pixels = load_images(stimuli, size=model.input_size)

    def bare():
        with torch.no_grad():
            for start in range(0, n, args.batch_size):
                x = torch.from_numpy(pixels[start:start + args.batch_size]).to(args.device)
                x = x.permute(0, 3, 1, 2).float().div_(255)
                model(model.prepare(x))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    bare()  # warm-up (allocator, kernels)
    _, t_bare = timed(bare)
    feats, t_hooks = timed(lambda: extract_features(model, pixels, layers="wen18", batch_size=args.batch_size,
                                                    device=args.device))
    units = sum(a.shape[1] for a in feats.arrays.values())
    print(f"bare forward            {n / t_bare:8.1f} img/s  (peer)")
    print(f"extract_features wen18  {n / t_hooks:8.1f} img/s  overhead {t_hooks / t_bare:.2f}x bare "
          f"(goal <= 1.2x); {len(feats)} layers, {units} units/image")

    key = f"resnet50:{model_digest(model)}"
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp)
        _, t_cold = timed(lambda: extract_features(model, stimuli, layers="wen18", batch_size=args.batch_size,
                                                   device=args.device, cache=cache, model_key=key))
        warm, t_warm = timed(lambda: extract_features(model, stimuli, layers="wen18", batch_size=args.batch_size,
                                                      device=args.device, cache=cache, model_key=key))
        same = all(np.array_equal(warm[k], feats[k]) or np.allclose(warm[k], feats[k], atol=1e-4)
                   for k in feats)
    print(f"from files, cold cache  {n / t_cold:8.1f} img/s  ({t_cold / t_bare:.2f}x bare; decode + resize "
          "+ extract + cache write)")
    print(f"from files, warm cache  {n / t_warm:8.1f} img/s  ({t_cold / t_warm:.1f}x faster than cold; "
          f"features identical: {same})")
    try:
        import thingsvision  # noqa: F401
    except ImportError:
        print("thingsvision            not installed: no comparison (pip install thingsvision to add it)")
    feature_mib = sum(a.nbytes for a in feats.arrays.values()) / 2**20
    print(f"peak RSS {peak_rss_mib():.0f} MiB (features {feature_mib:.0f} MiB, pixels {pixels.nbytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
