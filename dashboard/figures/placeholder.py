"""An empty figure that says what to do to fill it (plotly only)."""

from __future__ import annotations

import plotly.graph_objects as go

__all__ = ["placeholder_figure"]

_MUTED = "#6c757d"
_BACKGROUND = "#f8f9fa"
#: Mode-bar buttons that have nothing to act on in an empty figure.
_MODEBAR_BUTTONS = ("toImage", "zoom", "pan", "select", "lasso", "zoomIn", "zoomOut", "autoScale", "resetScale",
                    "zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "resetScale2d",
                    "zoom3d", "pan3d", "orbitRotation", "tableRotation", "resetCameraDefault3d",
                    "resetCameraLastSave3d", "hoverClosest3d", "sendDataToCloud")


def placeholder_figure(message: str) -> go.Figure:
    """A figure without axes showing ``message`` in its middle (e.g. "Run the experiment to see this map").

    Parameters
    ----------
    message : str
        One or two short lines; ``"<br>"`` breaks a line.
    """
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                      "font": {"size": 14, "color": _MUTED}}],
        plot_bgcolor=_BACKGROUND, paper_bgcolor=_BACKGROUND, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        dragmode=False, modebar={"remove": list(_MODEBAR_BUTTONS)},
    )
    return fig
