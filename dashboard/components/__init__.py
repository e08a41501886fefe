"""Functions that return Dash component trees; no callbacks, no core."""

from dashboard.components.cortex import colour_range_controls, cortex_view_controls, waiting_graph
from dashboard.components.jobs import csv_export_row, job_controls
from dashboard.components.layout import (
    construction_notes,
    nav_links,
    navbar,
    page_header,
    simulated_subject_badge,
)
from dashboard.components.masks import predicted_mask_controls
from dashboard.components.uploads import size_limited_upload

__all__ = ["colour_range_controls", "construction_notes", "cortex_view_controls", "csv_export_row", "job_controls", "nav_links", "navbar",
           "page_header", "predicted_mask_controls", "simulated_subject_badge", "size_limited_upload", "waiting_graph"]
