"""Functions that return Dash component trees; no callbacks, no core."""

from dashboard.components.layout import (
    coming_soon,
    navbar,
    page_header,
    simulated_subject_badge,
)

__all__ = ["coming_soon", "navbar", "page_header", "simulated_subject_badge"]
