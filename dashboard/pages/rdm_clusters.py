"""RDM Clusters page (/rdm-clusters): categorical similarity, clustering and semantics (Wen et al. 2018)."""

import io

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html

from dashboard import services
from dashboard.components import page_header, simulated_subject_badge
from dashboard.figures.rdm import dendrogram_figure, modularity_figure, rdm_figure, similarity_scatter_figure
from dashboard.ids import RdmClusters as ids
from dashboard.pages._shared import PAPERS, cortex_figure

dash.register_page(__name__, path="/rdm-clusters", name="RDM Clusters", order=4)


def layout(**_query):
    """Controls and empty graphs; data arrive through callbacks."""
    return html.Div([
        page_header("RDM Clusters", *PAPERS["wen2018"]),
        simulated_subject_badge("rdm-clusters", services.subject_spec_summary()),
        html.Div(id=ids.STATUS, className="mb-2"),
        dbc.Row([
            dbc.Col(dcc.Loading(dcc.Graph(id=ids.HEATMAP, style={"height": "55vh"})), md=7),
            dbc.Col([dcc.Graph(id=ids.MODULARITY, style={"height": "27vh"}),
                     dcc.Graph(id=ids.DENDROGRAM, style={"height": "28vh"})], md=5),
        ]),
        dbc.Row([
            dbc.Col([
                dbc.Label("Semantic similarity", html_for=ids.SEMANTIC_METHOD),
                dbc.Select(id=ids.SEMANTIC_METHOD, value="wordnet_lch",
                           options=[{"label": v, "value": k} for k, v in services.SEMANTIC_METHODS.items()]),
                dcc.Loading(dcc.Graph(id=ids.SCATTER, style={"height": "45vh"})),
            ], md=5),
            dbc.Col([
                dbc.Row([
                    dbc.Col([dbc.Label("Cluster-average map", html_for=ids.CLUSTER),
                             dcc.Dropdown(id=ids.CLUSTER, options=[], value=0, clearable=False)], md=6),
                    dbc.Col(dbc.RadioItems(id=ids.VIEW, value="flat", inline=True,
                                           options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS]),
                            md=6),
                ]),
                dcc.Loading(dcc.Graph(id=ids.CLUSTER_MAP, style={"height": "45vh"})),
            ], md=7),
        ]),
        dbc.Button("Download the similarity matrix (CSV)", id=ids.DOWNLOAD_BUTTON, color="secondary",
                   size="sm", className="mt-2"),
        html.Span(" PNG: camera icon of each figure.", className="small text-muted"),
        dcc.Download(id=ids.DOWNLOAD),
    ])


@callback(Output(ids.STATUS, "children"), Output(ids.HEATMAP, "figure"), Output(ids.MODULARITY, "figure"),
          Output(ids.DENDROGRAM, "figure"), Output(ids.CLUSTER, "options"), Input(ids.VIEW, "id"))
def draw_clustering(_):
    """Similarity heatmap ordered by cluster, Q vs k and the dendrogram."""
    key = services.experiment_key()
    if services.experiment_result(key) is None:
        link = dcc.Link("Run the default experiment on the Virtual fMRI page first.", href="/virtual-fmri")
        return link, {}, {}, {}, []
    try:
        c = services.category_clustering(key)
    except ValueError as exc:
        return dbc.Alert(str(exc), color="danger"), {}, {}, {}, []
    order = np.lexsort((np.argsort(c["order"]), c["cluster_labels"]))
    status = dbc.Alert(
        f"{len(c['categories'])} categories, similarity over {c['n_vertices']} predictable vertices "
        f"({c['criterion']}). Best k = {c['best_k']} by signed modularity Q = Q⁺ − Q⁻ "
        f"(p = {c['p_value']:.4f}, 10,000 shuffles); adjusted Rand index with the superordinate groups "
        f"= {c['ari']:.2f}.", color="light")
    heatmap = rdm_figure(c["similarity"], c["categories"], order=order, cluster_labels=c["cluster_labels"],
                         colorscale="RdBu_r", zmid=0, value_name="r", title="Category similarity (Pearson r)")
    best = int(np.argmax(c["modularity"]))
    modularity = modularity_figure(c["k_values"], c["modularity"], best_k=int(c["k_values"][best]),
                                   title="Signed modularity vs k")
    dendrogram = dendrogram_figure(c["linkage"], c["categories"], cluster_labels=c["cluster_labels"],
                                   title="Average-linkage dendrogram")
    options = [{"label": f"cluster {k}: " + ", ".join(np.asarray(c["categories"])[c["cluster_labels"] == k]),
                "value": k} for k in range(c["best_k"])]
    return status, heatmap, modularity, dendrogram, options


@callback(Output(ids.SCATTER, "figure"), Input(ids.SEMANTIC_METHOD, "value"), Input(ids.CLUSTER, "options"))
def draw_semantics(method, options):
    """Semantic vs cortical similarity of every category pair."""
    if not options:
        return {}
    try:
        s = services.semantic_comparison(services.experiment_key(), method)
    except ValueError as exc:
        return {"layout": {"title": {"text": str(exc)}}}
    return similarity_scatter_figure(s["x"], s["y"], xlabel=s["label"], ylabel="cortical similarity (r)",
                                     pair_labels=s["pair_labels"], r=s["r"], p=s["p"],
                                     title="Semantic vs cortical similarity")


@callback(Output(ids.CLUSTER_MAP, "figure"), Input(ids.CLUSTER, "value"), Input(ids.VIEW, "value"),
          Input(ids.CLUSTER, "options"))
def draw_cluster_map(cluster, view, options):
    """Average predicted map of one cluster's categories."""
    if not options:
        return {}
    values = services.cluster_average_map(services.experiment_key(), int(cluster or 0))
    return cortex_figure(values, view, colorscale="RdBu_r", colorbar_title="predicted (a.u.)",
                          title=f"Cluster {cluster}: mean predicted map")


@callback(Output(ids.DOWNLOAD, "data"), Input(ids.DOWNLOAD_BUTTON, "n_clicks"), State(ids.CLUSTER, "options"),
          prevent_initial_call=True)
def download_similarity(_clicks, options):
    """The category similarity matrix as CSV."""
    c = services.category_clustering(services.experiment_key())
    buffer = io.StringIO()
    buffer.write("," + ",".join(c["categories"]) + "\n")
    for name, row in zip(c["categories"], c["similarity"], strict=True):
        buffer.write(name + "," + ",".join(f"{v:.6f}" for v in row) + "\n")
    return dcc.send_string(buffer.getvalue(), "category_similarity.csv")
