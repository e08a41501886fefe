"""The Selectivity page: d′ maps, the categories of a vertex, d′ per area and their CSV tables."""

from __future__ import annotations

import numpy as np

from core import cortex
from core.errors import UserError
from dashboard.services.experiment import (
    PREDICTED_Q_MAX,
    PREDICTED_R_MIN,
    _empty_rule_note,
    _require,
    predicted_rule,
    predicted_vertices,
)
from dashboard.services.surface import _vertex_table, vertex_roi_names

__all__ = [
    "SELECTIVITY_TABLES",
    "category_choices",
    "roi_selectivity",
    "selectivity_map",
    "selectivity_summary",
    "selectivity_table",
    "top_categories_at",
]


def category_choices(key: str) -> list[dict]:
    """Dropdown options: the maximum over categories, then each category."""
    result = _require(key)
    return [{"label": "max over categories (general selectivity)", "value": "__max__"}] + [
        {"label": c, "value": c} for c in result.categories]


def selectivity_map(key: str, category: str, *, q_max: float = PREDICTED_Q_MAX,
                    r_min: float = PREDICTED_R_MIN) -> np.ndarray:
    """d′ map of one category, or of the most selective category (``"__max__"``), (59412,); NaN off the
    vertices the model predicts (:func:`predicted_vertices`), where d′ of predicted responses means nothing."""
    result = _require(key)
    if category == "__max__":
        values = result.dprime.max(axis=0)
    elif category in result.categories:
        values = result.dprime[result.categories.index(category)]
    else:
        raise ValueError(f"Unknown category={category!r}; choose from {list(result.categories)}")
    return np.where(predicted_vertices(key, q_max=q_max, r_min=r_min), values, np.nan).astype(np.float32)


def selectivity_summary(key: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> str:
    """One sentence: on how many vertices d′ is shown, and by which rule."""
    n = int(predicted_vertices(key, q_max=q_max, r_min=r_min).sum())
    text = (f"d′ is shown on the {n:,} vertices the encoding model predicts ({predicted_rule(q_max, r_min)}); "
            "the rest is drawn as sulcal grey and left out of the area means and the CSV files.")
    if n == 0:
        text += " No vertex passes." + _empty_rule_note(key, q_max)
    return text


def top_categories_at(key: str, grayordinate: int, k: int = 10, *, q_max: float = PREDICTED_Q_MAX,
                      r_min: float = PREDICTED_R_MIN) -> tuple[list[str], np.ndarray]:
    """The ``k`` categories with the highest d′ at one vertex, best first; a ValueError off the predicted vertices."""
    from core.categories import top_categories

    result = _require(key)
    if not predicted_vertices(key, q_max=q_max, r_min=r_min)[grayordinate]:
        area = vertex_roi_names()[grayordinate] or "no area"
        raise UserError(f"The encoding model does not predict vertex {grayordinate} ({area}) by the rule "
                         f"{predicted_rule(q_max, r_min)}, so it has no category ranking; click a coloured vertex")
    column = result.dprime[:, [grayordinate]]
    order = top_categories(column, k=min(k, len(result.categories)))[0]
    return [result.categories[i] for i in order], column[order, 0]


def roi_selectivity(key: str, category: str, *, q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> dict:
    """Mean ± SD of d′ over the predicted vertices of each Glasser area of the four visual streams; areas
    without a predicted vertex are left out.

    Returns
    -------
    dict with ``roi_names``, ``streams``, ``means``, ``sds`` (SD over the area's predicted vertices, 0 for one
    vertex: a spread, not an error of the mean, since neighbouring vertices are not independent) and
    ``n_vertices``.
    """
    from core.workflows.roi_scores import area_spread

    values = selectivity_map(key, category, q_max=q_max, r_min=r_min)
    areas = {}
    for roi in cortex.roi_table():
        if roi.stream != "other":
            areas.setdefault((roi.stream, roi.name), []).append(roi.grayordinates)
    kept, means, sds, n_vertices = area_spread(values, {area: np.concatenate(parts)
                                                        for area, parts in sorted(areas.items())})
    return {"roi_names": [name for _, name in kept], "streams": [stream for stream, _ in kept], "means": means,
            "sds": sds, "n_vertices": n_vertices}


#: CSV exports of the Selectivity page's figures: name → label.
SELECTIVITY_TABLES = {
    "dprime_map": "d′ map (per vertex)",
    "top": "Top-10 categories of the clicked vertex",
    "roi": "Mean d′ per area",
}


def selectivity_table(key: str, name: str, *, category: str = "__max__", grayordinate: int | None = None,
                      q_max: float = PREDICTED_Q_MAX, r_min: float = PREDICTED_R_MIN) -> tuple[str, str]:
    """The numbers behind one Selectivity figure as ``(filename, csv_text)``: only the vertices the model
    predicts (:func:`predicted_vertices` with ``q_max``, ``r_min``)."""
    import pandas as pd

    if name not in SELECTIVITY_TABLES:
        raise ValueError(f"Unknown figure={name!r}; choose from {sorted(SELECTIVITY_TABLES)}")
    label = "max" if category == "__max__" else category.replace(" ", "_")
    rule = dict(q_max=q_max, r_min=r_min)
    if name == "dprime_map":
        table = _vertex_table(selectivity_map(key, category, **rule), "dprime").dropna(subset=["dprime"])
        return f"dprime_{label}.csv", table.to_csv(index=False)
    if name == "roi":
        rois = roi_selectivity(key, category, **rule)
        table = pd.DataFrame({"area": rois["roi_names"], "stream": rois["streams"], "mean_dprime": rois["means"],
                              "sd": rois["sds"], "n_predicted_vertices": rois["n_vertices"]})
        return f"roi_dprime_{label}.csv", table.to_csv(index=False)
    if grayordinate is None:
        raise UserError("Click a vertex on the map first")
    names, dprime = top_categories_at(key, int(grayordinate), **rule)
    table = pd.DataFrame({"rank": np.arange(1, len(names) + 1), "category": names, "dprime": dprime})
    return f"top_categories_vertex{int(grayordinate)}.csv", table.to_csv(index=False)
