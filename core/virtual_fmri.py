"""Virtual fMRI of new images: a saved encoding model and its network turn images into cortical maps.

- :class:`ImagePredictor` loads the network named in a saved encoding model's metadata (and the
  model) once, then maps images to predicted responses: network features → the model's PCA and
  ridge → one map per image.
- :func:`load_feature_file` reads the ``.npz`` written by ``python -m core extract`` (or
  ``core.features.save_features``) back into a stacked feature matrix.
- :func:`start_worker` / :func:`predict_in_worker`: entry points of a warm worker process (e.g. a
  single-process ``ProcessPoolExecutor`` with the "spawn" context) that keeps one predictor in memory,
  so a web process can ask for maps without importing torch itself.

Importing this module loads neither torch nor the network; both load when a predictor is built.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ImagePredictor", "PredictedMaps", "load_feature_file", "predict_in_worker", "start_worker"]


@dataclass(frozen=True)
class PredictedMaps:
    """Predicted responses of a set of images.

    Attributes
    ----------
    maps : ndarray of shape (n_images, n_vertices), float32
        One predicted map per decodable image, in ``stimulus_ids`` order.
    stimulus_ids : tuple of str
    skipped : tuple of (str, str)
        ``(id, reason)`` of images that could not be decoded.
    """

    maps: np.ndarray
    stimulus_ids: tuple
    skipped: tuple = ()


def load_feature_file(path: str | os.PathLike, layers=None) -> tuple[np.ndarray, dict, tuple]:
    """Read a features ``.npz`` (``layer:<name>`` arrays, ``stimulus_ids``) as one feature matrix.

    Parameters
    ----------
    path : path-like
        Written by ``python -m core extract`` / ``core.features.save_features``.
    layers : sequence of str, optional
        Layers to keep, in this order (e.g. those a fitted model expects); default: all, in file order.

    Returns
    -------
    X : ndarray of shape (n_stimuli, n_units_total), float32
        Layers side by side (``core.encoding.stack_layer_features``).
    layer_slices : dict of str to (start, stop)
    stimulus_ids : tuple of str
    """
    from core.encoding import stack_layer_features

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No such features file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name.removeprefix("layer:"): data[name] for name in data.files if name.startswith("layer:")}
            ids = tuple(str(i) for i in data["stimulus_ids"]) if "stimulus_ids" in data.files else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path.name} is not a readable .npz features file: {exc}") from exc
    if not arrays:
        raise ValueError(f"{path.name} holds no 'layer:<name>' arrays; write it with `python -m core extract`")
    if layers is not None:
        missing = [layer for layer in layers if layer not in arrays]
        if missing:
            raise ValueError(f"{path.name} lacks the layers {missing}; it has {list(arrays)}")
        arrays = {layer: arrays[layer] for layer in layers}
    X, slices = stack_layer_features(arrays)
    if ids is None or len(ids) != len(X):
        ids = tuple(str(i) for i in range(len(X)))
    return X, slices, ids


class ImagePredictor:
    """Images → predicted cortical maps with a saved encoding model (virtual fMRI).

    Parameters
    ----------
    model_path : path-like
        Base name of a model written by ``core.encoding.save_encoding_model`` whose metadata names
        its network (``meta["model"]``, a key of ``core.models.MODEL_REGISTRY``) and, optionally, the
        feature reduction (``meta["reduction"]``, default ``"mean"``: spatial means; with
        ``meta["n_components"]`` and ``meta["random_state"]`` for ``"random_projection"``, see
        ``core.features.reduction_options``), so that new images are reduced as the training images were.
        The layers are those the model's PCA was fitted on.
    device : str
        Torch device of the network.
    batch_size : int
        Images per forward pass (a fixed size skips the memory probe of ``extract_features``).

    Attributes
    ----------
    encoding : core.encoding.EncodingModel
    network : torch.nn.Module
    layers : list of str
    reduction : dict
        ``reduction``, ``n_components``, ``random_state`` of ``core.features.extract_features``.
    """

    def __init__(self, model_path, *, device: str = "cpu", batch_size: int = 16):
        from core.encoding import load_encoding_model
        from core.features import reduction_options
        from core.models import build_model

        self.encoding = load_encoding_model(model_path)
        meta = self.encoding.meta_
        if "model" not in meta:
            raise ValueError(f"Encoding model {str(model_path)!r} does not name its network (meta['model']); "
                             "it cannot predict from images")
        self.layers = list(self.encoding.layers_)
        self.reduction = reduction_options(meta)
        self.device = device
        self.batch_size = batch_size
        self.network = build_model(meta["model"], device=device)

    def predict(self, images, *, progress=None) -> PredictedMaps:
        """Predicted maps of ``images``.

        Parameters
        ----------
        images : ndarray of shape (n_images, height, width, 3), uint8, or core.stimuli.StimulusSet
        progress : callable, optional
            ``progress(done, total)`` per chunk of images (``core.features.extract_features``).

        Returns
        -------
        PredictedMaps
        """
        from core.encoding import stack_layer_features
        from core.features import extract_features

        features = extract_features(self.network, images, layers=self.layers, **self.reduction,
                                    batch_size=self.batch_size, device=self.device, progress=progress)
        X, _ = stack_layer_features({layer: features[layer] for layer in self.layers})
        maps = self.encoding.predict(X).astype(np.float32, copy=False)
        return PredictedMaps(maps=maps, stimulus_ids=features.stimulus_ids, skipped=features.skipped)


_worker_predictor: ImagePredictor | None = None
"""The predictor of this worker process, set once by :func:`start_worker`."""


def start_worker(model_path: str, n_threads: int = 1) -> None:
    """Initializer of a worker process: load the network and the encoding model once.

    ``n_threads`` caps torch's CPU threads: the worker shares the CPU with the web process and
    background jobs, and oversubscribed torch threads slow a forward pass down several-fold. A
    daemon thread ends the worker when its parent process ends.
    """
    import torch

    global _worker_predictor
    parent = multiprocessing.parent_process()
    if parent is not None:  # exit with the web process, even when it is killed
        threading.Thread(target=lambda: (parent.join(), os._exit(0)), daemon=True).start()
    torch.set_num_threads(n_threads)
    _worker_predictor = ImagePredictor(model_path)


def predict_in_worker(images) -> np.ndarray:
    """Predicted maps in a worker started by :func:`start_worker`.

    Parameters
    ----------
    images : ndarray of shape (n_images, height, width, 3), uint8, or core.stimuli.StimulusSet

    Returns
    -------
    ndarray of shape (n_images, n_vertices), float32

    Raises
    ------
    ValueError
        When the worker was not started or an image cannot be decoded (the message names it).
    """
    if _worker_predictor is None:
        raise ValueError("This process is not a predictor worker: start it with start_worker(model_path)")
    result = _worker_predictor.predict(images)
    if result.skipped:
        raise ValueError("; ".join(reason for _, reason in result.skipped))
    return result.maps
