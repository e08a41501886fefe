"""Cortical Maps page (/cortical-maps). The cortex views land with the cortex work; the page says what is coming."""

import dash
from dash import html

from dashboard.components import coming_soon, page_header
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/cortical-maps", name="Cortical Maps", order=1)

_COMING = [
    "Flat and inflated fsLR-32k views of both hemispheres with sulcal depth, colour scale and threshold.",
    "Glasser ROI names on hover; click a vertex for its value and ROI.",
    "Maps: the simulated subject's declared ground truth and every computed map; PNG/GIFTI/CIFTI export.",
]


def layout(**_query):
    """Cheap layout: no data loaded."""
    return html.Div([
        page_header("Cortical Maps", *PAPERS["wen2018"]),
        coming_soon("The HCP fsLR-32k cortex and the maps computed on it.", _COMING),
    ])
