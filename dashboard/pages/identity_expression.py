"""Identity & Expression page (/identity-expression). The analysis behind it has not landed yet; the page says what is coming."""

import dash
from dash import html

from dashboard.components import coming_soon, page_header
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/identity-expression", name="Identity & Expression", order=5)

_COMING = [
    'Region × layer heatmaps of brain–network correlation for both networks, with noise ceilings.',
    'Decoding-accuracy curves (2 networks × 2 tasks) with chance.',
    'Congruence of identity and expression subspaces vs layer.',
    'The stimulus strip with its labels; a region picker on the cortex.',
]


def layout(**_query):
    """Cheap layout: no data loaded."""
    return html.Div([
        page_header("Identity & Expression", *PAPERS["schwartz2023"]),
        coming_soon('Networks trained on face identity vs facial expression compared with brain RDMs region by region, layer by layer.', _COMING),
    ])
