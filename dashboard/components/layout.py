"""Shell and page-frame components shared by every page."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.ids import Shell

#: The study picker's value for the simulated subject (``dashboard.services.SIMULATED``; components do not import
#: services).
SIMULATED = "(simulated)"


def nav_links(pages, *, query: str = "", pathname: str | None = None) -> list:
    """One navbar link per listed page (``order`` set), in order; ``query`` (e.g. ``"?study=NAME"``) is added to
    each link, and the link of ``pathname`` is marked active.

    Parameters
    ----------
    pages : iterable of dict
        Entries of ``dash.page_registry.values()`` (keys ``name``, ``relative_path``, ``order``).
    """
    listed = sorted((page for page in pages if page.get("order") is not None), key=lambda p: p["order"])
    return [dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"] + query,
                                    active=page["relative_path"] == pathname))
            for page in listed]


def navbar(pages) -> html.Div:
    """Top navigation bar: one link per registered page and the study picker, with the page's study line below.

    The chosen study lives in the URL (``?study=NAME``, :class:`dashboard.ids.Shell` ``URL``); the Studies page
    module's callbacks fill the picker, keep the study in every link's query (:func:`nav_links`) and write the
    study line.

    Parameters
    ----------
    pages : iterable of dict
        Entries of ``dash.page_registry.values()``.
    """
    links = nav_links(pages)
    picker = html.Div([
        dbc.Label("Data", html_for=Shell.STUDY, className="text-light small mb-0 me-2"),
        dbc.Select(id=Shell.STUDY, size="sm", value=SIMULATED, options=[{"label": "Simulated subject", "value": SIMULATED}],
                   style={"minWidth": "11rem"}),
    ], className="d-flex align-items-center ms-auto")
    bar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Virtual fMRI Studio", href="/"),
                dbc.Nav(links, navbar=True, className="flex-wrap", id=Shell.NAV),
                picker,
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-1",
        id=Shell.NAVBAR,
    )
    return html.Div([dcc.Location(id=Shell.URL, refresh="callback-nav"), bar,
                     html.Div(id=Shell.STUDY_LABEL, className="container-fluid small text-muted mb-2")])


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


def construction_notes(prefix: str, notes: list[str]) -> html.Details:
    """What is true by construction in the simulation that feeds a page, one sentence per item (shown open)."""
    return html.Details(
        [html.Summary("True by construction in this simulation"),
         html.Ul([html.Li(note) for note in notes], className="mb-0 mt-1")],
        open=True,
        id=f"{prefix}-construction-notes",
        className="alert alert-light border-warning small",
    )

