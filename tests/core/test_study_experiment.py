"""Encoding models fitted on imported studies (``python -m core experiment``): planted vertices are found, noise
vertices stay under the FDR level, scores come back in the study's own column order, the ceiling is never
invented. The models read the simulator's own features (a features file), so no network runs here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.__main__ import main
from core.errors import UserError
from core.features import Features, save_features
from core.studies import import_study
from core.studies.experiment import run_study_experiment
from core.studies.simulate import write_simulated_study

#: FDR level of the tests.
ALPHA = 0.05


def _features_file(path, study, truth, *, below: str = ""):
    """The simulator's features of the study's images, keyed by the study's image ids (their ends below ``below``,
    as ``python -m core extract --images`` on that folder names them)."""
    ids = tuple(image.id.removeprefix(below) for image in study.stimuli)
    save_features(path, Features({"synthetic": truth.features}, ids))
    return path


def _check_found(q, planted):
    """Most planted columns pass FDR; few noise columns do, and the discoveries are mostly planted."""
    found = q < ALPHA
    assert found[planted].mean() > 0.9, f"{found[planted].mean():.2f} of planted vertices found"
    assert found[~planted].mean() < ALPHA, f"{found[~planted].mean():.3f} of noise vertices found"
    assert (found & ~planted).sum() / max(1, found.sum()) < 2 * ALPHA, "false discovery proportion"


def test_algonauts_study_outer_cv_from_the_command_line(tmp_path, capsys):
    folder = tmp_path / "subj01"
    truth = write_simulated_study(folder, "algonauts2023", n_stimuli=60, n_per_hemisphere=300)
    lh = folder / "training_split" / "training_fmri" / "lh_training_fmri.npy"
    rows = np.load(lh)
    rows[:, 5] = np.nan  # a dropped column keeps its place in the scores
    np.save(lh, rows)
    study = import_study("algonauts2023", folder, "nsd")
    features = _features_file(tmp_path / "features.npz", study, truth, below="training_split/training_images/")
    out = tmp_path / "out"
    assert main(["experiment", "--study", "nsd", "--out", str(out), "--features", str(features),
                 "--n-permutations", "200", "--n-folds", "3"]) == 0
    printed = capsys.readouterr()
    assert "outer CV: 5 shuffled folds of 60 images" in printed.out
    assert "noise ceiling: not available: no stimulus was presented twice" in printed.out
    assert "experiment nsd: 100%" in printed.err  # the progress bar
    scores = np.load(out / "scores.npz", allow_pickle=False)
    assert set(scores.files) == {"r", "r2", "p", "q", "kept"}  # no invented ceiling
    for name in ("r", "r2", "p", "q"):
        assert scores[name].shape == (600,) and scores[name].dtype == np.float32  # lh then rh challenge vertices
    assert np.isnan(scores["q"][5]) and not scores["kept"][5] and scores["kept"].sum() == 599
    kept = scores["kept"]
    _check_found(scores["q"][kept], truth.planted[kept])
    meta = json.loads((out / "experiment.json").read_text())
    assert meta["ceiling"].startswith("not available") and meta["n_train"] == 60
    assert (out / "encoding.npz").is_file() and (out / "encoding.json").is_file()


def test_folder_study_with_repeats_is_split_and_gets_a_ceiling(tmp_path):
    folder = tmp_path / "f"
    truth = write_simulated_study(folder, "folder-npy", n_stimuli=60, n_repeats=3, repeated_every=4)
    study = import_study("folder", folder, "lab")
    scores = run_study_experiment(study, tmp_path / "out", features=_features_file(tmp_path / "x.npz", study, truth),
                                  n_folds=3, n_permutations=200)
    assert scores.meta["evaluation"].startswith("test split: 45 training images shown once, 15 test images scored "
                                                "on each of 3 repeats")
    assert scores.meta["ceiling"].startswith("Monte-Carlo ceiling from 3 repeats of 15 stimuli")
    _check_found(scores.q, truth.planted)
    assert np.median(scores.noise_ceiling[truth.planted]) > 0.5 > np.median(scores.noise_ceiling[~truth.planted])
    reliable = np.isfinite(scores.normalized_accuracy)  # r / ceiling only where the ceiling is reliable
    assert reliable[truth.planted].mean() > 0.9 and reliable[~truth.planted].mean() < ALPHA
    saved = np.load(tmp_path / "out" / "scores.npz")
    assert saved["noise_ceiling"].shape == saved["normalized_accuracy"].shape == (20_484,)


def test_features_must_cover_the_study_images(tmp_path):
    truth = write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=12)
    study = import_study("folder", tmp_path / "f", "s")
    save_features(tmp_path / "x.npz", Features({"synthetic": truth.features[:11]},
                                               tuple(image.id for image in study.stimuli[:11])))
    with pytest.raises(UserError, match=r"x.npz has no features for 1 of the 12 images of study s \(e.g. "
                                        r"stimuli/place/place-011.png\); its stimulus_ids must be"):
        run_study_experiment(study, tmp_path / "out", features=tmp_path / "x.npz")
    _features_file(tmp_path / "x.npz", study, truth)
    with pytest.raises(UserError, match=r"Study s has 12 stimuli; 10-fold cross-validation needs at least 20"):
        run_study_experiment(study, tmp_path / "out", features=tmp_path / "x.npz", n_outer_folds=10)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_simulated_subject_is_a_study_written_then_imported(fitted_experiment):
    """The ``simulated`` format: the default subject (160 library images, features cached by the session's
    fitted experiment) is written in the folder layout by the simulator and read back by the folder importer."""
    study = import_study("simulated", None, "simulated", options={"max_images": 160, "n_repeats": 3})
    assert (study.format, study.space, study.n_stimuli) == ("simulated", "fsLR32k", 160)
    assert study.provenance["images"] == "copied into the study" and study.check_images() == []
    counts = study.repeat_counts
    assert set(counts.tolist()) == {1, 3} and 25 <= (counts == 3).sum() <= 40  # a stratified fifth, shown 3 times
    assert study.n_presentations == (counts == 1).sum() + 3 * (counts == 3).sum()
    assert len(set(study.categories)) > 3
    ceiling = study.noise_ceiling(n_simulations=200)
    assert ceiling.method.startswith("Monte-Carlo ceiling from 3 repeats")
    assert np.percentile(ceiling.r, 90) > 0.3  # the subject's driven regions
