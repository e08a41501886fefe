"""RDM Clusters page (/rdm-clusters). The analysis behind it has not landed yet; the page says what is coming."""

import dash
from dash import html

from dashboard.components import coming_soon, page_header
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/rdm-clusters", name="RDM Clusters", order=4)

_COMING = [
    'Category similarity heatmap ordered by cluster, dendrogram, Q vs k.',
    'Q and semantic correlation per ResNet layer.',
    'Semantic vs cortical similarity (WordNet LCH, GloVe, sentence embeddings).',
    'Cluster-average maps on the cortex; feature visualisations; CSV/PNG export.',
]


def layout(**_query):
    """Cheap layout: no data loaded."""
    return html.Div([
        page_header("RDM Clusters", *PAPERS["wen2018"]),
        coming_soon('Inter-category similarity of cortical maps, k-means clustering with signed modularity, semantic similarity.', _COMING),
    ])
