"""Browser tests: each test's Dash server listens on a free port, and its warm prediction workers are stopped
before the server is.

dash.testing numbers its servers' ports from a fixed 58050, so two test runs on one machine would collide;
``start_server`` is given a free port instead. dash.testing's threaded runner stops a test's server by
raising SystemExit in every thread started during the test, including the management thread of a warm
prediction pool (``services._predictor``). That thread sleeps in ``select`` and would receive the
exception only when it next wakes, in a later test that reuses the pool: its prediction would then never
finish. So the pools are stopped (and their threads joined) first.
"""

import pytest

from dashboard import services
from tests.integration._servers import free_port


@pytest.fixture(autouse=True)
def _free_port_and_stop_warm_predictors(request, monkeypatch):
    if "dash_duo" in request.fixturenames:
        duo = request.getfixturevalue("dash_duo")  # set up before this fixture, so torn down after it
        start_server = duo.start_server
        monkeypatch.setattr(duo, "start_server", lambda app, **options: start_server(
            app, **{"port": free_port(), **options}))
    yield
    services.stop_predictors()
