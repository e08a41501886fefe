"""Whole analyses of the studio, runnable without the dashboard (``python -m core faces|reconstruct|clusters|
visualise``): each returns a frozen result that :mod:`core.workflows.store` saves and loads.

- :mod:`core.workflows.faces`: identity vs expression networks against the simulated subject's face regions;
- :mod:`core.workflows.reconstruction`: faces reconstructed from simulated brain patterns;
- :mod:`core.workflows.clusters`: the category clustering of the default experiment, its significance, the
  layer-wise and finer clusterings;
- :mod:`core.workflows.visualisation`: images that maximise a cluster's or an area's predicted response.
- :mod:`core.workflows.roi_scores`: per-area test accuracy of the default experiment and two networks compared
  over test images (run by the dashboard's experiment job after the experiment).

Submodules are imported on use (they import torch inside their functions only). Their ``progress`` is a
``core.runtime.Progress``: ``progress(done, total, message)``.
"""

from core.runtime import PROGRESS_STEPS, report


def report_fraction(progress, fraction: float, message: str) -> None:
    """``fraction`` of a workflow done, onto ``progress`` (a ``core.runtime.Progress`` or None)."""
    report(progress, round(PROGRESS_STEPS * min(max(fraction, 0.0), 1.0)), PROGRESS_STEPS, message)
