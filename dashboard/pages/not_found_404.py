"""Page shown for unknown paths."""

import dash
from dash import html

dash.register_page(__name__, path="/404", name="Not found")


def layout(**_query):
    return html.Div([html.H3("Page not found"), html.A("Back to the home page", href="/")])
