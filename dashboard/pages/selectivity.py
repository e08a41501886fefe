"""Selectivity page (/selectivity). The analysis behind it has not landed yet; the page says what is coming."""

import dash
from dash import html

from dashboard.components import coming_soon, page_header
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/selectivity", name="Selectivity", order=3)

_COMING = [
    'd′ map on the cortex: maximum over categories or one chosen category.',
    'Click a vertex → its top-10 categories.',
    'ROI bar chart grouped early / ventral / dorsal.',
]


def layout(**_query):
    """Cheap layout: no data loaded."""
    return html.Div([
        page_header("Selectivity", *PAPERS["wen2018"]),
        coming_soon('Category maps (mean predicted map over exemplars) and per-vertex category selectivity d′.', _COMING),
    ])
