"""Import (and fit) of an NSD-size study: time and peak resident memory, against plain in-memory peers.

Run: ``python bench/study_import.py [--images 10000] [--vertices 40000] [--image-size 8] [--folder DIR] [--keep]
[--fit [--units 1024] [--permutations 100] [--outer-folds 5]]``

Writes a synthetic subject in the Algonauts 2023 layout (tiny distinct PNGs named like the challenge's, float32
``{lh,rh}_training_fmri.npy`` of images × vertices split over the hemispheres, fsaverage masks, two ROI classes)
into ``--folder`` (default: a temporary folder), then, each in a fresh interpreter so that peak RSS
(``ru_maxrss``) is its own:

- ``import_study("algonauts2023", ...)`` into a temporary store (images decoded and hashed, rows streamed,
  NaN/constant vertices looked for, ``study.json`` last);
- the peer every ratio refers to: the obvious in-memory import — ``np.load`` both hemispheres,
  ``np.hstack``, ``np.save`` — which holds the responses twice.

With ``--fit``, then (fresh interpreters again):

- ``run_study_experiment`` on the imported study with a features file of ``--units`` correlated random
  features per image in 4 layers (no network: the bench measures the fit, not extraction): outer
  cross-validation (Algonauts data have no repeats), layer-wise PCA, per-vertex ridge with 9-fold CV of the
  penalty, permutation p-values, FDR, scores and model written;
- the peer: scikit-learn's ``RidgeCV(alpha_per_target=True)`` (efficient leave-one-out) fitted once on the
  same features and the responses loaded into memory — one fit where ours does ``--outer-folds`` + 1.

Printed: time and peak RSS of each (and RSS after the imports, before any work), ratios, sizes.
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
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.studies.sources import write_npy_header  # noqa: E402

FSAVERAGE_HEMISPHERE = 163_842

_IMPORT = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from core.studies import import_study
import core.features, core.stimuli, nibabel  # imported by the import itself: counted in the baseline
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
baseline = rss()
start = time.perf_counter()
study = import_study("algonauts2023", {folder!r}, "nsd-bench")
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_mib": rss(), "baseline_mib": baseline,
                  "vertices": study.n_vertices, "stimuli": study.n_stimuli}}))
"""

_PEER = """
import json, resource, time
import numpy as np
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
baseline = rss()
start = time.perf_counter()
fmri = {fmri!r}
both = np.hstack([np.load(fmri + "/lh_training_fmri.npy"), np.load(fmri + "/rh_training_fmri.npy")])
np.save({out!r}, both)
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_mib": rss(), "baseline_mib": baseline}}))
"""


_FIT = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from core.studies import load_study
from core.studies.experiment import run_study_experiment
import core.encoding, sklearn.model_selection  # imported by the fit itself: counted in the baseline
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
baseline = rss()
start = time.perf_counter()
scores = run_study_experiment(load_study("nsd-bench", check_images=False), {out!r}, features={features!r},
                              n_permutations={permutations}, n_outer_folds={outer_folds})
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_mib": rss(), "baseline_mib": baseline,
                  "significant": int((scores.q < 0.05).sum())}}))
"""

_FIT_PEER = """
import json, resource, time
import numpy as np
from sklearn.linear_model import RidgeCV
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
baseline = rss()
start = time.perf_counter()
fmri = {fmri!r}
Y = np.hstack([np.load(fmri + "/lh_training_fmri.npy"), np.load(fmri + "/rh_training_fmri.npy")])
with np.load({features!r}) as data:
    X = np.hstack([data[name] for name in data.files if name.startswith("layer:")])
RidgeCV(alphas=np.logspace(-1, 5, 7), alpha_per_target=True).fit(X, Y)
print(json.dumps({{"seconds": time.perf_counter() - start, "peak_mib": rss(), "baseline_mib": baseline}}))
"""


def write_features(path: Path, n_images: int, n_units: int, seed: int = 1) -> None:
    """A features ``.npz`` for the subject's images: 4 layers of correlated random units (a shared factor)."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_images, 32), dtype=np.float32)
    layers = {}
    for k in range(4):
        mixing = rng.standard_normal((32, n_units // 4), dtype=np.float32)
        layers[f"layer:block{k + 1}"] = shared @ mixing + rng.standard_normal((n_images, n_units // 4),
                                                                             dtype=np.float32)
    ids = np.array([f"train-{i + 1:04d}_nsd-{i:05d}.png" for i in range(n_images)])
    np.savez(path, stimulus_ids=ids, **layers)


def write_subject(folder: Path, n_images: int, n_vertices: int, seed: int = 0, image_size: int = 8) -> None:
    """A synthetic Algonauts 2023 subject folder (responses written block by block).

    Images: ``image_size`` square PNGs whose first pixels spell the index (all distinct); beyond 8 pixels, a
    smooth random picture (NSD's are 425 × 425).
    """
    rng = np.random.default_rng(seed)
    images = folder / "training_split" / "training_images"
    images.mkdir(parents=True)
    base = np.zeros((image_size, image_size, 3), np.uint8)
    if image_size > 8:
        coarse = rng.integers(0, 256, (image_size // 16 + 1, image_size // 16 + 1, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((image_size, image_size), Image.BILINEAR))
    for i in range(n_images):
        pixels = base.copy()
        pixels.reshape(-1)[:4] = np.frombuffer(int(i).to_bytes(4, "little"), np.uint8)
        Image.fromarray(pixels).save(images / f"train-{i + 1:04d}_nsd-{i:05d}.png")
    fmri = folder / "training_split" / "training_fmri"
    fmri.mkdir(parents=True)
    masks = folder / "roi_masks"
    masks.mkdir()
    halves = {"lh": n_vertices // 2, "rh": n_vertices - n_vertices // 2}
    for hemisphere, n in halves.items():
        with open(fmri / f"{hemisphere}_training_fmri.npy", "wb") as handle:
            write_npy_header(handle, n_images, n)
            for start in range(0, n_images, 500):
                rows = min(500, n_images - start)
                rng.standard_normal((rows, n), dtype=np.float32).tofile(handle)
        selected = np.zeros(FSAVERAGE_HEMISPHERE, bool)
        selected[rng.choice(FSAVERAGE_HEMISPHERE, n, replace=False)] = True
        np.save(masks / f"{hemisphere}.all-vertices_fsaverage_space.npy", selected)
        for roi_class, n_ids in (("prf-visualrois", 7), ("floc-faces", 5)):
            np.save(masks / f"{hemisphere}.{roi_class}_challenge_space.npy", rng.integers(0, n_ids + 1, n))


def run(code: str, env_cache: Path, *, may_fail: bool = False) -> dict | None:
    """The json line printed by ``code`` in a fresh interpreter; None if it failed and ``may_fail`` (a peer
    killed by the OOM killer), else exit with its error."""
    env = {"VFS_CACHE": str(env_cache), "PATH": "/usr/bin:/bin", "HOME": str(env_cache)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        if may_fail:
            return None
        raise SystemExit(f"failed (exit {done.returncode}, -9: killed, e.g. out of memory):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--vertices", type=int, default=40_000)
    parser.add_argument("--image-size", type=int, default=8, help="side of the PNGs in pixels (NSD: 425)")
    parser.add_argument("--folder", help="where to write the synthetic subject (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the subject and the store")
    parser.add_argument("--fit", action="store_true", help="also fit the imported study (run_study_experiment)")
    parser.add_argument("--units", type=int, default=1024, help="features per image for --fit")
    parser.add_argument("--permutations", type=int, default=100, help="permutations of the p-values for --fit")
    parser.add_argument("--outer-folds", type=int, default=5, help="outer CV folds for --fit")
    args = parser.parse_args()
    work = Path(args.folder or tempfile.mkdtemp(prefix="study-bench-"))
    subject = work / "subj01"
    size = args.images * args.vertices * 4
    try:
        if not subject.exists():
            start = time.perf_counter()
            write_subject(subject, args.images, args.vertices, image_size=args.image_size)
            print(f"wrote {subject}: {args.images:,} images of {args.image_size} px, {args.vertices:,} vertices "
                  f"({size / 2**30:.2f} GiB float32) in {time.perf_counter() - start:.0f} s")
        store = work / "cache"
        shutil.rmtree(store, ignore_errors=True)
        ours = run(_IMPORT.format(root=str(ROOT), folder=str(subject)), store)
        peer = run(_PEER.format(fmri=str(subject / "training_split" / "training_fmri"),
                                out=str(work / "peer.npy")), store)
        (work / "peer.npy").unlink(missing_ok=True)
        print(f"import_study (algonauts2023): {ours['seconds']:.1f} s, peak RSS {ours['peak_mib']:,.0f} MiB "
              f"({ours['peak_mib'] - ours['baseline_mib']:,.0f} MiB above the {ours['baseline_mib']:,.0f} MiB of "
              f"the imported modules); {ours['stimuli']:,} stimuli, {ours['vertices']:,} vertices")
        print(f"peer (np.load + np.hstack + np.save): {peer['seconds']:.1f} s, peak RSS {peer['peak_mib']:,.0f} "
              f"MiB ({peer['peak_mib'] - peer['baseline_mib']:,.0f} MiB above its modules)")
        print(f"responses {size / 2**20:,.0f} MiB; ours / peer: time {ours['seconds'] / peer['seconds']:.2f}x, "
              f"peak RSS above modules {(ours['peak_mib'] - ours['baseline_mib']) / max(1.0, peer['peak_mib'] - peer['baseline_mib']):.3f}x")
        if args.fit:
            fit_bench(args, work, subject, store)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def fit_bench(args, work: Path, subject: Path, store: Path) -> None:
    """Fit the imported study (ours) and one in-memory RidgeCV (peer); print time, peak RSS and ratios."""
    features = work / "features.npz"
    write_features(features, args.images, args.units)
    ours = run(_FIT.format(root=str(ROOT), out=str(work / "fit"), features=str(features),
                           permutations=args.permutations, outer_folds=args.outer_folds), store)
    ours_mib = ours["peak_mib"] - ours["baseline_mib"]
    print(f"run_study_experiment ({args.outer_folds} outer folds + final fit, {args.units} features, "
          f"{args.permutations} permutations): {ours['seconds']:.1f} s, peak RSS {ours['peak_mib']:,.0f} MiB "
          f"({ours_mib:,.0f} MiB above its modules); {ours['significant']:,} vertices with q < 0.05 (pure noise)",
          flush=True)
    peer = run(_FIT_PEER.format(fmri=str(subject / "training_split" / "training_fmri"), features=str(features)),
               store, may_fail=True)
    if peer is None:
        print("peer (np.load + sklearn RidgeCV alpha_per_target, one fit): failed (killed: out of memory)")
        return
    peer_mib = peer["peak_mib"] - peer["baseline_mib"]
    print(f"peer (np.load + sklearn RidgeCV alpha_per_target, one fit): {peer['seconds']:.1f} s, peak RSS "
          f"{peer['peak_mib']:,.0f} MiB ({peer_mib:,.0f} MiB above its modules)")
    print(f"ours / peer: time {ours['seconds'] / peer['seconds']:.2f}x, peak RSS above modules "
          f"{ours_mib / max(1.0, peer_mib):.3f}x")


if __name__ == "__main__":
    main()
