"""Your study (/your-study, not in the navbar): the chosen study's fitted maps and predicted maps on one page."""

import dash

from dashboard.pages._study_views import layout  # noqa: F401

dash.register_page(__name__, path="/your-study", name="Your study", order=None)
