"""Images uploaded to the Virtual fMRI page and the warm worker process that predicts their maps."""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import hashlib
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from core.errors import UserError
from dashboard.services._files import _uploaded_file, result_cache
from dashboard.services.experiment import _require

__all__ = [
    "MAX_UPLOAD_BYTES",
    "PREDICTION_TIMEOUT_S",
    "UPLOAD_PREFIX",
    "image_thumbnail",
    "save_upload",
    "start_predictor",
    "stop_predictors",
]


def image_thumbnail(stimulus_id: str, size: int = 128) -> np.ndarray:
    """A library image (its id) or an uploaded one (its :func:`save_upload` value) as uint8 (size, size, 3)."""
    from core.stimuli import from_files, load_images, load_stimulus_library

    if stimulus_id.startswith(UPLOAD_PREFIX):
        return load_images(from_files([_upload_path(stimulus_id)]), [0], size=(size, size))[0]
    library = load_stimulus_library()
    if stimulus_id not in library.ids:
        raise ValueError(f"Unknown library image {stimulus_id!r}")
    return load_images(library, [library.ids.index(stimulus_id)], size=(size, size))[0]


#: Largest image accepted by the Virtual fMRI page's upload (bytes).
MAX_UPLOAD_BYTES = 10 * 2**20


#: Dropdown values of uploaded images start with this prefix.
UPLOAD_PREFIX = "upload:"


#: Longest wait for one prediction; covers a worker's cold start (torch, ResNet-50, the model).
PREDICTION_TIMEOUT_S = 300


class _WarmPredictors(dict):
    """Experiment key → its warm worker pool (at most one). Pickles as empty: background jobs pickle this
    module's globals (dill), and a process pool cannot be pickled."""

    def __reduce__(self):
        return (_WarmPredictors, ())


_predictor_lock = threading.Lock()


_predictor_pools = _WarmPredictors()


def save_upload(contents: str, filename: str) -> dict:
    """Validate and store an image sent by ``dcc.Upload``; returns its dropdown option.

    Parameters
    ----------
    contents : str
        The upload's data URL, ``data:<type>;base64,<data>``.
    filename : str
        The name the browser sent.

    Returns
    -------
    dict
        ``{"label": ..., "value": "upload:<content hash>/<file name>"}``.

    Raises
    ------
    ValueError
        Not base64, over :data:`MAX_UPLOAD_BYTES`, not an image type or not decodable (the message
        says which, from ``core.stimuli.from_upload``).
    """
    from core.stimuli import from_upload

    header, comma, payload = (contents or "").partition(",")
    if not comma or not header.startswith("data:") or not header.endswith(";base64"):
        raise UserError(f"Upload {filename!r} did not arrive complete; upload it again")
    try:
        data = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise UserError(f"Upload {filename!r} did not arrive intact (not valid base64); upload it again") from exc
    folder = _uploaded_file(hashlib.sha256(data).hexdigest()[:16])
    folder.mkdir(exist_ok=True)
    try:
        stimuli = from_upload(data, filename or "upload", upload_dir=folder, max_bytes=MAX_UPLOAD_BYTES)
    except ValueError:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    return {"label": f"uploaded — {stimuli.ids[0]}", "value": f"{UPLOAD_PREFIX}{folder.name}/{stimuli.ids[0]}"}


def _upload_path(value: str) -> Path:
    gone = "That uploaded image is no longer on the server: upload it again"
    if not value.startswith(UPLOAD_PREFIX):
        raise UserError(gone)
    path = _uploaded_file(value.removeprefix(UPLOAD_PREFIX))
    if not path.is_file():
        raise UserError(gone)
    return path


def start_predictor(key: str) -> None:
    """Start, once, the warm worker that predicts uploaded images with experiment ``key``'s model.

    The worker is a single-process ``ProcessPoolExecutor`` ("spawn" context) whose initializer loads
    ResNet-50 and the fitted encoding model (``core.virtual_fmri.start_worker``); a first small
    prediction warms it up. Returns at once; the web process never imports torch. A worker of another
    experiment is shut down.
    """
    _predictor(key)


def _predictor(key: str) -> ProcessPoolExecutor:
    from core.experiments import encoding_model_path
    from core.virtual_fmri import predict_in_worker, start_worker

    _require(key)
    with _predictor_lock:
        pool = _predictor_pools.get(key)
        if pool is None:
            for old in _predictor_pools.values():
                old.shutdown(wait=False, cancel_futures=True)
            _predictor_pools.clear()
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=start_worker, initargs=(str(encoding_model_path(key)),))
            pool.submit(predict_in_worker, np.zeros((1, 32, 32, 3), np.uint8))
            _predictor_pools[key] = pool
        return pool


def stop_predictors() -> None:
    """Kill the warm prediction workers and drop their pools (a live worker keeps the interpreter from exiting).

    Returns once each pool's management thread has ended (it sees its killed workers and stops).
    """
    with _predictor_lock:
        for pool in _predictor_pools.values():
            for process in list((pool._processes or {}).values()):
                process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
        _predictor_pools.clear()


def _upload_map(key: str, value: str) -> np.ndarray:
    """Predicted map of an uploaded image with experiment ``key``'s model, through the worker; cached."""
    from core.stimuli import from_files
    from core.virtual_fmri import predict_in_worker

    path = _upload_path(value)
    cache_key = ("upload-map/v1", key, path.parent.name)
    values = result_cache().get(cache_key)
    if values is not None:
        return values
    pool = _predictor(key)
    try:
        values = pool.submit(predict_in_worker, from_files([path])).result(timeout=PREDICTION_TIMEOUT_S)[0]
    except BrokenProcessPool as exc:
        with _predictor_lock:
            if _predictor_pools.get(key) is pool:
                del _predictor_pools[key]
        raise UserError("The prediction worker stopped: it could not load ResNet-50 or the fitted model "
                         "(see the server log); the next upload starts a new one") from exc
    except concurrent.futures.TimeoutError as exc:
        raise UserError(f"The prediction took longer than {PREDICTION_TIMEOUT_S} s; try again") from exc
    result_cache().set(cache_key, values, tag="upload-map")
    return values
