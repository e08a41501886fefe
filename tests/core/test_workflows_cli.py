"""``python -m core experiment|clusters --experiment|visualise|faces|reconstruct``: each verb runs its workflow on
tiny settings and writes a result that the store reads back. The experiment runs on the stand-in subject of
test_experiments (600 vertices, random 'ResNet-50' features); only network passes are replaced."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from core import experiments
from core import faces as core_faces
from core.__main__ import build_parser, main
from core.encoding import load_encoding_model, stack_layer_features
from core.features import reduction_options
from core.models import RESNET50_WEN18
from core.rsa import RDM
from core.workflows import clusters, visualisation
from core.workflows import faces as face_workflow
from core.workflows.clusters import ClusterAnalyses
from core.workflows.faces import N_DEFAULT_FACES, FaceAnalysisResult
from core.workflows.store import load_result, save_result
from core.workflows.visualisation import FeatureVisualisationRun
from tests.core.test_experiments import patch_stand_in

WORKFLOW_VERBS = ("experiment", "faces", "reconstruct", "clusters", "visualise")


def test_help_lists_every_workflow_verb(capsys):
    for verb in WORKFLOW_VERBS:
        assert verb in build_parser().format_help()
        with pytest.raises(SystemExit) as exit_:
            main([verb, "--help"])
        assert exit_.value.code == 0 and "--out" in capsys.readouterr().out


@pytest.fixture(scope="module")
def stand_in_experiment(tmp_path_factory):
    """``experiment --out DIR`` on the stand-in subject; returns (cache folder, key, out folder, features X)."""
    cache, out = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("out") / "experiment"
    with pytest.MonkeyPatch.context() as patch:
        features, _ = patch_stand_in(patch, cache)
        assert main(["experiment", "--n-repeats", "8", "--n-folds", "4", "--n-permutations", "200",
                     "--out", str(out)]) == 0
    key = json.loads((out / "result.json").read_text())["meta"]["key"]
    return SimpleNamespace(cache=cache, key=key, out=out, X=stack_layer_features(dict(features))[0])


@pytest.fixture
def experiment_key(stand_in_experiment, vfs_folders):
    """The stand-in experiment linked into this test's cache; returns its key."""
    (vfs_folders.cache / "experiments").mkdir(exist_ok=True)
    (vfs_folders.cache / "experiments" / stand_in_experiment.key).symlink_to(
        stand_in_experiment.cache / "experiments" / stand_in_experiment.key)
    return stand_in_experiment.key


def test_experiment_writes_result_model_and_maps_to_out(stand_in_experiment, experiment_key):
    names = {path.name for path in stand_in_experiment.out.iterdir()}
    assert {"result.npz", "result.json", "encoding.npz", "encoding.json", "predicted.npy"} <= names
    assert experiments.load_experiment(experiment_key).categories == ("cat", "dog", "face", "house")


def test_clusters_of_an_experiment_run_the_spin_test_layerwise_and_finer(experiment_key, stand_in_experiment,
                                                                          tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(clusters, "library_features",
                        lambda result, network, layers, meta, progress: seen.append(layers) or stand_in_experiment.X)
    assert main(["clusters", "--experiment", experiment_key, "--n-permutations", "19", "--n-rotations", "5",
                 "--out", str(tmp_path)]) == 0
    result = load_result(tmp_path / "clusters", ClusterAnalyses)
    assert seen == [list(RESNET50_WEN18)] and result.layers == tuple(RESNET50_WEN18)
    assert result.modularity.shape == result.best_k.shape == (len(RESNET50_WEN18),)
    assert set(result.semantic_r) == set(clusters.LAYERWISE_SEMANTICS)
    assert result.significance["n_permutations"] == 19 and 1 / 20 <= result.significance["p"] <= 1
    page = clusters.category_clustering(experiments.load_experiment(experiment_key))
    assert result.significance["best_k"] == page.best_k and len(result.finer_info) == page.best_k
    assert "k = " in capsys.readouterr().out
    from dashboard import services
    from dashboard.services import clusters as cluster_services

    save_result(result, cluster_services._cluster_analyses_prefix(experiment_key))  # as the page's job stores it
    plain = services.cluster_analyses(experiment_key)
    assert set(plain["finer"]) == {int(c) for c in result.finer_info}
    for entry in plain["finer"].values():  # the stand-in's clusters are too small to refine: their reason is kept
        assert "error" in entry or entry["similarity"].shape[0] == len(entry["categories"])
    name, text = services.rdm_clusters_table(experiment_key, "layerwise")
    assert name == "layerwise.csv" and len(text.splitlines()) == 1 + len(RESNET50_WEN18)


def test_clusters_need_a_finished_experiment(tmp_path):
    with pytest.raises(SystemExit, match="No finished experiment"):
        main(["clusters", "--experiment", "0123456789abcdef", "--out", str(tmp_path)])


def test_visualise_writes_the_images_of_a_cluster_target(experiment_key, tmp_path, monkeypatch):
    """The network pass is replaced; the target's weights, their path through PCA and ridge, and the store are not."""
    from core import activation_maximisation as core_visualisation
    from core import models

    calls = {}

    def maximise(model, layer_weights, *, n_steps, n_starts, image_size, random_state, objective_offset, reduction,
                 progress):
        calls.update(layer_weights=layer_weights, n_steps=n_steps, n_starts=n_starts, image_size=image_size,
                     reduction=reduction)
        progress(n_steps, n_steps, f"mean objective {objective_offset:.3f}")
        return core_visualisation.FeatureVisualisation(images=np.full((n_starts, image_size, image_size, 3), 0.5),
                                                       objective=np.zeros((n_steps + 1, n_starts)))

    monkeypatch.setattr(models, "build_model", lambda name: name)
    monkeypatch.setattr(core_visualisation, "maximise_activation", maximise)
    assert main(["visualise", "--experiment", experiment_key, "--target", "cluster:0", "--steps", "10",
                 "--starts", "2", "--image-size", "16", "--out", str(tmp_path)]) == 0
    run = load_result(tmp_path / "visualisation", FeatureVisualisationRun)
    assert run.target == "cluster:0" and run.images.shape == (2, 16, 16, 3) and run.images.dtype == np.uint8
    assert list(calls["layer_weights"]) == list(RESNET50_WEN18)
    assert all(w.shape == (4,) and np.isfinite(w).all() for w in calls["layer_weights"].values())
    saved = load_encoding_model(experiments.encoding_model_path(experiment_key)).meta_
    assert calls["reduction"] == reduction_options(saved)  # the objective reduces maps as the model's features
    weights = visualisation.target_vertex_weights(experiments.load_experiment(experiment_key), "cluster:0")
    assert np.abs(weights).sum() == pytest.approx(1.0)
    with pytest.raises(SystemExit, match="Steps must be"):
        main(["visualise", "--experiment", experiment_key, "--target", "cluster:0", "--steps", "5",
              "--out", str(tmp_path)])


def test_faces_recover_the_planted_drivers(tmp_path, monkeypatch, capsys):
    """Planted: region FFC_R reads the identity net's late layer, STSvp_R the expression net; the simulated subject
    and the face networks are replaced by these codes."""
    rng = np.random.default_rng(0)
    n = N_DEFAULT_FACES
    identities = tuple(f"id{k // 4:02d}" for k in range(n))
    expressions = ("happy", "neutral", "sad", "angry") * (n // 4)
    identity_code = np.repeat(rng.standard_normal((n // 4, 30)), 4, axis=0) + 0.3 * rng.standard_normal((n, 30))
    expression_code = rng.standard_normal((4, 30))[np.arange(n) % 4] + 0.3 * rng.standard_normal((n, 30))
    face_set = core_faces.FaceSet(images=rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), identities=identities,
                                  expressions=expressions, label_sources={"identity": "generated", "expression": "generated"},
                                  ids=tuple(f"f{k:02d}" for k in range(n)))
    features = {"face_identity": {"early": identity_code + 3 * rng.standard_normal((n, 30)), "late": identity_code},
                "face_expression": {"dense": expression_code}}

    def region_rdms(subject, face_set, regions, *, n_repeats, random_state):
        codes = {"FFC_R": identity_code, "STSvp_R": expression_code}
        return {region: RDM(np.stack([pdist(codes[region] + rng.standard_normal((n, 30)), "correlation")
                                      for _ in range(n_repeats)]), "correlation", face_set.ids)
                for region in codes}

    monkeypatch.setattr(face_workflow, "_default_faces_and_subject", lambda max_images, progress: (
        None, face_set, features))
    monkeypatch.setattr(core_faces, "simulated_region_rdms", region_rdms)
    assert main(["faces", "--out", str(tmp_path)]) == 0
    result = load_result(tmp_path / "faces", FaceAnalysisResult)
    assert result.regions == ("FFC_R", "STSvp_R") and result.layers == (("early", "late"), ("dense",))
    assert result.difference_layers[0] == ("late", "dense")  # the identity net's clean layer matches FFC_R
    assert result.difference[0] > 0 > result.difference[1] and (result.difference_p < 0.05).all()
    assert result.network_rdms.dissimilarities.shape == (3, n * (n - 1) // 2)
    assert result.network_rdms.rdm_descriptors == {"network": ("face_identity",) * 2 + ("face_expression",),
                                                   "layer": ("early", "late", "dense")}
    np.testing.assert_allclose(result.network_rdms.subset_rdms("layer", "dense").dissimilarities[0],
                               pdist(features["face_expression"]["dense"], "correlation"))
    assert result.network_rdms.pattern_labels == face_set.ids
    assert set(result.decode_identity) | {n.split(":")[0] for n in result.notes} == set(features)
    assert "FFC_R: identity − expression" in capsys.readouterr().out


@pytest.mark.slow
def test_reconstruct_writes_reconstructions_and_curves(tmp_path):
    """The real DCGAN and age-gender net, 40 faces, a 5-step encoder."""
    from core.workflows.reconstruction import ReconstructionRun

    assert main(["reconstruct", "--faces", "40", "--snr", "1", "--encoder-steps", "5", "--out", str(tmp_path)]) == 0
    run = load_result(tmp_path / "reconstruction", ReconstructionRun)
    assert run.originals.shape[1:] == (64, 64, 3) and set(run.reconstructions) == {"gan", "pca"}
    assert set(run.curves_x) == {"n_train", "snr"} and "snr:gan" in run.curves


def test_reconstruct_writes_reconstructions_curves_and_explorer(tmp_path, monkeypatch):
    """Fast: random 'generated' faces with planted gender and PCA in place of the GAN latent space (no networks)."""
    from core import reconstruction
    from core.workflows import reconstruction as workflow

    rng = np.random.default_rng(0)
    z = rng.standard_normal((40, 100)).astype(np.float32)
    images = rng.integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    gender = np.where(np.arange(40) % 2, "male", "female")

    class NoStepsPca(reconstruction.PcaLatentSpace):
        def __init__(self, latent_dim=100, *, random_state=None, n_steps=None, device="cpu"):
            super().__init__(latent_dim=latent_dim)
            self.random_state, self.n_steps, self.device = random_state, n_steps, device

    monkeypatch.setattr(workflow, "_dcgan_faces_with_gender", lambda n: (z[:n], images[:n], gender[:n]))
    monkeypatch.setitem(reconstruction.LATENT_SPACES, "gan", NoStepsPca)
    monkeypatch.setitem(reconstruction.FEATURE_SPACES, "identity", lambda device: None)
    assert main(["reconstruct", "--faces", "40", "--snr", "2", "--encoder-steps", "3", "--out", str(tmp_path)]) == 0
    run = load_result(tmp_path / "reconstruction", workflow.ReconstructionRun)
    n_test = len(run.originals)
    assert run.n_faces == 40 and run.snr == 2.0 and run.test_gender.shape == (n_test,)
    assert {k: v.shape for k, v in run.reconstructions.items()} == {m: (n_test, 64, 64, 3) for m in ("gan", "pca")}
    assert set(run.curves_x) == {"n_train", "snr"} and run.curves["snr:pca"].shape == run.curves_x["snr"].shape
    assert set(run.pairwise) == {f"{m}:{s}" for m in ("gan", "pca") for s in ("pixel", "identity")}
    assert set(run.gender) == {"gan", "pca"}
    assert run.explorer["gan"].shape == (len(workflow.EXPLORER_OFFSETS_SD), 64, 64, 3)


def test_reconstruct_refuses_bad_settings(tmp_path):
    with pytest.raises(SystemExit, match="Faces must be"):
        main(["reconstruct", "--faces", "10", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="signal-to-noise"):
        main(["reconstruct", "--snr", "0", "--out", str(tmp_path)])
