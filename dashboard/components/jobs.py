"""Controls shared by pages: background-job buttons and progress, CSV export row."""

import dash_bootstrap_components as dbc
from dash import html


def progress_text_id(progress_id: str) -> str:
    """Id of the text line under the progress bar ``progress_id`` (step, time elapsed, time left)."""
    return f"{progress_id}-text"


def job_controls(run_id: str, cancel_id: str, progress_id: str, label: str, *, size: str | None = None) -> list:
    """Run and Cancel buttons (Cancel disabled until the job runs), the job's progress bar and its text line."""
    return [dbc.ButtonGroup([dbc.Button(label, id=run_id, color="primary", size=size),
                             dbc.Button("Cancel", id=cancel_id, color="secondary", size=size, disabled=True)]),
            dbc.Progress(id=progress_id, value=0, className="mt-2", style={"height": "0.6rem"}),
            html.Div(id=progress_text_id(progress_id), className="small text-muted")]


def csv_export_row(select_id: str, button_id: str, error_id: str, tables: dict[str, str], value: str) -> dbc.Row:
    """A table chooser (``tables``: value -> label), a "Download CSV" button and a line for errors."""
    return dbc.Row([
        dbc.Col(dbc.Select(id=select_id, value=value, options=[{"label": v, "value": k} for k, v in tables.items()]),
                md=5),
        dbc.Col(dbc.Button("Download CSV", id=button_id, color="secondary", size="sm"), md="auto"),
        dbc.Col(html.Span("PNG: camera icon of each figure.", className="small text-muted"), md="auto"),
        dbc.Col(html.Div(id=error_id), md=12),
    ], className="mt-3 align-items-center")
