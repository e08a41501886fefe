"""Drive every ordinary (non-background) server callback of every page, as the browser would, then report.

Run as ``python -m tests.dashboard._callback_driver`` in a fresh interpreter with ``VFS_CACHE`` set to a test
cache: it seeds a small experiment there (six categories, so that the clustering and the semantic comparison
run), starts the app's Flask test client, and POSTs each callback once per representative input. Values come
from the pages' layouts (each component's initial properties); an input whose component offers ``options``
is also driven with every option, one input at a time; what a callback returns is written back, so that a
callback fed by another (clusters -> the semantic comparison) sees real values on the second pass.

Prints one JSON object: ``driven`` (module.function of each callback driven), ``torch_after`` (the first callback
after which ``torch`` was imported, or None), ``failed`` (callbacks answered with a status other than 200/204).
"""

from __future__ import annotations

import json
import sys

import numpy as np

#: Options tried per input besides its initial value (evenly spaced through longer lists, first and last kept).
MAX_OPTIONS = 2
CATEGORIES = ("face", "house", "dog", "car", "tree", "chair")


def seed_library(stimuli: tuple[str, ...]) -> None:
    """A stimulus library of one 8 x 8 image per category in this cache (replacing a linked one), so that no
    request finds the library missing and builds it."""
    from PIL import Image

    from core.stimuli import LIBRARY_SOURCES, LIBRARY_VERSION
    from core.weights import cache_dir

    root = cache_dir() / "library"
    if root.is_symlink():
        root.unlink()
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (stimulus, label) in enumerate(zip(stimuli, CATEGORIES, strict=True)):
        file = stimulus.removeprefix("library/")
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / file)
        entries.append({"id": stimulus, "file": file, "label": label, "group": "ab"[i % 2], "origin": "test",
                        "licence": "test image"})
    report = {"sources": sorted(LIBRARY_SOURCES), "built": [], "missing": {}, "skipped": [],
              "n_images": len(entries), "counts": {}}
    (root / "index.json").write_text(json.dumps({"version": LIBRARY_VERSION, "entries": entries, "report": report}))


def seed_clusterable_experiment() -> None:
    """A cached default-experiment result with six categories in two planted groups, all vertices predictable,
    and a library holding its images."""
    from core.cortex import N_VERTICES
    from core.experiments import VERTEX_MAPS, ExperimentResult, _save_result, experiment_dir
    from dashboard import services

    n = N_VERTICES["fsLR32k"]
    rng = np.random.default_rng(0)
    maps = {name: rng.uniform(0.3, 0.8, n).astype(np.float32) for name in VERTEX_MAPS}
    maps["q"] = maps["cv_q"] = maps["p"] = np.full(n, 1e-4, np.float32)
    maps["best_layer"] = maps["best_layer_refit"] = rng.integers(0, 18, n).astype(np.float32)
    groups = rng.standard_normal((2, n))
    category_maps = np.stack([groups[i % 2] + 0.5 * rng.standard_normal(n) for i in range(len(CATEGORIES))])
    stimuli = tuple(f"library/{c}_{i}.png" for i, c in enumerate(CATEGORIES))
    seed_library(stimuli)
    result = ExperimentResult(
        maps=maps, layer_r2=np.zeros((2, n), np.float32), layers=("layer1", "layer2"), categories=CATEGORIES,
        category_maps=category_maps.astype(np.float32),
        dprime=rng.standard_normal((len(CATEGORIES), n)).astype(np.float32),
        stimulus_ids=stimuli, labels=CATEGORIES, groups=("a", "b") * 3, test_indices=np.arange(len(stimuli)),
        roi_image_r=np.full((len(stimuli), 1), 0.2, np.float32), rois=("V1",),
        meta={"n_train": 2, "n_test": len(stimuli), "n_repeats": 2, "n_components": 2, "subject": "seeded",
              "snr": 1.0, "network": "resnet50", "test_responses": "seeded", "ceiling_q_level": 0.05})
    folder = experiment_dir(services.default_experiment_key())
    folder.mkdir(parents=True)
    _save_result(folder / "result", result)
    np.save(folder / "predicted.npy", np.ones((len(stimuli), n), np.float16))


def _walk(component, found: dict) -> None:
    """``found[id] = {prop: value}`` for every component with a string id in a layout tree."""
    if isinstance(component, (list, tuple)):
        for child in component:
            _walk(child, found)
        return
    if not hasattr(component, "to_plotly_json"):
        return
    props = {name: getattr(component, name) for name in component._prop_names if hasattr(component, name)}
    if isinstance(props.get("id"), str):
        found.setdefault(props["id"], {}).update({k: v for k, v in props.items() if k != "children"})
    for name in ("children", *getattr(component, "_children_props", ())):
        child = getattr(component, name.split(".")[0].removesuffix("[]"), None)
        if child is not None:
            _walk(child, found)


def _option_values(options) -> list:
    values = []
    for option in options or []:
        if isinstance(option, dict) and not option.get("disabled"):
            values.append(option.get("value"))
        elif not isinstance(option, dict):
            values.append(option)
    return values


def _spec(output) -> dict:
    return {"id": output.component_id, "property": output.component_property}


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json")
                                 else (o.tolist() if hasattr(o, "tolist") else str(o))))


def main() -> None:
    seed_clusterable_experiment()
    import dash

    import app

    client = app.server.test_client()
    client.get("/")
    props: dict = {}
    _walk(app.app.layout, props)
    for page in dash.page_registry.values():
        layout = page["layout"]
        _walk(layout() if callable(layout) else layout, props)

    callbacks = [(key, entry) for key, entry in app.app.callback_map.items()
                 if "callback" in entry and not entry.get("background")
                 and entry["callback"].__wrapped__.__module__.startswith("dashboard.")]
    driven, failed, torch_after, last_seen = [], [], None, {}
    for _pass in range(2):
        for key, entry in callbacks:
            function = entry["callback"].__wrapped__
            name = f"{function.__module__}.{function.__name__}"
            many = isinstance(entry["output"], list)
            inputs, state = entry["inputs"], entry["state"]

            def value(item):
                return props.get(item["id"], {}).get(item["property"])

            seen = [value(item) for item in (*inputs, *state)]
            if _pass and seen == last_seen.get(key):
                continue  # nothing it reads changed since the first pass
            last_seen[key] = seen
            variants = [{}]
            for i, item in enumerate((*inputs, *state) if not _pass else ()):
                if item["property"] == "value":
                    options = _option_values(props.get(item["id"], {}).get("options"))
                    if len(options) > MAX_OPTIONS:
                        options = [options[0], options[-1]]
                    variants += [{i: v} for v in options if v != value(item)]
            for variant in variants:
                body = {
                    "output": key,
                    "outputs": ([_spec(o) for o in entry["output"]] if many else _spec(entry["output"])),
                    "inputs": [{**item, "value": _jsonable(variant.get(i, value(item)))} for i, item in enumerate(inputs)],
                    "state": [{**item, "value": _jsonable(variant.get(len(inputs) + i, value(item)))}
                              for i, item in enumerate(state)],
                    "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"] if inputs else [],
                }
                response = client.post("/_dash-update-component", json=body)
                if response.status_code == 200:
                    for component_id, updates in json.loads(response.data).get("response", {}).items():
                        for prop, new in updates.items():
                            if not (isinstance(new, dict) and "__dash_patch_update" in new):
                                props.setdefault(component_id, {})[prop] = new
                elif response.status_code != 204:
                    failed.append(f"{name}: HTTP {response.status_code}")
                if torch_after is None and "torch" in sys.modules:
                    torch_after = name
            driven.append(name)
    print(json.dumps({"driven": sorted(set(driven)), "torch_after": torch_after, "failed": failed}))


if __name__ == "__main__":
    main()
