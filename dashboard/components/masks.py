"""Controls of the rule for the vertices an encoding model predicts (d′, normalised accuracy)."""

import dash_bootstrap_components as dbc
from dash import html

#: FDR levels offered for the predicted-vertex rule (1 = no FDR condition).
MASK_Q_CHOICES = (0.001, 0.01, 0.05, 1.0)


def predicted_mask_controls(q_id: str, r_id: str, *, q_max: float, r_min: float) -> html.Div:
    """"Vertices the model predicts: FDR q < [dropdown] and r > [number]", defaulting to ``q_max``, ``r_min``."""
    return html.Div([
        dbc.Label("Vertices the model predicts (default: the paper's rule)", className="small mb-1"),
        dbc.InputGroup([
            dbc.InputGroupText("FDR q <"),
            dbc.Select(id=q_id, value=str(q_max), options=[
                {"label": "any" if q == 1 else f"{q:g}", "value": str(q)} for q in MASK_Q_CHOICES]),
            dbc.InputGroupText("and r >"),
            dbc.Input(id=r_id, type="number", value=r_min, min=-1, max=0.95, step=0.05),
        ], size="sm"),
        html.Div("Elsewhere the map is sulcal grey.", className="small text-muted mt-1"),
    ], className="mt-2")
