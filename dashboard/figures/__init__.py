"""Figure factories: arrays in, plotly figures out; no dash, torch or core."""
