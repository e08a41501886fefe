"""Your study's clusters (/your-study/clusters, not in the navbar): the RDM Clusters page on the study chosen in the
navbar, and the callbacks of its study view (``_study_clusters``; RDM Clusters shows that layout with ``?study=``)."""

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, no_update

from dashboard import services
from dashboard.figures.placeholder import placeholder_figure
from dashboard.figures.rdm import (
    format_p,
    similarity_scatter_figure,
)
from dashboard.ids import StudyClusters as ids
from dashboard.messages import error_alert, user_message
from dashboard.pages._shared import (
    background_job,
    clustering_views,
    cortex_update,
    map_style,
    progress_reporter,
    report_cancel,
)
from dashboard.pages._study_clusters import CATEGORIES_FIRST, CHOOSE_STUDY, layout  # noqa: F401

dash.register_page(__name__, path="/your-study/clusters", name="Your study: clusters", order=None)


@callback(Output(ids.CATEGORIES_DONE, "data"), Output(ids.CATEGORIES_STATUS, "children"),
          Input(ids.CATEGORIES, "n_clicks"), State(ids.STUDY, "data"),
          **background_job(ids.CATEGORIES, ids.CATEGORIES_CANCEL, ids.CATEGORIES_PROGRESS))
def compute_categories(set_progress, _clicks, study):
    """Background job: the labelled library through ResNet-50 and the study's model (Selectivity's job)."""
    if not study:
        return no_update, CHOOSE_STUDY
    try:
        services.compute_study_categories(study, progress=progress_reporter(set_progress))
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
    return study, "Computed."


report_cancel(ids.CATEGORIES_CANCEL, ids.CATEGORIES_STATUS)


@callback(Output(ids.STATUS, "children"), Output(ids.HEATMAP, "figure"), Output(ids.MODULARITY, "figure"),
          Output(ids.DENDROGRAM, "figure"), Output(ids.CLUSTER, "options"), Output(ids.CLUSTER, "value"),
          Input(ids.STUDY, "data"), Input(ids.CATEGORIES_DONE, "data"))
def draw_clustering(study, _done):
    """Similarity heatmap ordered by cluster, Q vs k and the dendrogram of the study's category maps."""
    waiting = placeholder_figure(CATEGORIES_FIRST if study else CHOOSE_STUDY)
    if not study:
        return CHOOSE_STUDY, waiting, waiting, waiting, [], None
    try:
        c = services.study_clustering(study)
    except ValueError as exc:
        return error_alert(exc, color="warning", className="p-2"), waiting, waiting, waiting, [], None
    if c is None:
        return ("Not computed yet: press 'Compute category maps' above (or 'Compute selectivity' on the "
                "Selectivity page)."), waiting, waiting, waiting, [], None
    status = dbc.Alert(
        f"{len(c['categories'])} library categories, similarity over {c['n_vertices']:,} of your study's "
        f"{c['n_study_vertices']:,} vertices ({c['criterion']}). Best k = {c['best_k']} by signed modularity "
        f"Q = Q⁺ − Q⁻ = {c['modularity'].max():.3f} (each category's similarity with itself left out); adjusted Rand "
        f"index with the library's superordinate groups = {c['ari']:.2f}.", color="light")
    heatmap, modularity, dendrogram, options = clustering_views(c)
    return status, heatmap, modularity, dendrogram, options, 0


@callback(Output(ids.SPIN_DONE, "data"), Input(ids.SPIN, "n_clicks"), State(ids.STUDY, "data"),
          **background_job(ids.SPIN, ids.SPIN_CANCEL, ids.SPIN_PROGRESS))
def run_spin_test(set_progress, _clicks, study):
    """Background job: the spin test of the study's clustering (stored beside its category maps)."""
    if not study:
        return {"error": CHOOSE_STUDY}
    try:
        services.run_study_cluster_significance(study, progress=progress_reporter(set_progress))
    except ValueError as exc:
        return {"error": user_message(exc)}
    return {"study": study}


report_cancel(ids.SPIN_CANCEL, ids.SPIN_STATUS)


def significance_text(s: dict) -> str:
    """The spin test's result in words, or why the study's space gives none."""
    if "unavailable" in s:
        return s["unavailable"]
    on = (f"on your study's {s['n_tested']:,} predicted vertices, the clustering shown" if s["same_as_shown"] else
          f"on the {s['n_tested']:,} of your study's {s['n_predicted']:,} predicted vertices that are {s['space']} "
          f"vertices (the surface it is drawn on), where the clustering is recomputed: best k = {s['best_k']}")
    return (f"Significance of the clustering: {format_p(s['p'])} (Q = {s['q']:.3f}; {s['n_permutations']:,} null "
            f"samples, {s['null']}, k-means and the best k chosen again on each; null 95th percentile of the best "
            f"Q = {s['null_q_95']:.3f}). Spun {on}.")


@callback(Output(ids.SPIN_STATUS, "children"), Input(ids.SPIN_DONE, "data"), Input(ids.CLUSTER, "options"),
          State(ids.STUDY, "data"))
def draw_significance(done, options, study):
    """The stored spin test of the study's clustering, what to press, or why the job failed."""
    if (done or {}).get("error"):
        return dbc.Alert(done["error"], color="danger", className="p-2")
    if not study or not options:
        return None
    s = services.study_cluster_significance(study)
    return significance_text(s) if s else "Not computed yet: press 'Compute spin test' (about a minute)."


@callback(Output(ids.SEMANTIC_RESULT, "data"), Input(ids.SEMANTIC_METHOD, "value"), Input(ids.CLUSTER, "options"),
          State(ids.STUDY, "data"), background=True,
          running=[(Output(ids.SEMANTIC_METHOD, "disabled"), True, False)])
def compare_semantics(method, options, study):
    """Background job: semantic vs cortical similarity of the library's category pairs under the study's model."""
    if not study:
        return {"waiting": CHOOSE_STUDY}
    if not options:  # the page is still clustering (it triggers this again), or there are no category maps yet
        return None if services.study_clustering(study) is not None else {"waiting": CATEGORIES_FIRST}
    try:
        s = services.study_semantic_comparison(study, method)
    except ValueError as exc:
        return {"waiting": user_message(exc)}
    return {"x": s["x"].tolist(), "y": s["y"].tolist(), "pair_labels": s["pair_labels"], "r": float(s["r"]),
            "p": float(s["p"]), "label": s["label"]}


@callback(Output(ids.SCATTER, "figure"), Input(ids.SEMANTIC_RESULT, "data"))
def draw_semantics(s):
    """Semantic vs cortical similarity of every category pair, once the job has compared them."""
    if not s:
        return placeholder_figure("Comparing semantic and cortical similarity…")
    if "x" not in s:
        return placeholder_figure(s["waiting"])
    return similarity_scatter_figure(np.asarray(s["x"]), np.asarray(s["y"]), xlabel=s["label"],
                                     ylabel="cortical similarity (r)", pair_labels=s["pair_labels"], r=s["r"],
                                     p=s["p"], title="Semantic vs cortical similarity")


@callback(Output(ids.CLUSTER_MAP, "figure"), Input(ids.CLUSTER, "value"), Input(ids.VIEW, "value"),
          Input(ids.CLUSTER, "options"), State(ids.STUDY, "data"))
def draw_cluster_map(cluster, view, options, study):
    """Average category map of one cluster on the study's display surface."""
    if not study or not options:
        return placeholder_figure(CATEGORIES_FIRST if study else CHOOSE_STUDY)
    try:
        drawn = services.study_cluster_average_map(study, int(cluster or 0))
    except ValueError as exc:
        return placeholder_figure(user_message(exc))
    values = drawn["values"]
    figure, _ = cortex_update(values, view, change="figure", rendered=None, camera="lateral", hemisphere="both",
                              borders=False, surface=services.map_surface(drawn["space"], view),
                              **map_style("category:", values), colorbar_title="predicted (a.u.)",
                              title=f"{study}, cluster {cluster}: mean category map of its categories")
    return figure
