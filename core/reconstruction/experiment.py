"""The reconstruction experiment: :func:`simulate_face_responses`, :func:`run_reconstruction_experiment`,
:func:`accuracy_vs_training_size` and :func:`accuracy_vs_snr`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from core._validation import check_choice, check_finite_array, check_same_length
from core.encoding import DEFAULT_ALPHAS
from core.reconstruction._common import _check_images, _seed
from core.reconstruction.decoder import BrainToLatentDecoder, split_faces
from core.reconstruction.latent_spaces import LATENT_SPACES, PcaLatentSpace
from core.reconstruction.scoring import (
    FEATURE_SPACES,
    GenderDecoding,
    PairwiseIdentification,
    gender_decoding,
    pairwise_identification,
)
from core.runtime import Progress
from core.weights import WeightsUnavailableError

# --------------------------------------------------------------------------- experiment


def simulate_face_responses(latents, *, n_voxels: int, snr: float, random_state=None) -> np.ndarray:
    """A linear "brain" whose ground truth is the latent code.

    ``responses = latents @ W + noise``: ``W`` has i.i.d. N(0, 1/d) entries (fixed by the seed) and
    the noise of each voxel is Gaussian with variance ``var(signal_v) / snr`` (variance over the given
    faces), the convention of :class:`core.subject.SimulatedSubject`.

    Parameters
    ----------
    latents : ndarray of shape (n_faces, d)
    n_voxels : int
    snr : float
        Signal variance / noise variance, > 0; ``np.inf`` gives noise-free responses.
    random_state : int, numpy Generator or None
        Draws ``W`` first, then the noise.

    Returns
    -------
    responses : ndarray of shape (n_faces, n_voxels), float32
    """
    z = check_finite_array("latents", latents, ndim=2).astype(np.float64)
    if int(n_voxels) < 1:
        raise ValueError(f"n_voxels must be ≥ 1, got {n_voxels}")
    if not snr > 0:
        raise ValueError(f"snr must be > 0 (np.inf for no noise), got {snr}")
    rng = np.random.default_rng(random_state)
    signal = z @ (rng.standard_normal((z.shape[1], int(n_voxels))) / np.sqrt(z.shape[1]))
    if np.isinf(snr):
        return signal.astype(np.float32)
    noise_sd = np.sqrt(signal.var(axis=0) / snr)
    return (signal + rng.standard_normal(signal.shape) * noise_sd).astype(np.float32)


@dataclass(frozen=True)
class ReconstructionResult:
    """Result of :func:`run_reconstruction_experiment`.

    Attributes
    ----------
    latent : str
        Name of the latent model (a key of :data:`LATENT_SPACES`).
    train_idx, test_idx : ndarray of int
        The split, shared by the latent model and the PCA baseline.
    originals : ndarray of shape (n_test, h, w, 3), float32
        The test faces.
    reconstructions : dict of str to ndarray of shape (n_test, h, w, 3)
        Keys ``latent`` and ``"pca"``.
    latent_dims : dict of str to int
        Latent size of each model.
    pairwise : dict of str to dict of str to PairwiseIdentification
        ``pairwise[model][feature_space]``.
    gender : dict of str to GenderDecoding
        Empty when no labels were given.
    chance : dict of str to float
        ``"pairwise"`` (0.5) and, with labels, ``"gender"`` (majority-class rate).
    models : dict of str to latent space
        The fitted latent model and PCA baseline (to decode other codes).
    decoders : dict of str to BrainToLatentDecoder
        The fitted brain -> latent maps, one per model.
    train_codes : dict of str to ndarray of shape (n_train, latent_dim)
        Each model's codes of the training faces (the decoders' targets).
    decoded_codes : dict of str to ndarray of shape (n_test, latent_dim)
        Each model's codes of the test faces, decoded from their brain responses.
    notes : list of str
        Feature spaces that were asked for but unavailable, and why.
    """

    latent: str
    train_idx: np.ndarray
    test_idx: np.ndarray
    originals: np.ndarray
    reconstructions: dict[str, np.ndarray]
    latent_dims: dict[str, int]
    pairwise: dict[str, dict[str, PairwiseIdentification]]
    gender: dict[str, GenderDecoding]
    chance: dict[str, float]
    models: dict[str, BaseEstimator] = field(default_factory=dict)
    decoders: dict[str, BrainToLatentDecoder] = field(default_factory=dict)
    train_codes: dict[str, np.ndarray] = field(default_factory=dict)
    decoded_codes: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_reconstruction_experiment(images, responses, *, latent: str | BaseEstimator = "gan", test_fraction: float = 0.2,
                                  split: tuple | None = None, gender=None, latent_params: Mapping | None = None,
                                  feature_spaces: Sequence[str] = ("pixel", "identity"),
                                  alphas=DEFAULT_ALPHAS, n_folds: int = 5, match_norm: bool = True,
                                  random_state=0, device: str = "cpu",
                                  progress: Progress | None = None
                                  ) -> ReconstructionResult:
    """Reconstruct test faces from brain responses through a latent model and the PCA baseline.

    Steps: split faces (:func:`split_faces`); fit the latent model and the PCA baseline (same latent
    size, capped at ``n_train - 1``) on the training faces; encode the training faces; fit one
    :class:`BrainToLatentDecoder` per model from responses to codes; decode the test faces' predicted
    codes into images; score them by pairwise identification in each feature space; with ``gender``,
    train a classifier on the training faces' codes and test it on the brain-decoded codes.

    Parameters
    ----------
    images : ndarray of shape (n_faces, h, w, 3)
        uint8 or float in [0, 1]; for ``"gan"``, of the generator's size (64 × 64).
    responses : ndarray of shape (n_faces, n_voxels)
        One brain pattern per face, same order as ``images``.
    latent : str or latent space
        Key of :data:`LATENT_SPACES` (built with ``latent_params``), or an instance of one of its classes: fitted
        on the training faces unless it is fitted already (e.g. a GAN space whose trained encoder came from a
        cache).
    test_fraction : float
    split : (train_idx, test_idx) of int arrays, optional
        A given split (e.g. a study's repeat-defined test set) instead of a random one of ``test_fraction``:
        disjoint, each of at least 2 faces.
    gender : array-like of shape (n_faces,), optional
        Labels for :func:`gender_decoding`.
    latent_params : mapping, optional
        Extra constructor arguments of the latent model (e.g. ``{"n_steps": 1000}``).
    feature_spaces : sequence of str
        Keys of :data:`FEATURE_SPACES`; unavailable ones (e.g. identity-net weights missing) are
        skipped and explained in ``notes``.
    alphas, n_folds, match_norm
        Passed to :class:`BrainToLatentDecoder`, the same for both models.
    random_state : int, numpy Generator or None
        Seeds the split and the latent model.
    device : str
    progress : callable, optional
        ``progress(step, n_steps, "loss x")`` while the latent model trains.

    Returns
    -------
    ReconstructionResult
    """
    if isinstance(latent, str):
        check_choice("latent", latent, LATENT_SPACES)
    elif not isinstance(latent, tuple(LATENT_SPACES.values())):
        raise ValueError(f"latent must be a key of LATENT_SPACES ({sorted(LATENT_SPACES)}) or a latent space, "
                         f"got a {type(latent).__name__}")
    for space in feature_spaces:
        check_choice("feature space", space, FEATURE_SPACES)
    images = _check_images(images)
    responses = check_finite_array("responses", responses, ndim=2)
    n_faces = check_same_length(images=images, responses=responses)
    if gender is not None:
        check_same_length(images=images, gender=np.asarray(gender))
    rng = np.random.default_rng(random_state)
    train_idx, test_idx = (split_faces(n_faces, test_fraction, random_state=rng) if split is None
                           else _check_split(split, n_faces))
    seed = int(rng.integers(2**31))

    if isinstance(latent, str):
        model = LATENT_SPACES[latent](**{"random_state": seed, "device": device, **(latent_params or {})})
    else:
        model = latent
        latent = next(name for name, kind in LATENT_SPACES.items() if isinstance(model, kind))
    try:
        check_is_fitted(model)
    except NotFittedError:
        model.fit(images[train_idx], progress=progress)
    baseline = PcaLatentSpace(model.latent_dim_, random_state=seed).fit(images[train_idx])
    models = {latent: model, "pca": baseline}

    feature_fns, notes = {}, []
    for space in feature_spaces:
        try:
            feature_fns[space] = FEATURE_SPACES[space](device)
        except (ValueError, WeightsUnavailableError) as exc:
            notes.append(f"{space} space skipped: {exc}")

    originals = images[test_idx]
    reconstructions, latent_dims, pairwise, gender_results, decoders = {}, {}, {}, {}, {}
    train_codes, decoded_codes = {}, {}
    for name, space in models.items():
        train_codes[name] = space.transform(images[train_idx])
        decoders[name], decoded_codes[name] = _decode_from_brain(
            train_codes[name], responses[train_idx], responses[test_idx], alphas=alphas, n_folds=n_folds,
            match_norm=match_norm, device=device)
        reconstructions[name] = space.inverse_transform(decoded_codes[name])
        latent_dims[name] = space.latent_dim_
        pairwise[name] = {s: pairwise_identification(reconstructions[name], originals, feature_fn=fn,
                                                     random_state=seed)
                          for s, fn in feature_fns.items()}
        if gender is not None:
            labels = np.asarray(gender)
            gender_results[name] = gender_decoding(train_codes[name], labels[train_idx], decoded_codes[name],
                                                   labels[test_idx], random_state=seed)
    chance = {"pairwise": 0.5}
    if gender_results:
        chance["gender"] = next(iter(gender_results.values())).chance
    return ReconstructionResult(latent=latent, train_idx=train_idx, test_idx=test_idx, originals=originals,
                                reconstructions=reconstructions, latent_dims=latent_dims, pairwise=pairwise,
                                gender=gender_results, chance=chance, models=models, decoders=decoders,
                                train_codes=train_codes, decoded_codes=decoded_codes, notes=notes)


def _check_split(split, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """``split`` = (train_idx, test_idx) as sorted int arrays: disjoint, in ``range(n_faces)``, each ≥ 2 faces."""
    train_idx, test_idx = (np.sort(np.asarray(part, dtype=np.int64).ravel()) for part in split)
    if len(train_idx) < 2 or len(test_idx) < 2:
        raise ValueError(f"split needs at least 2 training and 2 test faces, got {len(train_idx)} and {len(test_idx)}")
    both = np.concatenate([train_idx, test_idx])
    if both.min() < 0 or both.max() >= n_faces or len(np.unique(both)) != len(both):
        raise ValueError(f"split must hold disjoint face indices in [0, {n_faces}) without repeats")
    return train_idx, test_idx


def _decode_from_brain(codes_train, responses_train, responses_test, *, alphas=DEFAULT_ALPHAS, n_folds: int = 5,
                       match_norm: bool = True, device: str = "cpu") -> tuple[BrainToLatentDecoder, np.ndarray]:
    """Fit a :class:`BrainToLatentDecoder` on the training faces; return it and the test faces' codes.

    ``codes_train`` (n_train, d), ``responses_train`` (n_train, n_voxels), ``responses_test``
    (n_test, n_voxels) -> decoded codes (n_test, d), float32.
    """
    decoder = BrainToLatentDecoder(alphas, n_folds=n_folds, match_norm=match_norm, device=device)
    decoder.fit(responses_train, codes_train)
    return decoder, decoder.predict(responses_test).astype(np.float32)


# --------------------------------------------------------------------------- accuracy curves


@dataclass(frozen=True)
class AccuracyCurve:
    """Pairwise identification accuracy of several latent models against one variable.

    Attributes
    ----------
    variable : str
        ``"n_train"`` (training faces) or ``"snr"`` (signal variance / noise variance).
    x : ndarray of shape (n_points,)
        The variable's values, ascending.
    accuracy : dict of str to ndarray of shape (n_points,)
        Accuracy of each model (the keys of the ``spaces`` given) at each x; chance is 0.5.
    """

    variable: str
    x: np.ndarray
    accuracy: dict[str, np.ndarray]


def _pairwise_by_model(spaces: Mapping, codes_train: Mapping, responses_train, responses_test, originals_test,
                       feature_fn, decoder_params: Mapping) -> dict[str, float]:
    """Pairwise accuracy of each model's reconstructions of the test faces from the same responses."""
    if set(spaces) != set(codes_train):
        raise ValueError(f"spaces {sorted(spaces)} and codes_train {sorted(codes_train)} must name the same models")
    accuracies = {}
    for name, space in spaces.items():
        _, decoded = _decode_from_brain(codes_train[name], responses_train, responses_test, **decoder_params)
        accuracies[name] = pairwise_identification(space.inverse_transform(decoded), originals_test,
                                                   feature_fn=feature_fn).accuracy
    return accuracies


def _curve(variable: str, x: Sequence, per_point: Callable[[int], dict[str, float]], progress) -> AccuracyCurve:
    """Run ``per_point(i)`` for every point i of ``x`` (ascending), reporting ``progress(done, total)``."""
    rows = []
    for i in range(len(x)):
        rows.append(per_point(i))
        if progress is not None:
            progress(i + 1, len(x))
    accuracy = {name: np.array([row[name] for row in rows]) for name in rows[0]}
    return AccuracyCurve(variable=variable, x=np.asarray(x, dtype=np.float64), accuracy=accuracy)


def accuracy_vs_training_size(spaces: Mapping, codes_train: Mapping, responses_train, responses_test, originals_test,
                              *, sizes: Sequence[int], feature_fn=None, alphas=DEFAULT_ALPHAS, n_folds: int = 5,
                              match_norm: bool = True, random_state=None, device: str = "cpu",
                              progress: Callable[[int, int], None] | None = None) -> AccuracyCurve:
    """Pairwise identification accuracy of each model's reconstructions as the training set grows.

    For each size, the same random subset of the training faces (nested: each subset contains the
    smaller ones) fits one :class:`BrainToLatentDecoder` per model; the test faces' decoded codes are
    turned into images by that model and scored by :func:`pairwise_identification`.

    Parameters
    ----------
    spaces : mapping of str to fitted latent space
        E.g. ``ReconstructionResult.models`` (the latent model and the PCA baseline).
    codes_train : mapping of str to ndarray of shape (n_train, latent_dim)
        Each model's codes of the training faces (``ReconstructionResult.train_codes``).
    responses_train : ndarray of shape (n_train, n_voxels)
    responses_test : ndarray of shape (n_test, n_voxels)
    originals_test : ndarray of shape (n_test, h, w, 3)
    sizes : sequence of int
        Training-set sizes, each in [3, n_train].
    feature_fn : callable, optional
        As in :func:`pairwise_identification`.
    alphas, n_folds, match_norm, device
        Passed to :class:`BrainToLatentDecoder`.
    random_state : int, numpy Generator or None
        Draws the nested subsets.
    progress : callable, optional
        ``progress(done, n_sizes)`` after each size.

    Returns
    -------
    AccuracyCurve
        ``variable="n_train"``, ``x`` the sorted sizes.
    """
    n_train = check_same_length(responses_train=responses_train, **{f"codes_train[{k!r}]": v
                                                                    for k, v in codes_train.items()})
    bad = [s for s in sizes if not 3 <= int(s) <= n_train]
    if bad or not len(sizes):
        raise ValueError(f"sizes must be non-empty and each in [3, {n_train}], got {list(sizes)}")
    order = np.random.default_rng(random_state).permutation(n_train)
    responses_train = np.asarray(responses_train)
    sizes = sorted(int(s) for s in sizes)
    params = {"alphas": alphas, "n_folds": n_folds, "match_norm": match_norm, "device": device}

    def per_size(i: int) -> dict[str, float]:
        subset = order[:sizes[i]]
        return _pairwise_by_model(spaces, {k: np.asarray(v)[subset] for k, v in codes_train.items()},
                                  responses_train[subset], responses_test, originals_test, feature_fn, params)

    return _curve("n_train", sizes, per_size, progress)


def accuracy_vs_snr(spaces: Mapping, codes_train: Mapping, latents, train_idx, test_idx, originals_test, *,
                    snrs: Sequence[float], n_voxels: int, feature_fn=None, alphas=DEFAULT_ALPHAS, n_folds: int = 5,
                    match_norm: bool = True, random_state=None, device: str = "cpu",
                    progress: Callable[[int, int], None] | None = None) -> AccuracyCurve:
    """Pairwise identification accuracy of each model's reconstructions against the simulated SNR.

    For each SNR, :func:`simulate_face_responses` makes the brain responses of all faces from their
    ground-truth ``latents`` (the same voxel weights and the same unit noise at every SNR, only its
    scale changes); every model is then decoded and scored on the same split.

    Parameters
    ----------
    spaces, codes_train
        As in :func:`accuracy_vs_training_size`; ``codes_train[m]`` has one row per ``train_idx``.
    latents : ndarray of shape (n_faces, d)
        The simulated brain's ground truth for every face (e.g. the GAN's z).
    train_idx, test_idx : ndarray of int
        The split (``ReconstructionResult.train_idx`` / ``test_idx``).
    originals_test : ndarray of shape (n_test, h, w, 3)
        The faces of ``test_idx``.
    snrs : sequence of float
        Signal variance / noise variance, each > 0.
    n_voxels : int
    feature_fn, alphas, n_folds, match_norm, device
        As in :func:`accuracy_vs_training_size`.
    random_state : int, numpy Generator or None
        Seeds the simulation (one seed for all SNRs). With the int seed that made a run's responses, the
        point at that run's SNR reproduces its accuracy.
    progress : callable, optional
        ``progress(done, n_snrs)`` after each SNR.

    Returns
    -------
    AccuracyCurve
        ``variable="snr"``, ``x`` the sorted SNRs.
    """
    snrs = sorted(float(s) for s in snrs)
    if not snrs or snrs[0] <= 0:
        raise ValueError(f"snrs must be non-empty and each > 0, got {snrs}")
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    check_same_length(originals_test=originals_test, test_idx=test_idx)
    # an int seed is used as it is, so the point at the SNR of a run simulated with that seed reproduces it
    seed = random_state if isinstance(random_state, int | np.integer) else _seed(random_state)
    params = {"alphas": alphas, "n_folds": n_folds, "match_norm": match_norm, "device": device}

    def per_snr(i: int) -> dict[str, float]:
        responses = simulate_face_responses(latents, n_voxels=n_voxels, snr=snrs[i], random_state=seed)
        return _pairwise_by_model(spaces, codes_train, responses[train_idx], responses[test_idx], originals_test,
                                  feature_fn, params)

    return _curve("snr", snrs, per_snr, progress)
