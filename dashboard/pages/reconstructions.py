"""Reconstructions page (/reconstructions). The analysis behind it has not landed yet; the page says what is coming."""

import dash
from dash import html

from dashboard.components import coming_soon, page_header
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/reconstructions", name="Reconstructions", order=6)

_COMING = [
    'Gallery: original | latent-model reconstruction | PCA reconstruction.',
    'Pairwise identification accuracy with chance and p; gender decoding.',
    'Accuracy vs training-set size and vs SNR; a latent explorer along decoded directions.',
]


def layout(**_query):
    """Cheap layout: no data loaded."""
    return html.Div([
        page_header("Reconstructions", *PAPERS["vanrullen2019"]),
        coming_soon("Brain patterns mapped linearly to a face generator's latent space and decoded into reconstructed faces.", _COMING),
    ])
