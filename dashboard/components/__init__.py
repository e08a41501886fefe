"""Functions that return Dash component trees; no callbacks, no core."""

from dashboard.components.jobs import csv_export_row, job_controls
from dashboard.components.layout import (
    coming_soon,
    construction_notes,
    navbar,
    page_header,
    simulated_subject_badge,
)
from dashboard.components.uploads import size_limited_upload

__all__ = ["coming_soon", "construction_notes", "csv_export_row", "job_controls", "navbar", "page_header", "simulated_subject_badge",
           "size_limited_upload"]
