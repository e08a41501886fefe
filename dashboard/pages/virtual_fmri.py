"""Virtual fMRI page (/virtual-fmri). The analysis behind it has not landed yet; the page says what is coming."""

import dash
from dash import html

from dashboard.components import coming_soon, page_header
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/virtual-fmri", name="Virtual fMRI", order=2)

_COMING = [
    'Upload an image or pick one from the stimulus library → its predicted cortical map on the flat and inflated cortex; a second image side by side and their difference.',
    'Model-quality maps: test r, noise ceiling, ceiling-normalised accuracy, best layer per vertex, FDR-thresholded.',
    'ROI bar chart of mean accuracy ± SE; two models (ResNet-50 vs EfficientNet-Lite0) side by side.',
    'Fitting runs as a background job with progress and cancel.',
]


def layout(**_query):
    """Cheap layout: no data loaded."""
    return html.Div([
        page_header("Virtual fMRI", *PAPERS["wen2018"]),
        coming_soon('Voxel-wise encoding models from ResNet-50 features predict a cortical map for any image.', _COMING),
    ])
