"""Virtual fMRI Studio compute package: networks, features, cortex, encoding models and analyses.

``core`` is a plain scientific library: numpy arrays in, numpy arrays out, torch inside.
It never imports dash, plotly, flask or the dashboard.
"""

__version__ = "0.1.0"
