"""Read TensorFlow.js weight files (``weightsManifest`` + binary shards) into numpy arrays.

Both the layers-model format (``model.json`` with a ``weightsManifest`` key) and face-api's bare
``*-weights_manifest.json`` lists are supported. Quantised weights (``uint8``/``uint16`` with
``min``/``scale``, or ``float16``) are dequantised to float32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["read_tfjs_weights"]

_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16,
           "float16": np.float16, "bool": np.bool_}


def read_tfjs_weights(manifest_path: str | Path) -> dict[str, np.ndarray]:
    """Return ``{weight_name: float32 or int32 array}`` in TF.js layout (e.g. conv kernels HWIO).

    Parameters
    ----------
    manifest_path : path-like
        ``model.json`` (layers model) or a face-api ``*-weights_manifest.json``; shard paths are
        resolved relative to its folder.
    """
    manifest_path = Path(manifest_path)
    content = json.loads(manifest_path.read_text())
    groups = content["weightsManifest"] if isinstance(content, dict) else content
    weights: dict[str, np.ndarray] = {}
    for group in groups:
        buffer = b"".join((manifest_path.parent / shard).read_bytes() for shard in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = tuple(spec["shape"])
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else spec["dtype"]
            dtype = np.dtype(_DTYPES[stored])
            nbytes = count * dtype.itemsize
            if offset + nbytes > len(buffer):
                raise ValueError(
                    f"TF.js shards of {manifest_path.name} end before weight {spec['name']!r} "
                    f"(need {offset + nbytes} bytes, have {len(buffer)}): truncated file?"
                )
            raw = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).reshape(shape)
            offset += nbytes
            if quant and stored in {"uint8", "uint16"}:
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            elif spec["dtype"] == "float32":
                values = raw.astype(np.float32)
            else:
                values = raw.copy()
            weights[spec["name"]] = values
        if offset != len(buffer):
            raise ValueError(
                f"TF.js shards of {manifest_path.name} hold {len(buffer)} bytes but the manifest "
                f"describes {offset}: corrupt or mismatched files"
            )
    return weights
