"""Cortical Maps page in headless Chromium: re-render time and payload of map and threshold switches.

Starts ``app.py`` on a free port, opens /cortical-maps in headless Chromium (selenium + Debian
chromium/chromedriver, as the browser tests), then switches the map and the threshold ``--n`` times
each. Each switch sets the control's value through ``dash_clientside.set_props`` (as a user's change
does: the page callback runs and its answer is applied); the time runs from that call to the first
animation frame after the ``plotly_afterplot`` event whose figure carries the new per-vertex
intensity codes. Response sizes of ``/_dash-update-component`` are read by wrapping ``window.fetch``.
The peer is the full figure (the answer to a view change), which is what a map switch would cost
without the Patch.

    .venv/bin/python bench/cortex_render.py --n 20
    .venv/bin/python bench/cortex_render.py --n 20 --max-images 160   # adds computed maps if cached
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 300.0
MAP_ID, THRESHOLD_ID, VIEW_ID = "cortical-maps-map", "cortical-maps-threshold", "cortical-maps-view"

#: Installed once the page has drawn: records re-render times and update response sizes.
_INSTRUMENT = """
const gd = document.querySelector('#cortical-maps-graph .js-plotly-plot');
window.__renders = []; window.__payloads = [];
let lastIntensity = gd.data[0].intensity;
gd.on('plotly_afterplot', () => {
  if (gd.data[0].intensity === lastIntensity) return;
  lastIntensity = gd.data[0].intensity;
  requestAnimationFrame(() => window.__renders.push(performance.now()));
});
const fetch0 = window.fetch;
window.fetch = async (url, init) => {
  const start = performance.now();
  const response = await fetch0(url, init);
  if (String(url).includes('_dash-update-component')) {
    const output = JSON.parse(init.body).output;
    const bytes = (await response.clone().arrayBuffer()).byteLength;
    window.__payloads.push({output, bytes, start, end: performance.now()});
  }
  return response;
};
"""

_SWITCH = """
window.__t0 = performance.now();
window.dash_clientside.set_props(arguments[0], {value: arguments[1]});
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def _start_server(port: int, max_images: int | None) -> subprocess.Popen:
    env = dict(os.environ)
    if max_images:
        env["VFS_EXPERIMENT_MAX_IMAGES"] = str(max_images)
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200
        except OSError:
            return False

    _wait(ready, 120, "the app server start")
    return server


def _browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _switch(driver, component: str, value) -> tuple[float, float, int]:
    """Set one control; returns (ms until re-rendered, ms of that spent waiting for the server's answer,
    bytes of the graph's update response)."""
    n_renders = driver.execute_script("return window.__renders.length")
    n_payloads = driver.execute_script("return window.__payloads.length")
    driver.execute_script(_SWITCH, component, value)
    _wait(lambda: driver.execute_script("return window.__renders.length") > n_renders, 60, f"{component}={value}")
    elapsed = driver.execute_script("return window.__renders[window.__renders.length - 1] - window.__t0")
    payloads = _wait(lambda: [p for p in driver.execute_script("return window.__payloads")[n_payloads:]
                              if "cortical-maps-graph.figure" in p["output"]], 10, "the update response")
    server = payloads[-1]["end"] - driver.execute_script("return window.__t0")
    return float(elapsed), float(server), int(payloads[-1]["bytes"])


def _map_choices(max_images: int | None) -> list[str]:
    if max_images:
        os.environ["VFS_EXPERIMENT_MAX_IMAGES"] = str(max_images)
    sys.path.insert(0, str(ROOT))
    from dashboard import services

    declared = [o["value"] for o in services.declared_map_choices()]
    computed = [o["value"] for o in services.computed_map_choices(services.default_experiment_key())]
    picked = [c for c in computed if c.startswith(("quality:", "dprime:"))][:4]
    picked += [c for c in computed if c.startswith(("category:", "predicted:"))][:2]
    return declared + picked


def _summary(name: str, times: list[float], server: list[float], sizes: list[int]) -> str:
    p50, p95 = np.percentile(times, [50, 95])
    verdict = "meets" if p95 < GOAL_MS else "misses"
    return (f"{name:<18} n={len(times):<3} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  ({verdict} the {GOAL_MS:.0f} ms "
            f"goal; p50 {np.median(server):.0f} ms until the answer arrived)  "
            f"payload {np.median(sizes) / 1e6:.3f} MB per update")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="switches of each kind (default 20)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="experiment size whose cached maps to include (VFS_EXPERIMENT_MAX_IMAGES)")
    args = parser.parse_args(argv)
    maps = _map_choices(args.max_images)
    port = _free_port()
    server = _start_server(port, args.max_images)
    driver = _browser()
    try:
        driver.get(f"http://127.0.0.1:{port}/cortical-maps")
        _wait(lambda: driver.execute_script(
            "const gd = document.querySelector('#cortical-maps-graph .js-plotly-plot');"
            "return gd && gd.data && gd.data.length === 3"), 180, "the first figure")
        driver.execute_script(_INSTRUMENT)
        results = {"map switch": ([], [], []), "threshold switch": ([], [], []),
                   "view switch (peer)": ([], [], [])}
        current = "home_layer"
        for i in range(args.n):
            current = maps[(maps.index(current) + 1) % len(maps)]
            for kind, (component, value) in (("map switch", (MAP_ID, current)),
                                             ("threshold switch", (THRESHOLD_ID, [20, 40, 60, 0][i % 4]))):
                for column, number in zip(results[kind], _switch(driver, component, value), strict=True):
                    column.append(number)
        for i in range(max(3, args.n // 4)):
            for column, number in zip(results["view switch (peer)"], _switch(driver, VIEW_ID, ["inflated", "flat"][i % 2]),
                                      strict=True):
                column.append(number)
        version = driver.capabilities.get("browserVersion", "?")
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=30)
    print(f"Cortical Maps page, headless Chromium {version}, {len(maps)} maps cycled, goal p95 < {GOAL_MS:.0f} ms, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, (times, server, sizes) in results.items():
        print(_summary(name, times, server, sizes))
    full = np.median(results["view switch (peer)"][2])
    for kind in ("map switch", "threshold switch"):
        print(f"{kind}: {np.median(results[kind][2]) / full:.1%} of the full-figure payload ({full / 1e6:.3f} MB)")


if __name__ == "__main__":
    main()
