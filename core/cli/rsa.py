"""``python -m core rsa``: model-brain RSA of every network layer against brain RDM files."""

from __future__ import annotations

import argparse
import sys

from core.cli.common import stage_bar

#: Stimulus permutations and bootstrap samples of ``rsa`` by default.
RSA_PERMUTATIONS = 1000
RSA_BOOTSTRAP = 1000


def _rsa(args) -> int:
    import json

    from core.files import atomic_open
    from core.model_brain_rsa import run_model_brain_rsa

    networks = [name.strip() for name in args.networks.split(",") if name.strip()]
    bar = stage_bar(1, "model-brain RSA")

    def progress(done, total, message=""):
        bar.total, bar.n = total, done
        bar.set_postfix_str(message[:60], refresh=True)

    try:
        result = run_model_brain_rsa(args.images, args.brain_rdms, networks, layers=args.layers, method=args.method,
                                     n_permutations=args.n_permutations, n_bootstrap=args.n_bootstrap,
                                     seed=args.seed, progress=progress, metric=args.metric,
                                     reduction=args.reduction, measure=args.measure, device=args.device)
    except ValueError as exc:  # UserError: input that cannot be used
        bar.leave = False
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    with atomic_open(args.out, "w") as handle:
        json.dump(result.to_json(), handle, indent=1)
    for k, region in enumerate(result.regions):
        i = int(result.best[k])
        print(f"{region}: best {result.networks[i]} {result.layers[i]} r = {result.r[i, k]:.3f} "
              f"[{result.ci_low[i, k]:.3f}, {result.ci_high[i, k]:.3f}] (conservative 95 % bootstrap CI)")
    print(f"wrote {args.out}: {len(result.networks)} layers × {len(result.regions)} brain RDMs over "
          f"{len(result.stimulus_ids)} stimuli")
    return 0


class _RsaHelp(argparse.Action):
    """``rsa --help``: the help with the valid networks, methods and file formats, read from their registries
    only when asked (importing them takes seconds, which every other verb would pay)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):  # noqa: A002
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from core.model_brain_rsa import NETWORK_METRICS, RSA_NETWORKS
        from core.rdm_files import RDM_SUFFIXES
        from core.rsa import COMPARE_METHODS

        parser.epilog = (f"Networks: {', '.join(RSA_NETWORKS)}.\nMethods: {', '.join(sorted(COMPARE_METHODS))}.\n"
                         f"Network RDM metrics: {', '.join(NETWORK_METRICS)}.\n"
                         f"Brain RDM file types: {', '.join(RDM_SUFFIXES)}.\n{parser.epilog}")
        parser.print_help()
        parser.exit()


def add_rsa_parser(commands) -> None:
    rsa = commands.add_parser(
        "rsa", help="model-brain RSA: every network layer against your brain RDMs, for your stimuli",
        formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False,
        description="Compare the RDM of every layer of the chosen networks with every brain RDM over an image\n"
                    "folder. One row per network × layer × brain RDM: the comparison r, a one-sided\n"
                    "stimulus-permutation p (calibrated) with Benjamini-Hochberg q over each network's layers, and\n"
                    "a 95 % bootstrap interval over stimuli (rsatoolbox's eval_bootstrap_pattern). The interval is\n"
                    "CONSERVATIVE: it covers more than 95 % (about 1.8x too wide on null data), so read it as a\n"
                    "generous range and decide with p. Brain RDM stacks (several subjects of one region) get\n"
                    "lower/upper noise ceilings.",
        epilog="Brain RDM files (FILE, or FILE:VAR for one variable):\n"
               "  .mat      n×n, n×n×k (subjects) or condensed n(n-1)/2 arrays; RSA-toolbox struct arrays with an\n"
               "            RDM field and an optional name field (elements sharing a name are one region's subjects)\n"
               "  .npy/.npz the same numeric layouts (never unpickled)\n"
               "  .csv/.tsv one square matrix, optional header row of condition names\n"
               "  .h5       rsatoolbox RDMs.save\n"
               "Stimulus order: DIR/stimuli.tsv (column 'file') if present, else natural sort of the file names;\n"
               "the order used is written to OUT.json as 'stimuli'.\n"
               "Output: {\"method\", \"rows\": [{\"network\", \"layer\", \"rdm\", \"r\", \"p\", \"ci_low\", \"ci_high\", \"q\"}],\n"
               "         \"ceilings\": {rdm: {\"lower\", \"upper\"}}, \"best\", \"stimuli\"} (missing values null).\n"
               "Exit status 2 when an input cannot be used (one line on stderr says why).")
    rsa.add_argument("-h", "--help", action=_RsaHelp, help="show this help (with the valid choices) and exit")
    rsa.add_argument("--images", required=True, help="image folder (or a stimuli.tsv listing the images in order)")
    rsa.add_argument("--brain-rdms", required=True, nargs="+", metavar="FILE[:VAR]",
                     help="brain RDM files (types below)")
    rsa.add_argument("--networks", default="resnet50", help="comma-separated zoo networks (below; default resnet50)")
    rsa.add_argument("--layers", default="default", help="layer set of every network (default; wen18 for resnet50)")
    rsa.add_argument("--method", default="spearman", help="RDM comparison (below; default spearman)")
    rsa.add_argument("--metric", default="correlation", help="network RDM metric (below; default correlation)")
    rsa.add_argument("--reduction", default="mean", choices=["full", "mean", "random_projection"],
                     help="layer features: spatial mean per channel (default), random projection or every unit")
    rsa.add_argument("--measure", help="dissimilarity measure of brain RDM files that do not name theirs")
    rsa.add_argument("--n-permutations", type=int, default=RSA_PERMUTATIONS,
                     help=f"stimulus permutations per test (default {RSA_PERMUTATIONS}; 0: no p)")
    rsa.add_argument("--n-bootstrap", type=int, default=RSA_BOOTSTRAP,
                     help=f"bootstrap samples of the stimuli (default {RSA_BOOTSTRAP}; 0: no interval, else >= 40)")
    rsa.add_argument("--seed", type=int, default=0, help="random seed (permutations, bootstrap)")
    rsa.add_argument("--device", default="cpu")
    rsa.add_argument("--out", required=True, help="output .json")
    rsa.set_defaults(func=_rsa)
