"""Browser tests: each test's warm prediction workers are stopped before its Dash server is.

dash.testing's threaded runner stops a test's server by raising SystemExit in every thread started during
the test, including the management thread of a warm prediction pool (``services._predictor``). That
thread sleeps in ``select`` and would receive the exception only when it next wakes, in a later test
that reuses the pool: its prediction would then never finish. So the pools are stopped (and their
threads joined) first.
"""

import pytest

from dashboard import services


@pytest.fixture(autouse=True)
def _stop_warm_predictors(request):
    if "dash_duo" in request.fixturenames:
        request.getfixturevalue("dash_duo")  # set up before this fixture, so torn down after it
    yield
    services.stop_predictors()
