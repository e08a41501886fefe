"""dashboard.services.model_brain_rsa: stimulus and RDM uploads (order, checks and their messages), the job and figure data."""

from __future__ import annotations

import base64
import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat
from scipy.spatial.distance import pdist, squareform

from dashboard.services import model_brain_rsa as rsa_services

N = 8


def _url(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def _png(rng) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def stimuli(rng):
    """8 images in two folders of a zip, numbered so that plain sorting would put img10 before img2."""
    members = {f"{'faces' if i % 2 else 'houses'}/img{i * 2 + 2}.png": _png(rng) for i in range(N)}
    return rsa_services.save_stimulus_upload([_url(_zip(members))], ["stimuli.zip"])["value"]


def _mat(rng, **variables) -> bytes:
    buffer = io.BytesIO()
    savemat(buffer, variables)
    return buffer.getvalue()


def _struct(rng, names=("V1", "V1", "IT")):
    records = np.zeros(len(names), dtype=[("RDM", object), ("name", object)])
    for i, name in enumerate(names):
        records[i] = (squareform(pdist(rng.standard_normal((N, 5)), "correlation")), name)
    return records


def test_zip_stimuli_follow_natural_order_with_folder_labels(stimuli):
    rows = rsa_services.stimulus_order(stimuli)
    assert [row["file"] for row in rows[:4]] == ["img4.png", "img8.png", "img12.png", "img16.png"]
    assert {row["label"] for row in rows[:4]} == {"faces"} and rows[-1]["label"] == "houses"
    assert rsa_services.stimulus_order_tsv(stimuli).splitlines()[1] == "1\timg4.png\tfaces"


def test_zip_order_table_gives_the_order(rng):
    members = {f"im{i}.png": _png(rng) for i in range(4)}
    members["stimuli.tsv"] = b"file\nim3.png\nim1.png\nim0.png\nim2.png\n"
    choice = rsa_services.save_stimulus_upload([_url(_zip(members))], ["s.zip"])["value"]
    assert [row["file"] for row in rsa_services.stimulus_order(choice)] == ["im3.png", "im1.png", "im0.png",
                                                                            "im2.png"]


@pytest.mark.parametrize("files, message", [
    (lambda rng: {"a.png": _png(rng), "b.png": _png(rng)}, "between 3 and"),
    (lambda rng: {"a.png": _png(rng), "b.png": _png(rng), "c.png": b"not an image"}, "c.png"),
])
def test_bad_stimuli_are_refused_with_a_message(rng, files, message):
    with pytest.raises(ValueError, match=message):
        rsa_services.save_stimulus_upload([_url(_zip(files(rng)))], ["s.zip"])


def _internal(text: str) -> bool:
    """Whether a message shows internals: None, NaN, class names, paths, reprs."""
    return bool(re.search(r"\bNone\b|\bnan\b|Error\b|<class|/tmp|/work|\\\\|array\(", text))


def test_each_bad_rdm_file_gets_its_own_message(rng, stimuli):
    good = _struct(rng)
    asym = rng.uniform(size=(N, N))
    with_nan = squareform(pdist(rng.standard_normal((N, 3))))
    with_nan[0, 1] = with_nan[1, 0] = np.nan
    negative = squareform(pdist(rng.standard_normal((N, 3))))
    negative[0, 1] = negative[1, 0] = -1.0
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    files = {"brain.mat": _mat(rng, RDMs=good), "asym.mat": _mat(rng, R=asym), "holes.csv": None,
             "small.npy": None, "negative.mat": _mat(rng, R=negative), "pickled.npy": pickled.getvalue(),
             "rect.mat": _mat(rng, R=rng.uniform(size=(N, N + 1))), "notes.txt": b"hello"}
    text = io.StringIO()
    np.savetxt(text, with_nan, delimiter=",")
    files["holes.csv"] = text.getvalue().encode()
    small = io.BytesIO()
    np.save(small, squareform(pdist(rng.standard_normal((5, 3)))))
    files["small.npy"] = small.getvalue()
    checked = rsa_services.save_rdm_uploads([_url(d) for d in files.values()], list(files), stimuli)
    by_file = {c["file"]: c for c in checked}
    assert by_file["brain.mat"]["value"] and "V1 (2 subjects), IT (1 subject); 8 conditions" in \
        by_file["brain.mat"]["message"]
    expected = {"asym.mat": "not symmetric", "holes.csv": "missing", "small.npy": "5 conditions but 8 stimuli",
                "negative.mat": "negative", "pickled.npy": "pickle", "rect.mat": "8×9",
                "notes.txt": "file type not accepted"}
    for name, words in expected.items():
        assert by_file[name]["value"] is None, name
        message = by_file[name]["message"]
        assert words in message and message.startswith(name.split(".")[0]) and not _internal(message), message


@pytest.fixture
def random_alexnet(monkeypatch):
    """``core.models.build_model`` gives AlexNet with random weights (no download)."""
    import torch

    import core.models

    build = core.models.build_model
    torch.manual_seed(0)
    model = build("alexnet", pretrained=False)
    monkeypatch.setattr(core.models, "build_model", lambda name, **_: model)


def test_run_gives_profiles_pair_mds_and_csv(rng, stimuli, random_alexnet, monkeypatch):
    (checked,) = rsa_services.save_rdm_uploads([_url(_mat(rng, RDMs=_struct(rng)))], ["brain.mat"], stimuli)
    steps = []
    path = rsa_services.run_rsa(stimuli, [checked["value"]], ["alexnet"], "spearman", 20, 40,
                                progress=lambda done, total, message="": steps.append(done / total))
    assert steps[-1] == 1.0
    profile = rsa_services.profile_data(path)
    (label, net), = profile["profiles"].items()
    assert profile["regions"] == ["V1", "IT"] and label == "AlexNet (ImageNet)"
    assert net["r"].shape == (len(net["layers"]), 2) and np.isfinite(profile["ceiling_lower"][0])
    assert np.isnan(profile["ceiling_lower"][1])  # IT: one RDM, no ceiling
    pair = rsa_services.rdm_pair_data(path, "IT")
    assert pair["brain"].shape == (N, N) and sorted(pair["order"]) == list(range(N))
    assert pair["brain"].max() == 100 and np.allclose(pair["brain"], pair["brain"].T)
    mds = rsa_services.mds_data(path)
    assert mds["xy"].shape == (2 + len(net["layers"]), 2) and mds["groups"][:2] == ["brain", "brain"]
    lines = rsa_services.rows_csv(path).splitlines()
    assert lines[0] == "network,layer,rdm,r,p,q,ci_low,ci_high,best"
    assert len([line for line in lines if line.startswith("alexnet,")]) == 2 * len(net["layers"])
    assert any("conservative" in line for line in lines if line.startswith("#"))
    assert rsa_services.result_order_tsv(path).splitlines()[1] == "1\timg4.png"
    import core.model_brain_rsa

    monkeypatch.setattr(core.model_brain_rsa, "run_model_brain_rsa", lambda *a, **k: pytest.fail("not cached"))
    assert rsa_services.run_rsa(stimuli, [checked["value"]], ["alexnet"], "spearman", 20, 40) == path


def test_run_and_results_refuse_what_is_not_theirs(stimuli):
    with pytest.raises(ValueError, match="Upload at least one brain RDM"):
        rsa_services.run_rsa(stimuli, [], ["alexnet"], "spearman", 0, 0)
    with pytest.raises(ValueError, match="no longer on the server"):
        rsa_services.run_rsa(stimuli, ["../../etc/passwd"], ["alexnet"], "spearman", 0, 0)
    with pytest.raises(ValueError, match="run the analysis first"):
        rsa_services.rsa_result("/etc/passwd")
