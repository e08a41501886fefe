""":func:`save_encoding_model` / :func:`load_encoding_model`: a fitted :class:`~core.encoding.model.EncodingModel` as
one ``.npz`` plus one ``.json``, no pickle.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sklearn
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from core.encoding.estimators import RidgeEncoder
from core.encoding.model import EncodingModel
from core.encoding.pca import LayerwisePCA
from core.store import load_result, result_paths, save_result

_FORMAT = "virtual-fmri-encoding-model"
_FORMAT_VERSION = 1


_PCA_ARRAYS = ("layer_means_", "layer_components_", "layer_explained_variance_ratio_")
_ENCODER_ARRAYS = ("coef_", "intercept_", "best_alphas_", "cv_scores_")


def _jsonable_params(estimator: BaseEstimator) -> dict:
    params = estimator.get_params()
    return {k: np.asarray(v).tolist() if isinstance(v, tuple | list | np.ndarray) else v for k, v in params.items()}


def save_encoding_model(path, model: EncodingModel, meta: Mapping | None = None):
    """Write a fitted model as ``<path>.npz`` (arrays) and ``<path>.json`` (everything else).

    Parameters
    ----------
    path : str or Path
        Base name; a ``.npz`` or ``.json`` suffix is dropped.
    model : fitted EncodingModel
    meta : mapping, optional
        JSON-serialisable description (subject, model id, layers, stimulus hash, ...), over ``model.meta_``.

    Returns
    -------
    npz_path, json_path : Path
    """
    check_is_fitted(model)
    pca, encoder = model.pca_, model.ridge_
    npz_path, json_path = result_paths(path)
    arrays = {f"encoder/{name}": np.asarray(getattr(encoder, name)) for name in _ENCODER_ARRAYS}
    layers = list(pca.layer_slices_)
    for i, layer in enumerate(layers):
        for name in _PCA_ARRAYS:
            arrays[f"pca/{name}{i}"] = getattr(pca, name)[layer]
    for name in ("mean_", "components_", "explained_variance_ratio_"):
        arrays[f"pca/{name}"] = getattr(pca, name)
    header = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "versions": {"numpy": np.__version__, "torch": torch.__version__, "sklearn": sklearn.__version__},
        "encoder": {"params": _jsonable_params(encoder), "n_features_in": int(encoder.n_features_in_)},
        "pca": {"params": {**_jsonable_params(pca), "layer_slices": None},
                "layers": [[layer, *pca.layer_slices_[layer]] for layer in layers],
                "n_features_in": int(pca.n_features_in_)},
        "meta": {**model.meta_, **(meta or {})},
    }
    save_result(npz_path, arrays, header, indent=1)
    return npz_path, json_path


def load_encoding_model(path) -> EncodingModel:
    """Read a model written by :func:`save_encoding_model` (no pickle).

    Parameters
    ----------
    path : str or Path
        Base name, or either file's name.

    Returns
    -------
    EncodingModel
        Fitted, restored with ``device="cpu"``; ``meta_`` holds the stored description.

    Raises
    ------
    ValueError
        When a file is missing, unreadable, of another format, or its arrays do not match.
    """
    npz_path, json_path = result_paths(path)
    missing = [str(p) for p in (npz_path, json_path) if not p.is_file()]
    if missing:
        raise ValueError(f"Encoding model files are missing: {missing}")
    try:
        arrays, header = load_result(npz_path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"Encoding model {str(npz_path.with_suffix(''))!r} is unreadable: {exc}") from exc
    if header.get("format") != _FORMAT or header.get("format_version") != _FORMAT_VERSION:
        raise ValueError(f"{str(json_path)!r} is not a {_FORMAT} file of version {_FORMAT_VERSION}")
    try:
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in header["encoder"]["params"].items()}
        encoder = RidgeEncoder(**{**params, "device": "cpu"})
        for name in _ENCODER_ARRAYS:
            setattr(encoder, name, arrays[f"encoder/{name}"])
        if encoder.intercept_.ndim == 0:
            encoder.intercept_ = float(encoder.intercept_)
        encoder.n_features_in_ = int(header["encoder"]["n_features_in"])
        if header["pca"] is None:
            raise ValueError(f"Encoding model {str(json_path)!r} has no PCA stage; refit it with this version")
        pca = LayerwisePCA(**{**header["pca"]["params"], "device": "cpu"})
        layers = header["pca"]["layers"]
        pca.layer_slices_ = {name: (int(start), int(stop)) for name, start, stop in layers}
        pca.layer_slices = dict(pca.layer_slices_)
        for name in _PCA_ARRAYS:
            setattr(pca, name, {layer: arrays[f"pca/{name}{i}"] for i, (layer, _, _) in enumerate(layers)})
        for name in ("mean_", "components_", "explained_variance_ratio_"):
            setattr(pca, name, arrays[f"pca/{name}"])
        pca.n_components_ = pca.components_.shape[1]
        pca.n_features_in_ = int(header["pca"]["n_features_in"])
        meta = header["meta"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"Encoding model {str(json_path)!r} is incomplete: missing {exc}") from exc
    coef_rows = encoder.coef_.shape[0]
    if coef_rows != encoder.n_features_in_ or pca.n_components_ != coef_rows:
        raise ValueError(f"Encoding model arrays do not match: coef_ has {coef_rows} rows, the encoder expects "
                         f"{encoder.n_features_in_} and the PCA gives {pca.n_components_} features")
    model = EncodingModel(pca.layer_slices, variance=pca.variance, alphas=encoder.alphas, n_folds=encoder.n_folds,
                          n_samples_batch=pca.n_samples_batch, n_targets_batch=encoder.n_targets_batch,
                          random_state=pca.random_state)
    return model._set_parts(pca, encoder, meta)
