"""Small waits shared by the browser tests."""

import time


def n_traces(dash_duo, graph_id: str) -> int:
    """Number of traces drawn in the plotly graph of the dcc.Graph ``graph_id`` (0 before it draws)."""
    return dash_duo.driver.execute_script(
        f"const gd = document.querySelector('#{graph_id} .js-plotly-plot'); return gd && gd.data ? gd.data.length : 0;")


def wait_until(condition, timeout: float, interval: float = 0.5) -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def click(dash_duo, selector: str) -> None:
    """Click an element even where a label, an open menu or the sticky navbar covers it."""
    dash_duo.driver.execute_script("arguments[0].click()", dash_duo.find_element(selector))
