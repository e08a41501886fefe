"""Identity & Expression services without networks: the faces download, uploaded region responses (checks and
their messages), and the identity − expression difference on a seeded face-analysis result in a tmp cache."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.distance import pdist

from core.errors import UserError
from core.rsa import RDM
from core.workflows.faces import FaceAnalysisResult
from core.workflows.store import save_result
from dashboard import services
from dashboard.services import faces as face_services

N = services.N_DEFAULT_FACES


@pytest.fixture
def sources():
    """Two independent (48, 30) stimulus codes: ``identity`` drives the identity net, ``expression`` the other."""
    rng = np.random.default_rng(0)
    return {"identity": rng.standard_normal((N, 30)), "expression": rng.standard_normal((N, 30))}


@pytest.fixture
def analysis(vfs_folders, sources):
    """A seeded face-analysis result in the test's cache: identity net (early: noisy, late: clean code), expression net."""
    rng = np.random.default_rng(1)
    identity, expression = sources["identity"], sources["expression"]
    codes = [identity + 3 * rng.standard_normal(identity.shape), identity, expression]
    ids = tuple(f"gan{k // 4:02d}_{k % 4}" for k in range(N))
    network_rdms = RDM([pdist(code, "correlation") for code in codes], "correlation", ids, rdm_descriptors={
        "network": ["face_identity", "face_identity", "face_expression"], "layer": ["early", "late", "dense"]})
    empty = np.zeros(0)
    result = FaceAnalysisResult(
        regions=(), networks=("face_identity", "face_expression"), layers=(("early", "late"), ("dense",)),
        r=np.zeros((0, 2, 2)), p=np.zeros((0, 2, 2)), ceiling_lower=empty, ceiling_upper=empty, difference=empty,
        difference_low=empty, difference_high=empty, difference_p=empty, difference_layers=(),
        difference_n_bootstrap=1000, meta={}, images=rng.integers(0, 256, (N, 8, 8, 3), dtype=np.uint8),
        network_rdms=network_rdms, ids=ids,
        identities=tuple(f"gan{k // 4:02d}" for k in range(N)), expressions=("happy", "neutral") * (N // 2),
        label_sources={"identity": "generated", "expression": "model: face_expression"}, decode_identity={},
        decode_expression={}, chance={}, congruence={}, congruence_chance={}, notes=())
    prefix = vfs_folders.cache / "faces" / "default-test-v3"
    save_result(result, prefix)
    return str(prefix)


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_default_faces_zip_holds_the_faces_in_stimulus_order_with_their_labels(analysis):
    name, content = services.default_faces_zip(analysis)
    res = services.face_analysis_result(analysis)
    assert name == "virtual-fmri-studio-faces-48.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        pngs = sorted(n for n in archive.namelist() if n.endswith(".png"))
        assert pngs[:2] == ["00_gan00_0.png", "01_gan00_1.png"] and len(pngs) == N
        for k in (0, 47):
            np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(archive.read(pngs[k])))), res["images"][k])
        rows = list(csv.DictReader(io.StringIO(archive.read("faces.csv").decode())))
        assert "model: face_expression" in archive.read("README.txt").decode()
    assert [r["file"] for r in rows] == pngs
    assert rows[5] == {"index": "5", "file": "05_gan01_1.png", "id": "gan01_1", "identity": "gan01",
                       "expression": "neutral"}


def test_uploaded_regions_recover_which_network_drives_them(analysis, sources):
    """Known answer: a region built from the identity code is closer to the identity net, one built from the
    expression code to the expression net; the reported difference is r(identity) − r(expression)."""
    rng = np.random.default_rng(2)
    ffa = sources["identity"][None] + 0.5 * rng.standard_normal((4, N, 30))
    sts = sources["expression"] + 0.5 * rng.standard_normal((N, 30))
    data = npz_bytes(FFA=ffa, STS=sts.astype(np.float32))
    steps = []
    path = services.compare_uploaded_face_regions(data, "mine.npz", analysis, progress=lambda done, total, m: steps.append(done / total))
    res = services.face_analysis_result(path)
    assert res["regions"] == ["FFA", "STS"] and res["filename"] == "mine.npz"
    assert res["shapes"] == {"FFA": [4, N, 30], "STS": [1, N, 30]}
    assert res["difference_layers"] == [["late", "dense"], ["late", "dense"]]
    assert res["difference"][0] > 0.5 and res["difference_low"][0] > 0 and res["difference_p"][0] < 0.01
    assert res["difference"][1] < -0.5 and res["difference_high"][1] < 0 and res["difference_p"][1] < 0.01
    np.testing.assert_allclose(res["difference"], res["r"][:, 0, 1] - res["r"][:, 1, 0])
    assert np.isfinite(res["ceiling_lower"][0]) and np.isnan(res["ceiling_lower"][1])  # 4 repeats vs 1
    assert res["difference_n_bootstrap"] == 1000 and steps[-1] == 1.0
    assert services.compare_uploaded_face_regions(data, "again.npz", analysis) == path  # cached by content


def test_uploaded_regions_need_the_analysis_first(analysis, sources):
    data = npz_bytes(FFA=sources["identity"])
    with pytest.raises(ValueError, match="Run the analysis first"):
        services.compare_uploaded_face_regions(data, "mine.npz", None)
    with pytest.raises(ValueError, match="No face analysis"):
        services.compare_uploaded_face_regions(data, "mine.npz", analysis + "-gone")


def _bad_uploads():
    rng = np.random.default_rng(3)
    good = rng.standard_normal((N, 5))
    constant = good.copy()
    constant[7] = 1.0
    with_nan = good.copy()
    with_nan[0, :3] = np.nan
    npy = io.BytesIO()
    np.save(npy, good)
    return {
        "not a zip": (b"region,values\n", "is not an .npz file"),
        "one .npy": (npy.getvalue(), "single .npy array"),
        "empty": (npz_bytes(), "holds no arrays"),
        "pickled": (npz_bytes(FFA=np.array([good, "x"], dtype=object)), "Python objects"),
        "too many regions": (npz_bytes(**{f"r{i}": good for i in range(21)}), "at most 20 regions"),
        "bad name": (npz_bytes(**{"FFA!": good}), "not a region name"),
        "text": (npz_bytes(FFA=np.array(["a"] * N)), "give real numbers"),
        "1-D": (npz_bytes(FFA=good[:, 0]), r"must have shape \(48, channels\) .* got \(48\)"),
        "40 stimuli": (npz_bytes(FFA=good[:40]), "has 40 stimuli"),
        "transposed": (npz_bytes(FFA=good.T), "transpose it"),
        "one channel": (npz_bytes(FFA=good[:, :1]), "needs at least 2"),
        "NaN": (npz_bytes(FFA=with_nan), "has 3 missing or infinite values"),
        "constant": (npz_bytes(FFA=constant), "first: stimulus 7"),
    }


@pytest.mark.parametrize("case", list(_bad_uploads()))
def test_bad_uploads_say_what_is_wrong(case):
    data, message = _bad_uploads()[case]
    with pytest.raises(UserError, match=message):
        services.read_face_patterns(data, "mine.npz")


def test_uploads_over_the_limit_are_refused_sent_or_unpacked(monkeypatch):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, FFA=np.zeros((N, 20_000), np.float32))  # 3.7 MiB of zeros, packed to a few kB
    monkeypatch.setattr(face_services, "MAX_FACE_UPLOAD_BYTES", 2**20)
    with pytest.raises(ValueError, match=r"unpacks to 3\.7 MiB; the limit is 1 MiB"):
        services.read_face_patterns(buffer.getvalue(), "bomb.npz")
    with pytest.raises(ValueError, match=r"big\.npz is 2\.0 MiB; the limit is 1 MiB"):
        services.read_face_patterns(b"\0" * 2**21, "big.npz")


def test_valid_upload_is_read_as_float32_repeats(sources):
    patterns = services.read_face_patterns(npz_bytes(FFA=sources["identity"], STS=sources["expression"][None]),
                                           "dir/mine.npz")
    assert list(patterns) == ["FFA", "STS"]
    assert patterns["FFA"].shape == (1, N, 30) and patterns["FFA"].dtype == np.float32
