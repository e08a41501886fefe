"""Figure factories: arrays in, plotly figures out; no dash, torch or core."""

# pandas at import: plotly imports it on first use, and two first figure callbacks in parallel request threads
# (e.g. a study map and its ROI chart) raced on the half-imported module (AttributeError: ... 'Series')
import pandas  # noqa: F401
