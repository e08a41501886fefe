"""Shell and page-frame components shared by every page."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def navbar(pages) -> dbc.Navbar:
    """Top navigation bar with one link per registered page.

    Parameters
    ----------
    pages : iterable of dict
        Entries of ``dash.page_registry.values()`` (keys ``name``, ``relative_path``, ``order``).
    """
    listed = [page for page in pages if page.get("order") is not None]
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in sorted(listed, key=lambda p: p["order"])
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Virtual fMRI Studio", href="/"),
                dbc.Nav(links, navbar=True, className="flex-wrap"),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
        id="shell-navbar",
    )


def page_header(title: str, paper: str | None = None, paper_url: str | None = None) -> html.Div:
    """Page title with the paper whose method the page rebuilds."""
    children = [html.H2(title)]
    if paper:
        children.append(
            html.P(["Method: ", html.A(paper, href=paper_url, target="_blank", rel="noopener")],
                   className="text-muted")
        )
    return html.Div(children)


def simulated_subject_badge(prefix: str, spec_summary: str) -> dbc.Alert:
    """Visible notice that the data come from the simulated subject, with its declared spec."""
    return dbc.Alert(
        [
            dbc.Badge("simulated subject", color="warning", className="me-2"),
            "These brain data are simulated from a declared ground truth, not measured. ",
            html.Details([html.Summary("Ground-truth spec"), html.Pre(spec_summary)],
                         id=f"{prefix}-spec"),
        ],
        color="light",
        className="border-warning",
    )
