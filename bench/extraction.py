"""Feature-extraction throughput: ResNet-50 wen18 features vs a bare forward pass (and thingsvision).

Run: ``python bench/extraction.py [--n-images 1750] [--n-ratio 256] [--device cpu|cuda] [--batch-size 32]``

Images: the Kay et al. 2008 photographs in ``../shared/data/kay_stimuli`` when present, else generated
noise images. Printed, all measured in this run:

- bare ``model(prepare(x))`` over the first ``--n-ratio`` images, pre-decoded and pre-resized (the peer
  every ratio refers to);
- ``extract_features`` on the same pre-decoded array (hooks, 18 layers, spatial means): overhead ratio
  (goal ≤ 1.2×);
- end to end from all ``--n-images`` JPEG files (decode, resize, extract) with an empty cache, then the
  re-run that reads the cache;
- thingsvision's extractor on the same 18 layers of torchvision's ResNet-50 (full maps, its only
  reduction), timed against its own bare forward in its own interpreter (``--thingsvision-python``:
  thingsvision pins an old torch, so it usually lives in a separate venv), next to ours with
  ``reduction="full"`` on the same images;
- peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
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


def bare_forward(model, pixels: np.ndarray, batch_size: int, device: str) -> None:
    """``model(prepare(x))`` over pre-decoded uint8 images (n, h, w, 3): the peer of every ratio."""
    with torch.no_grad():
        for start in range(0, len(pixels), batch_size):
            x = torch.from_numpy(pixels[start:start + batch_size]).to(device)
            model(model.prepare(x.permute(0, 3, 1, 2).float().div_(255)))
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def compare_with_thingsvision(model, pixels: np.ndarray, peer_python: str, args) -> None:
    """Overhead over a bare forward: thingsvision (its interpreter) vs ours, both keeping full maps."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pixels.npy"
        np.save(path, pixels)
        run = subprocess.run([peer_python, str(ROOT / "bench" / "_thingsvision_peer.py"), str(path),
                              "--batch-size", str(args.batch_size)], capture_output=True, text=True, check=False)
    if run.returncode:
        print(f"thingsvision            failed: {run.stderr.strip().splitlines()[-1:]}")
        return
    peer = json.loads(run.stdout.strip().splitlines()[-1])

    bare_forward(model, pixels, args.batch_size, args.device)  # warm-up
    _, t_bare = timed(lambda: bare_forward(model, pixels, args.batch_size, args.device))
    _, t_full = timed(lambda: extract_features(model, pixels, layers="wen18", reduction="full",
                                               batch_size=args.batch_size, device=args.device))
    n = peer["n_images"]
    print(f"thingsvision (torch {peer['torch']}, torchvision ResNet-50, 18 modules, full maps) "
          f"{n / peer['thingsvision_s']:6.1f} img/s  overhead {peer['thingsvision_s'] / peer['bare_s']:.2f}x "
          f"its bare forward; ours with full maps {n / t_full:6.1f} img/s  overhead {t_full / t_bare:.2f}x "
          f"ours ({n} images)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--n-ratio", type=int, default=256, help="images for the bare-forward ratio")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--thingsvision-python", help="interpreter with thingsvision installed "
                        "(default: this one, when it has thingsvision)")
    parser.add_argument("--n-thingsvision", type=int, default=32,
                        help="images for the thingsvision comparison (full maps: ~25 MB per image)")
    args = parser.parse_args(argv)

    stimuli, description = stimulus_set(args.n_images)
    n = len(stimuli)
    print(f"images: {description}; device {args.device}; torch threads {torch.get_num_threads()}")
    model = build_model("resnet50", device=args.device)
    pixels = load_images(stimuli.subset(range(min(args.n_ratio, n))), size=model.input_size)
    n_ratio = len(pixels)

    bare_forward(model, pixels, args.batch_size, args.device)  # warm-up (allocator, kernels)
    _, t_bare = timed(lambda: bare_forward(model, pixels, args.batch_size, args.device))
    feats, t_hooks = timed(lambda: extract_features(model, pixels, layers="wen18", batch_size=args.batch_size,
                                                    device=args.device))
    units = sum(a.shape[1] for a in feats.arrays.values())
    print(f"bare forward            {n_ratio / t_bare:8.1f} img/s  (peer; {n_ratio} pre-decoded images)")
    print(f"extract_features wen18  {n_ratio / t_hooks:8.1f} img/s  overhead {t_hooks / t_bare:.2f}x bare "
          f"(goal <= 1.2x); {len(feats)} layers, {units} units/image")

    key = f"resnet50:{model_digest(model)}"
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp)
        cold, t_cold = timed(lambda: extract_features(model, stimuli, layers="wen18", batch_size=args.batch_size,
                                                   device=args.device, cache=cache, model_key=key))
        warm, t_warm = timed(lambda: extract_features(model, stimuli, layers="wen18", batch_size=args.batch_size,
                                                      device=args.device, cache=cache, model_key=key))
        same = all(np.array_equal(warm[k], cold[k]) and np.allclose(warm[k][:n_ratio], feats[k], atol=1e-4)
                   for k in feats)
    print(f"from files, cold cache  {n / t_cold:8.1f} img/s  ({(t_cold / n) / (t_bare / n_ratio):.2f}x bare "
          f"per image; {n} images: decode + resize + extract + cache write)")
    print(f"from files, warm cache  {n / t_warm:8.1f} img/s  ({t_cold / t_warm:.1f}x faster than cold; "
          f"features identical: {same})")
    peer_python = args.thingsvision_python or (sys.executable if importlib.util.find_spec("thingsvision") else None)
    if peer_python is None:
        print("thingsvision            not installed: no comparison (pass --thingsvision-python PATH)")
    else:
        compare_with_thingsvision(model, pixels[:args.n_thingsvision], peer_python, args)
    feature_mib = sum(a.nbytes for a in cold.arrays.values()) / 2**20
    print(f"peak RSS {peak_rss_mib():.0f} MiB (features {feature_mib:.0f} MiB, pixels {pixels.nbytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
