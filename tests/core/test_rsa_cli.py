"""``python -m core rsa``: a tiny image folder and an RSA-toolbox .mat struct through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat
from scipy.spatial.distance import pdist, squareform

from core.__main__ import main
from tests.core.test_model_brain_rsa import random_alexnet  # noqa: F401  (fixture)

N_IMAGES = 8


@pytest.fixture
def image_folder(tmp_path, rng):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(N_IMAGES):  # img1 … img8 in natural order (img10 would come after img9)
        Image.fromarray(rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)).save(folder / f"img{i + 1}.png")
    return folder


def _struct_mat(path, rng, names=("V1", "V1", "IT")):
    """An RSA-toolbox style struct array RDMs(i).RDM / RDMs(i).name."""
    records = np.zeros(len(names), dtype=[("RDM", object), ("name", object)])
    for i, name in enumerate(names):
        records[i] = (squareform(pdist(rng.standard_normal((N_IMAGES, 5)), "correlation")), name)
    savemat(path, {"RDMs": records})
    return path


def test_rsa_cli_writes_one_row_per_layer_and_rdm(image_folder, tmp_path, rng, random_alexnet, capsys):  # noqa: F811
    mat = _struct_mat(tmp_path / "brain.mat", rng)
    out = tmp_path / "out.json"
    status = main(["rsa", "--images", str(image_folder), "--brain-rdms", f"{mat}:RDMs", "--networks", "alexnet",
                   "--layers", "features.1", "--n-permutations", "20", "--n-bootstrap", "40", "--out", str(out)])
    assert status == 0
    doc = json.loads(out.read_text())
    assert doc["method"] == "spearman"
    assert [(row["network"], row["layer"], row["rdm"]) for row in doc["rows"]] == [
        ("alexnet", "features.1", "V1"), ("alexnet", "features.1", "IT")]
    for row in doc["rows"]:
        assert {"r", "p", "ci_low", "ci_high"} <= set(row) and -1 <= row["r"] <= 1 and 0 < row["p"] <= 1
        assert row["ci_low"] <= row["ci_high"]
    assert set(doc["ceilings"]) == {"V1"}  # two subjects of V1; IT has one RDM
    assert doc["stimuli"] == [f"img{i + 1}.png" for i in range(N_IMAGES)]
    assert "model-brain RSA" in capsys.readouterr().err  # the progress bar


@pytest.mark.parametrize("content, message", [
    (lambda rng: {"RDM": rng.standard_normal((N_IMAGES, N_IMAGES))}, "not symmetric"),
    (lambda rng: {"RDM": squareform(pdist(rng.standard_normal((5, 3))))}, "5 conditions but 8 stimuli"),
])
def test_rsa_cli_bad_rdm_file_is_one_line_and_status_2(image_folder, tmp_path, rng, random_alexnet, capsys,  # noqa: F811
                                                       content, message):
    savemat(tmp_path / "bad.mat", content(rng))
    status = main(["rsa", "--images", str(image_folder), "--brain-rdms", str(tmp_path / "bad.mat"),
                   "--networks", "alexnet", "--out", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert status == 2 and not (tmp_path / "out.json").exists()
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: bad.mat") and message in last, err
    assert "Traceback" not in err and str(tmp_path) not in last


def test_rsa_cli_help_names_formats_and_the_conservative_interval(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rsa", "--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "CONSERVATIVE" in text and ".mat" in text and "RDM field" in text and "resnet50" in text
    assert "kendall_tau_a" in text
