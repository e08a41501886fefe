"""RDM Clusters page (/rdm-clusters): categorical similarity, clustering and semantics (Wen et al. 2018)."""

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import services
from dashboard.components import (
    construction_notes,
    csv_export_row,
    job_controls,
    page_header,
    simulated_subject_badge,
    waiting_graph,
)
from dashboard.figures.placeholder import placeholder_figure
from dashboard.figures.rdm import (
    dendrogram_figure,
    feature_images_figure,
    format_p,
    layer_line_figure,
    png_export_config,
    rdm_figure,
    similarity_scatter_figure,
)
from dashboard.ids import RdmClusters as ids
from dashboard.messages import error_alert, user_message
from dashboard.pages import _study_clusters
from dashboard.pages._shared import (
    PAPERS,
    background_job,
    clustering_views,
    cortex_figure,
    map_style,
    progress_reporter,
    report_cancel,
)

dash.register_page(__name__, path="/rdm-clusters", name="RDM Clusters", order=4)


_RUN_FIRST = "Run the default experiment on the Virtual fMRI page to see this"
_COMPUTE_FIRST = "Press 'Compute' to see this"
_UNAVAILABLE = "Not available: see the message at the top of the page"


def _waiting() -> str:
    """What a figure without clusters waits for: the experiment, or nothing (the clustering failed, and the
    message at the top says why)."""
    return _RUN_FIRST if services.experiment_result(services.default_experiment_key()) is None else _UNAVAILABLE


def _graph(graph_id: str, filename: str, height: str, message: str = _RUN_FIRST):
    return waiting_graph(graph_id, message, style={"height": height}, config=png_export_config(filename))


def layout(study=None, **_query):
    """Controls and empty graphs; data arrive through callbacks. With a study chosen in the navbar
    (``?study=NAME``), the clustering of that study's category maps instead (``_study_clusters``)."""
    if study:
        return _study_clusters.layout(study)
    layerwise = dbc.Card(dbc.CardBody([
        html.H5("Layer-wise contribution and finer clustering"),
        html.P("The significance of the clustering above (spin test); category maps synthesised from each "
               "ResNet-50 layer alone (the other layers' features zeroed before the projection), their signed "
               "modularity and their correlation with semantic similarity; then each cluster split again over its "
               "cluster-specific vertices.", className="small"),
        *job_controls(ids.ANALYSES_RUN, ids.ANALYSES_CANCEL, ids.ANALYSES_PROGRESS, "Compute", size="sm"),
        html.Div(id=ids.ANALYSES_STATUS, className="small mt-2"),
        dbc.Row([dbc.Col(_graph(ids.LAYER_MODULARITY, "modularity_vs_layer", "35vh", _COMPUTE_FIRST), md=6),
                 dbc.Col(_graph(ids.LAYER_SEMANTIC, "semantic_r_vs_layer", "35vh", _COMPUTE_FIRST), md=6)]),
        dbc.Label("Cluster to split", html_for=ids.FINER_CLUSTER, className="mt-2"),
        dcc.Dropdown(id=ids.FINER_CLUSTER, options=[], value=None, clearable=False),
        html.Div(id=ids.FINER_STATUS, className="small mt-1"),
        dbc.Row([dbc.Col(_graph(ids.FINER_HEATMAP, "finer_similarity", "45vh", _COMPUTE_FIRST), md=7),
                 dbc.Col(_graph(ids.FINER_DENDROGRAM, "finer_dendrogram", "45vh", _COMPUTE_FIRST), md=5)]),
    ]), className="mt-3")
    visualisation = dbc.Card(dbc.CardBody([
        html.H5("Feature visualisation"),
        html.P("Images optimised from Gaussian noise (4 random starts, jitter + total-variation regularisation) "
               "to maximise the predicted response of a cluster's average map or of an area, through ResNet-50 "
               "and the fitted encoding models. About a second per step on a free CPU; results are cached.", className="small"),
        dbc.Row([
            dbc.Col([dbc.Label("Target", html_for=ids.VIS_TARGET),
                     dcc.Dropdown(id=ids.VIS_TARGET, options=[], value=None, clearable=False)], md=6),
            dbc.Col([dbc.Label("Steps", html_for=ids.VIS_STEPS),
                     dbc.Input(id=ids.VIS_STEPS, type="number", min=10, max=1000, step=10, value=100)], md=2),
            dbc.Col(job_controls(ids.VIS_RUN, ids.VIS_CANCEL, ids.VIS_PROGRESS, "Visualise", size="sm"), md=4),
        ]),
        html.Div(id=ids.VIS_STATUS, className="small mt-2"),
        _graph(ids.VIS_GRAPH, "feature_visualisation", "32vh", "Choose a target and press 'Visualise' to see this"),
    ]), className="mt-3")
    export = csv_export_row(ids.EXPORT_FIGURE, ids.DOWNLOAD_BUTTON, ids.EXPORT_ERROR, services.RDM_CLUSTERS_TABLES,
                            "similarity")
    return html.Div([
        page_header("RDM Clusters", *PAPERS["wen2018"]),
        simulated_subject_badge("rdm-clusters", services.subject_spec_summary()),
        construction_notes("rdm-clusters", services.simulation_notes()),
        dcc.Store(id=ids.ANALYSES_RESULT),
        dcc.Store(id=ids.VIS_RESULT, storage_type="local"),  # the last finished run, restored on reload
        html.Div(id=ids.STATUS, className="mb-2"),
        dbc.Row([
            dbc.Col(dcc.Loading(_graph(ids.HEATMAP, "category_similarity", "55vh")), md=7),
            dbc.Col([_graph(ids.MODULARITY, "modularity_vs_k", "27vh"),
                     _graph(ids.DENDROGRAM, "dendrogram", "28vh")], md=5),
        ]),
        dbc.Row([
            dbc.Col([
                dbc.Label("Semantic similarity", html_for=ids.SEMANTIC_METHOD),
                dbc.Select(id=ids.SEMANTIC_METHOD, value="wordnet_lch",
                           options=[{"label": v, "value": k} for k, v in services.SEMANTIC_METHODS.items()]),
                dcc.Store(id=ids.SEMANTIC_RESULT),
                dcc.Loading(_graph(ids.SCATTER, "semantic_vs_cortical", "45vh")),
            ], md=5),
            dbc.Col([
                dbc.Row([
                    dbc.Col([dbc.Label("Cluster-average map", html_for=ids.CLUSTER),
                             dcc.Dropdown(id=ids.CLUSTER, options=[], value=0, clearable=False)], md=6),
                    dbc.Col(dbc.RadioItems(id=ids.VIEW, value="flat", inline=True,
                                           options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS]),
                            md=6),
                ]),
                dcc.Loading(_graph(ids.CLUSTER_MAP, "cluster_average_map", "45vh")),
            ], md=7),
        ]),
        layerwise,
        visualisation,
        export,
        dcc.Download(id=ids.DOWNLOAD),
    ])


@callback(Output(ids.STATUS, "children"), Output(ids.HEATMAP, "figure"), Output(ids.MODULARITY, "figure"),
          Output(ids.DENDROGRAM, "figure"), Output(ids.CLUSTER, "options"), Output(ids.VIS_TARGET, "options"),
          Output(ids.VIS_TARGET, "value"), Input(ids.VIEW, "id"))
def draw_clustering(_):
    """Similarity heatmap ordered by cluster, Q vs k and the dendrogram."""
    key = services.default_experiment_key()
    if services.experiment_result(key) is None:
        link = dcc.Link("Run the default experiment on the Virtual fMRI page first.", href="/virtual-fmri")
        empty = placeholder_figure(_RUN_FIRST)
        return link, empty, empty, empty, [], [], None
    try:
        c = services.category_clustering(key)
    except ValueError as exc:
        empty = placeholder_figure(_UNAVAILABLE)
        return error_alert(exc, color="danger"), empty, empty, empty, [], [], None
    status = dbc.Alert(
        f"{len(c['categories'])} categories, similarity over {c['n_vertices']} predictable vertices "
        f"({c['criterion']}). Best k = {c['best_k']} by signed modularity Q = Q⁺ − Q⁻ (each category's "
        f"similarity with itself left out); adjusted Rand index with the superordinate groups = {c['ari']:.2f}. "
        + _significance_text(services.cluster_analyses(key)), color="light")
    heatmap, modularity, dendrogram, options = clustering_views(c)
    targets = services.visualisation_targets(key)
    return status, heatmap, modularity, dendrogram, options, targets, targets[0]["value"]


def _significance_text(analyses: dict | None) -> str:
    """The clustering's p, or where to get it: the spin test runs with the layer-wise analyses (a job)."""
    if analyses is None:
        return ("Its significance (a spin test that re-runs the clustering on rotated maps) is computed with "
                "the layer-wise analyses below: press 'Compute'.")
    s = analyses["significance"]
    return (f"Significance of this clustering: {format_p(s['p'])} (Q = {s['q']:.3f}; "
            f"{s['n_permutations']:,} null samples in which each category map is rotated on the cortical sphere, "
            "and k-means and the best k are chosen again as on the real maps; null 95th percentile of the best "
            f"Q = {s['null_q_95']:.3f}).")


@callback(Output(ids.SEMANTIC_RESULT, "data"), Input(ids.SEMANTIC_METHOD, "value"), Input(ids.CLUSTER, "options"),
          background=True, running=[(Output(ids.SEMANTIC_METHOD, "disabled"), True, False)])
def compare_semantics(method, options):
    """Background job: semantic vs cortical similarity of every category pair (the semantic measures may load a
    network, and the label-permutation test takes a while), with its CSV; a message when there is nothing yet."""
    if not options:
        return {"waiting": _waiting()}
    key = services.default_experiment_key()
    try:
        s = services.semantic_comparison(key, method)
        filename, text = services.rdm_clusters_table(key, "semantic", method=method)
    except ValueError as exc:
        return {"error": user_message(exc)}
    return {"method": method, "x": s["x"].tolist(), "y": s["y"].tolist(), "pair_labels": s["pair_labels"],
            "r": float(s["r"]), "p": float(s["p"]), "label": s["label"], "filename": filename, "csv": text}


@callback(Output(ids.SCATTER, "figure"), Input(ids.SEMANTIC_RESULT, "data"))
def draw_semantics(s):
    """Semantic vs cortical similarity of every category pair, once the job has compared them."""
    if not s:
        return placeholder_figure("Comparing semantic and cortical similarity…")
    if "x" not in s:
        return placeholder_figure(s.get("waiting") or s["error"])
    return similarity_scatter_figure(np.asarray(s["x"]), np.asarray(s["y"]), xlabel=s["label"],
                                     ylabel="cortical similarity (r)", pair_labels=s["pair_labels"], r=s["r"],
                                     p=s["p"], title="Semantic vs cortical similarity")


@callback(Output(ids.CLUSTER_MAP, "figure"), Input(ids.CLUSTER, "value"), Input(ids.VIEW, "value"),
          Input(ids.CLUSTER, "options"))
def draw_cluster_map(cluster, view, options):
    """Average predicted map of one cluster's categories."""
    if not options:
        return placeholder_figure(_waiting())
    cluster = int(cluster) if cluster is not None else options[0]["value"]
    values = services.cluster_average_map(services.default_experiment_key(), cluster)
    return cortex_figure(values, view, **map_style("category:", values), colorbar_title="predicted (a.u.)",
                         title=f"Cluster {cluster}: mean predicted map of its categories")


@callback(
    Output(ids.ANALYSES_RESULT, "data"),
    Input(ids.ANALYSES_RUN, "n_clicks"),
    **background_job(ids.ANALYSES_RUN, ids.ANALYSES_CANCEL, ids.ANALYSES_PROGRESS),
)
def run_analyses(set_progress, _clicks):
    """Background job: layer-wise contribution and finer clustering; returns the result path or an error."""
    try:
        return {"path": services.run_cluster_analyses(services.default_experiment_key(),
                                                      progress=progress_reporter(set_progress))}
    except ValueError as exc:
        return {"error": user_message(exc)}


report_cancel(ids.ANALYSES_CANCEL, ids.ANALYSES_STATUS)


@callback(Output(ids.ANALYSES_STATUS, "children"), Output(ids.LAYER_MODULARITY, "figure"),
          Output(ids.LAYER_SEMANTIC, "figure"), Output(ids.FINER_CLUSTER, "options"),
          Output(ids.FINER_CLUSTER, "value"), Input(ids.ANALYSES_RESULT, "data"), Input(ids.CLUSTER, "options"))
def draw_layerwise(job, options):
    """Q and semantic r vs layer, and the clusters that can be split, once the analyses exist."""
    if (job or {}).get("error"):
        empty = placeholder_figure(_COMPUTE_FIRST)
        return dbc.Alert(job["error"], color="danger"), empty, empty, [], None
    if not options:
        return None, placeholder_figure(_waiting()), placeholder_figure(_waiting()), [], None
    analyses = services.cluster_analyses(services.default_experiment_key())
    if analyses is None:
        empty = placeholder_figure(_COMPUTE_FIRST)
        return ("Not computed yet: press 'Compute' (a few minutes: the clustering's spin test, then the "
                "layer-wise analyses).", empty, empty, [], None)
    q = layer_line_figure(analyses["layers"], {"Q (best k)": analyses["modularity"]}, ylabel="signed modularity Q",
                          title="Clustering of each layer's category maps")
    semantic = layer_line_figure(
        analyses["layers"], {services.SEMANTIC_METHODS[m]: r for m, r in analyses["semantic_r"].items()},
        hlines={"r = 0": 0.0}, ylabel="r (cortical vs semantic similarity)", title="Semantic correspondence by layer")
    finer = [{"label": f"cluster {k}" + ("" if "error" in f else f": {', '.join(f['categories'])}"),
              "value": k, "disabled": "error" in f} for k, f in analyses["finer"].items()]
    first = next((o["value"] for o in finer if not o["disabled"]), None)
    return (f"Layer-wise contribution and finer clustering computed. {_significance_text(analyses)}", q, semantic,
            finer, first)


@callback(Output(ids.FINER_STATUS, "children"), Output(ids.FINER_HEATMAP, "figure"),
          Output(ids.FINER_DENDROGRAM, "figure"), Input(ids.FINER_CLUSTER, "value"),
          prevent_initial_call=True)
def draw_finer(cluster):
    """Heatmap and dendrogram of the sub-clusters of the chosen cluster."""
    analyses = services.cluster_analyses(services.default_experiment_key()) if cluster is not None else None
    if analyses is None:
        empty = placeholder_figure(_COMPUTE_FIRST)
        return None, empty, empty
    f = analyses["finer"][int(cluster)]
    if "error" in f:
        empty = placeholder_figure("This cluster cannot be split: see the message above")
        return dbc.Alert(f["error"], color="warning"), empty, empty
    status = (f"{f['n_specific']} cluster-specific vertices (Bonferroni p < 0.05); best k = {f['best_k']} "
              "sub-clusters by signed modularity.")
    order = np.lexsort((np.argsort(f["order"]), f["labels"]))
    heatmap = rdm_figure(f["similarity"], f["categories"], order=order, cluster_labels=f["labels"],
                         colorscale="RdBu_r", zmid=0, value_name="r", title=f"Cluster {cluster}: finer similarity")
    dendrogram = dendrogram_figure(f["linkage"], f["categories"], cluster_labels=f["labels"],
                                   title=f"Cluster {cluster}: dendrogram")
    return status, heatmap, dendrogram


@callback(
    Output(ids.VIS_RESULT, "data"),
    Input(ids.VIS_RUN, "n_clicks"),
    State(ids.VIS_TARGET, "value"),
    State(ids.VIS_STEPS, "value"),
    **background_job(ids.VIS_RUN, ids.VIS_CANCEL, ids.VIS_PROGRESS),
)
def run_visualisation(set_progress, _clicks, target, n_steps):
    """Background job: activation maximisation of the chosen target; returns the result path or an error."""
    if target is None or n_steps is None:
        return {"error": "Choose a target and a number of steps (10–1000)."}
    try:
        return {"path": services.run_feature_visualisation(
            services.default_experiment_key(), target, int(n_steps),
            progress=progress_reporter(set_progress))}
    except ValueError as exc:
        return {"error": user_message(exc)}


report_cancel(ids.VIS_CANCEL, ids.VIS_STATUS)


@callback(Output(ids.VIS_STATUS, "children"), Output(ids.VIS_GRAPH, "figure"), Input(ids.VIS_RESULT, "data"),
          prevent_initial_call=True)
def draw_visualisation(job):
    """The optimised images of the last visualisation job."""
    if not job:
        return no_update, no_update
    if "error" in job:
        return dbc.Alert(job["error"], color="danger"), placeholder_figure("No visualisation: see the message above")
    v = services.feature_visualisation_result(job["path"])
    gain = v["objective"][-1] - v["objective"][0]
    return (f"{v['label']}: predicted response raised by {gain.mean():.3g} on average over "
            f"{v['objective'].shape[0] - 1} steps."), feature_images_figure(
        v["images"], v["objective"], title=f"Feature visualisation: {v['label']}")


@callback(Output(ids.DOWNLOAD, "data"), Output(ids.EXPORT_ERROR, "children"),
          Input(ids.DOWNLOAD_BUTTON, "n_clicks"), State(ids.EXPORT_FIGURE, "value"),
          State(ids.SEMANTIC_METHOD, "value"), State(ids.CLUSTER, "value"), State(ids.FINER_CLUSTER, "value"),
          State(ids.VIS_RESULT, "data"), State(ids.SEMANTIC_RESULT, "data"), prevent_initial_call=True)
def download_table(_clicks, figure, method, cluster, finer_cluster, vis_job, semantic):
    """The numbers behind the chosen figure as CSV (the semantic comparison's from its job)."""
    if figure == "semantic":
        if not (semantic or {}).get("csv") or semantic["method"] != method:
            return no_update, dbc.Alert("The semantic comparison is still running (or failed: see its figure)",
                                        color="warning")
        return dcc.send_string(semantic["csv"], semantic["filename"]), None
    chosen = finer_cluster if figure == "finer" else cluster
    try:
        filename, text = services.rdm_clusters_table(services.default_experiment_key(), figure, method=method,
                                                     cluster=int(chosen or 0),
                                                     visualisation=(vis_job or {}).get("path"))
    except ValueError as exc:
        return no_update, error_alert(exc, color="warning")
    return dcc.send_string(text, filename), None
