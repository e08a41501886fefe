"""``python -m core library build`` and ``extract``: the offline stimulus library and layer features of an
image folder."""

from __future__ import annotations

import sys


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


def add_library_parser(commands) -> None:
    """The ``library`` verb."""
    library = commands.add_parser("library", help="the offline stimulus library")
    library_commands = library.add_subparsers(dest="action", required=True)
    build = library_commands.add_parser("build", help="build the library into the cache (once)")
    build.add_argument("--rebuild", action="store_true", help="rebuild even if it exists")
    build.set_defaults(func=_library_build)


def add_extract_parser(commands) -> None:
    """The ``extract`` verb."""
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
