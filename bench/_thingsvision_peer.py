"""thingsvision's extractor on torchvision ResNet-50, timed against its own bare forward pass.

Run by ``bench/extraction.py`` with an interpreter that has thingsvision installed (it pins its own torch,
so it usually lives in a separate environment): ``PYTHON peer.py PIXELS.npy --batch-size B``.
Prints one JSON line: images, seconds of the bare forward, seconds of thingsvision's extraction of the
18 Wen 2018 modules (full flattened maps, its only reduction), and the torch version.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torchvision
from thingsvision import get_extractor_from_model

#: torchvision's names for the 18 layers: the stem ReLU, the 16 bottleneck blocks and the classifier.
WEN18_TORCHVISION = ["relu"] + [f"layer{stage}.{block}" for stage, n_blocks in enumerate((3, 4, 6, 3), start=1)
                                for block in range(n_blocks)] + ["fc"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pixels", help="uint8 array (n, 224, 224, 3) saved with numpy.save")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    pixels = np.load(args.pixels)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    batches = [((torch.from_numpy(pixels[i:i + args.batch_size]).permute(0, 3, 1, 2).float() / 255 - mean) / std)
               .contiguous()
               for i in range(0, len(pixels), args.batch_size)]
    model = torchvision.models.resnet50(weights=None).eval()  # timing only: the weights do not change the work

    def bare():
        with torch.no_grad():
            for batch in batches:
                model(batch)

    bare()  # warm-up
    start = time.perf_counter()
    bare()
    t_bare = time.perf_counter() - start
    extractor = get_extractor_from_model(model=model, device="cpu", backend="pt")
    start = time.perf_counter()
    features = extractor.extract_features(batches=batches, module_names=WEN18_TORCHVISION, flatten_acts=True,
                                          output_type="ndarray")
    t_extract = time.perf_counter() - start
    assert len(features) == 18 and all(len(f) == len(pixels) for f in features.values())
    print(json.dumps({"n_images": len(pixels), "bare_s": t_bare, "thingsvision_s": t_extract,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
