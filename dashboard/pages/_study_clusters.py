"""Layout of the RDM Clusters page on a study chosen in the navbar (``?study=NAME``); its callbacks are in
``your_study_clusters.py`` (a hidden page module, so Dash registers them and its layout without a study holds every
component they use).

The study's category maps are Selectivity on the study's (its model applied to the labelled stimulus library, on
the vertices it predicts; the same Compute job is offered here); they are clustered as on the simulated subject
(similarity, k-means + signed modularity, dendrogram), compared with semantic similarity, averaged per cluster and
drawn on the study's display surface, and the whole procedure is spin-tested on that surface.
"""

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import services
from dashboard.components import job_controls, page_header, waiting_graph
from dashboard.figures.rdm import png_export_config
from dashboard.ids import StudyClusters as ids
from dashboard.pages._shared import PAPERS

CHOOSE_STUDY = "Choose a study in the navbar (Data)"
CATEGORIES_FIRST = "Press 'Compute category maps' to see this"

#: What is true by construction on a study, one sentence each.
_BY_CONSTRUCTION = [
    "The category maps are not measured: they are your study's encoding model applied to the labelled stimulus "
    "library (Wen et al. 2018's route), so they exist for studies without labels, and their categories are the "
    "library's.",
    "Every category map is the same linear model applied to images, so all maps are combinations of the model's "
    "own spatial patterns: some likeness between them is built in. The spin test rotates each map on its own, "
    "which also breaks that shared basis, so a small p says the clustering is stronger than that of unaligned "
    "maps as smooth as these — not that the categories are represented apart in the brain.",
    "Each category's similarity with itself is left out of Q, and k runs over 2 to 10 (at most the number of "
    "categories minus 1).",
]


def _graph(graph_id: str, filename: str, height: str, message: str):
    return waiting_graph(graph_id, message, style={"height": height}, config=png_export_config(filename))


def layout(study: str | None = None, **_query) -> html.Div:
    """The RDM Clusters page on ``study`` (no study: every component, waiting, for Dash's callback validation)."""
    waiting = CATEGORIES_FIRST if study else CHOOSE_STUDY
    categories = dbc.Card(dbc.CardBody([
        html.P("Category maps: your study's encoding model predicts every image of the labelled stimulus library, "
               "and the predicted maps are averaged per category, on the vertices the model predicts (FDR q < "
               f"{services.STUDY_PREDICTED_Q:g}). Selectivity on your study computes the same maps; either page's "
               "result serves both.", className="small mb-1"),
        *job_controls(ids.CATEGORIES, ids.CATEGORIES_CANCEL, ids.CATEGORIES_PROGRESS, "Compute category maps",
                      size="sm"),
        html.Div(id=ids.CATEGORIES_STATUS, className="small mt-1"),
    ]), className="mb-2")
    spin = dbc.Card(dbc.CardBody([
        html.H5("Significance of the clustering (spin test)"),
        html.P("k-means and the choice of k are re-run on null maps in which each category map is rotated on the "
               "sphere of your study's display surface (fsLR-32k or fsaverage5; fsaverage studies on their vertices "
               "that are fsaverage5 vertices); a rotated vertex that lands off the predicted vertices takes the value of the nearest predicted vertex.",
               className="small"),
        *job_controls(ids.SPIN, ids.SPIN_CANCEL, ids.SPIN_PROGRESS, "Compute spin test", size="sm"),
        html.Div(id=ids.SPIN_STATUS, className="small mt-2"),
    ]), className="mt-3")
    return html.Div([
        page_header("RDM Clusters", *PAPERS["wen2018"]),
        dcc.Store(id=ids.STUDY, data=study),
        dcc.Store(id=ids.CATEGORIES_DONE),
        dcc.Store(id=ids.SPIN_DONE),
        dcc.Store(id=ids.SEMANTIC_RESULT),
        html.Details([html.Summary("True by construction on your study"),
                      html.Ul([html.Li(note) for note in _BY_CONSTRUCTION], className="mb-0 mt-1")],
                     open=True, className="alert alert-light border-warning small"),
        categories,
        html.Div(id=ids.STATUS, className="mb-2"),
        dbc.Row([
            dbc.Col(dcc.Loading(_graph(ids.HEATMAP, "category_similarity", "55vh", waiting)), md=7),
            dbc.Col([_graph(ids.MODULARITY, "modularity_vs_k", "27vh", waiting),
                     _graph(ids.DENDROGRAM, "dendrogram", "28vh", waiting)], md=5),
        ]),
        spin,
        dbc.Row([
            dbc.Col([
                dbc.Label("Semantic similarity", html_for=ids.SEMANTIC_METHOD),
                dbc.Select(id=ids.SEMANTIC_METHOD, value="wordnet_lch",
                           options=[{"label": v, "value": k} for k, v in services.SEMANTIC_METHODS.items()]),
                dcc.Loading(_graph(ids.SCATTER, "semantic_vs_cortical", "45vh", waiting)),
            ], md=5),
            dbc.Col([
                dbc.Row([
                    dbc.Col([dbc.Label("Cluster-average map", html_for=ids.CLUSTER),
                             dcc.Dropdown(id=ids.CLUSTER, options=[], value=0, clearable=False)], md=6),
                    dbc.Col(dbc.RadioItems(id=ids.VIEW, value="flat", inline=True,
                                           options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS]),
                            md=6),
                ]),
                dcc.Loading(_graph(ids.CLUSTER_MAP, "cluster_average_map", "45vh", waiting)),
            ], md=7),
        ], className="mt-3"),
    ])
