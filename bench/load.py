"""Load test: concurrent browser-like sessions against the Dash callback endpoint, on loopback only.

Run: ``python bench/load.py [--sessions 20] [--duration 60] [--think 0] [--pages /virtual-fmri] [--url URL]``

Without ``--url`` the app is started twice, one server after the other, each in a process of its own on a
free loopback port with this environment (``VFS_CACHE``...): the production server (``python app.py``,
waitress) and the development server (``python app.py --debug``, Flask's), and the same load is run
against each after one session warmed it up (:data:`WARM_UP_ACTIONS`). Each session does what the browser
does: it loads ``/cortical-maps`` (the HTML and its config, the shell layout, the callback graph, then the
page-router callback) and draws its first map (the full figure, about 3 MB), then, until the time is up,
switches the map (the ``draw_map`` callback, as the dropdown does: a ``Patch`` of about 0.4 MB;
``--think`` seconds apart on average, default back to back) and, with ``--pages``, every
fourth action uploads an image to every upload of those pages that accepts images (``dcc.Upload``
contents as a data URL, as the browser sends it). Background callbacks are polled as the renderer polls
them. Printed: requests, errors, and per kind of request the percentiles (p50, p95, max) of the latency
and of the server time (until the response's headers arrived: the server's work and its queue, not the
transfer and parsing of the body in this process); with two servers, the ratio of their p95s. A request
is an error when its status is not 200/204 or when it writes a Bootstrap "danger" alert.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.ids import CorticalMaps  # noqa: E402

_CONFIG = re.compile(r'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)


def _collect_props(tree, props: dict) -> None:
    """Record the props of every component with a string id in a layout tree (JSON as Dash sends it)."""
    if isinstance(tree, list):
        for child in tree:
            _collect_props(child, props)
    elif isinstance(tree, dict) and "props" in tree:
        if isinstance(tree["props"].get("id"), str):
            props[tree["props"]["id"]] = tree["props"]
        for value in tree["props"].values():
            _collect_props(value, props)


def _danger_alerts(tree) -> list[str]:
    """Text of the Bootstrap "danger" alerts in a callback response."""
    found = []
    if isinstance(tree, list):
        for child in tree:
            found += _danger_alerts(child)
    elif isinstance(tree, dict):
        if tree.get("type") == "Alert" and tree.get("props", {}).get("color") == "danger":
            found.append(json.dumps(tree["props"].get("children"))[:300])
        for value in tree.values():
            found += _danger_alerts(value)
    return found


def _outputs(spec: str) -> list[dict]:
    """``"..a.x...b.y.."`` or ``"a.x"`` → ``[{"id": "a", "property": "x"}, ...]`` (``@hash`` dropped)."""
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    return [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]} for part in parts]


class CallbackError(RuntimeError):
    """A callback request failed (HTTP status) or reported an error to the page."""


class DashSession:
    """One browser-like client of a running Dash app.

    Parameters
    ----------
    base_url : str
        ``http://127.0.0.1:PORT``.
    timeout : float
        Seconds allowed for one request, and for one background job to finish.

    Attributes
    ----------
    props : dict of str to dict
        Current props of every component of the page (by id), updated by callback responses.
    latencies : list of (str, float)
        ``(kind, seconds)`` of every request (a background callback counts as one, polls included).
    server_times : list of (str, float)
        ``(kind, seconds)`` until the response headers arrived, summed over the HTTP requests of each entry
        of :attr:`latencies`.
    """

    def __init__(self, base_url: str, *, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.props: dict[str, dict] = {}
        self.callbacks: list[dict] = []
        self.end_id: str | None = None
        self.latencies: list[tuple[str, float]] = []
        self.server_times: list[tuple[str, float]] = []
        self._server_time = 0.0

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        self._server_time += response.elapsed.total_seconds()
        return response

    def _record(self, kind: str, start: float) -> None:
        self.latencies.append((kind, time.perf_counter() - start))
        self.server_times.append((kind, self._server_time))
        self._server_time = 0.0

    def _timed(self, kind: str, method: str, path: str, **kwargs) -> requests.Response:
        start = time.perf_counter()
        response = self._request(method, path, **kwargs)
        self._record(kind, start)
        return response

    def open(self, path: str) -> None:
        """Load a page: its HTML and config, the shell layout, the callback graph, the page layout."""
        page = self._timed("page", "GET", path)
        page.raise_for_status()
        self.end_id = json.loads(_CONFIG.search(page.text).group(1)).get("end_id")
        self.callbacks = self._timed("page", "GET", "/_dash-dependencies").json()
        self.props = {}
        _collect_props(self._timed("page", "GET", "/_dash-layout").json(), self.props)
        self.fire("_pages_content", "children",
                  {("_pages_location", "pathname"): path, ("_pages_location", "search"): ""}, kind="page")

    def callback_for(self, output_id: str, output_property: str, changed=()) -> dict:
        """The callback (from ``/_dash-dependencies``) that writes ``output_id.output_property``; where several
        do, the one reading every ``(component id, property)`` of ``changed``."""
        writers = [entry for entry in self.callbacks
                   if {"id": output_id, "property": output_property} in _outputs(entry["output"])]
        if not writers:
            raise KeyError(f"no callback writes {output_id}.{output_property}")
        for entry in writers:
            reads = {(d["id"], d["property"]) for d in entry["inputs"] + entry["state"]}
            if all(key in reads for key in changed):
                return entry
        return writers[0]

    def writes(self, output_id: str, output_property: str) -> bool:
        """Whether a callback writes ``output_id.output_property``."""
        return any({"id": output_id, "property": output_property} in _outputs(entry["output"])
                   for entry in self.callbacks)

    def callbacks_reading(self, input_id: str, input_property: str) -> list[dict]:
        """Callbacks with the input ``input_id.input_property``."""
        return [entry for entry in self.callbacks
                if {"id": input_id, "property": input_property} in entry["inputs"]]

    def fire(self, output_id: str, output_property: str, values: dict, *, kind: str = "callback",
             on_poll=None) -> dict:
        """Run the callback writing ``output_id.output_property`` with changed ``values``.

        ``values`` maps ``(component id, property)`` to the new value; other inputs and states take the
        page's current props. Background callbacks are polled until they finish. Returns the
        ``response`` part of the answer ({id: {property: value}}), also applied to :attr:`props`.
        """
        entry = self.callback_for(output_id, output_property, values)
        return self.run_callback(entry, values, kind=kind, on_poll=on_poll)

    def run_callback(self, entry: dict, values: dict, *, kind: str = "callback", on_poll=None) -> dict:
        """Run one callback of :attr:`callbacks` (see :meth:`fire`).

        ``on_poll(data)``, if given, sees every answer to a background callback's polls (its ``progress``).
        """
        def current(dependency):
            key = (dependency["id"], dependency["property"])
            value = values[key] if key in values else self.props.get(dependency["id"], {}).get(dependency["property"])
            return {**dependency, "value": value}

        outputs = _outputs(entry["output"])
        body = {"output": entry["output"], "outputs": outputs if entry["output"].startswith("..") else outputs[0],
                "inputs": [current(d) for d in entry["inputs"]], "state": [current(d) for d in entry["state"]],
                "changedPropIds": [f"{i}.{p}" for i, p in values]}
        start = time.perf_counter()
        data = self._post(body, {})
        if data is not None and "job" in data and "response" not in data:
            handles = {"cacheKey": data["cacheKey"], "job": data["job"]}
            polled = json.loads(json.dumps(body))
            for dependency in polled["inputs"] + polled["state"]:
                dependency["value"] = None  # as the renderer does: the job already has its inputs
            while data is not None and "response" not in data:
                if time.perf_counter() - start > self.timeout:
                    raise CallbackError(f"background callback {entry['output']} did not finish in {self.timeout} s")
                time.sleep(0.5)
                data = self._post(polled, handles)
                if on_poll is not None:
                    on_poll(data)
        self._record(kind, start)
        response = (data or {}).get("response", {})
        for component_id, new_props in response.items():
            self.props.setdefault(component_id, {}).update(new_props)
            _collect_props(list(new_props.values()), self.props)
        alerts = _danger_alerts([response, (data or {}).get("sideUpdate")])
        if alerts:
            raise CallbackError(f"{entry['output']}: error shown on the page: {alerts}")
        return response

    def _post(self, body: dict, handles: dict) -> dict | None:
        params = {"endId": self.end_id, **handles} if self.end_id else handles
        reply = self._request("POST", "/_dash-update-component", params=params, json=body)
        if reply.status_code == 204:  # no update
            return None
        if reply.status_code != 200:
            raise CallbackError(f"{body['output']}: HTTP {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def upload(self, upload_id: str, filename: str, content: bytes, mime: str = "image/png") -> list[dict]:
        """Upload ``content`` through the ``dcc.Upload`` ``upload_id`` as the browser does; run its callbacks."""
        contents = f"data:{mime};base64,{base64.b64encode(content).decode()}"
        multiple = bool(self.props.get(upload_id, {}).get("multiple"))
        values = {(upload_id, "contents"): [contents] if multiple else contents,
                  (upload_id, "filename"): [filename] if multiple else filename}
        return [self.run_callback(entry, values, kind="upload")
                for entry in self.callbacks_reading(upload_id, "contents")]


def image_uploads(session: DashSession) -> list[str]:
    """Ids of the page's ``dcc.Upload`` components that accept images (their ``accept`` names image types)."""
    return [cid for cid, props in session.props.items()
            if session.callbacks_reading(cid, "contents") and re.search(r"image|\.png", str(props.get("accept")))]


def png_bytes(seed: int, size: int = 64) -> bytes:
    """A small random RGB PNG."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def browse(base_url: str, seed: int, deadline: float, pages=("/cortical-maps",), min_actions: int = 4,
           think: float = 0.0) -> dict:
    """One session: open each page, then switch maps and upload images until ``deadline``, and at least
    ``min_actions`` times (every fourth action, from the second, opens ``pages`` and uploads an image),
    pausing between actions for a random 0.5-1.5 × ``think`` seconds, as a person looking at the map would.

    Returns ``{"latencies": [(kind, s)], "server_times": [(kind, s)], "errors": [str], "actions": int}``.
    """
    session = DashSession(base_url)
    errors, actions = [], 0
    pauses = np.random.default_rng(seed)
    try:
        session.open("/cortical-maps")
        if session.writes(CorticalMaps.MAP, "options"):  # the choices are filled by a callback
            session.fire(CorticalMaps.MAP, "options", {}, kind="page")
        # the subject's declared maps and anatomy (computed and uploaded maps are named "<family>:<name>")
        maps = [o["value"] for o in session.props[CorticalMaps.MAP]["options"]
                if not o.get("disabled") and ":" not in o["value"]]
        views = [o["value"] for o in session.props[CorticalMaps.VIEW]["options"]]
        session.fire(CorticalMaps.GRAPH, "figure", {(CorticalMaps.VIEW, "value"): views[0]}, kind="first draw")
        for step in itertools.count():
            if time.monotonic() > deadline and step >= min_actions:
                break
            if step % 4 == 1:
                for page in pages:
                    session.open(page)
                    for upload_id in image_uploads(session):
                        session.upload(upload_id, f"session{seed}-{step}.png", png_bytes(seed * 1000 + step))
                session.open("/cortical-maps")
            else:
                name = maps[(seed + step) % len(maps)]
                session.fire(CorticalMaps.GRAPH, "figure", {(CorticalMaps.MAP, "value"): name}, kind="switch map")
            actions += 1
            time.sleep(think * pauses.uniform(0.5, 1.5))
    except (CallbackError, requests.RequestException, KeyError) as exc:
        errors.append(f"session {seed}: {type(exc).__name__}: {exc}")
    return {"latencies": session.latencies, "server_times": session.server_times, "errors": errors,
            "actions": actions}


def run_load(base_url: str, *, sessions: int, duration: float, pages=("/cortical-maps",),
             min_actions: int = 4, think: float = 0.0) -> dict:
    """``sessions`` concurrent :func:`browse` sessions for about ``duration`` seconds (see :func:`browse`).

    Returns ``{"latencies": {kind: ndarray of seconds}, "server_times": {kind: ndarray of seconds},
    "errors": [str], "actions": int, "wall": s}``.
    """
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        results = list(pool.map(lambda seed: browse(base_url, seed, start + duration, pages, min_actions, think),
                                range(sessions)))
    by_kind = {"latencies": {}, "server_times": {}}
    for result in results:
        for name, kinds in by_kind.items():
            for kind, seconds in result[name]:
                kinds.setdefault(kind, []).append(seconds)
    return {**{name: {kind: np.asarray(v) for kind, v in kinds.items()} for name, kinds in by_kind.items()},
            "errors": [e for r in results for e in r["errors"]], "actions": sum(r["actions"] for r in results),
            "wall": time.monotonic() - start}


#: Actions of one session before a started server is measured (its first draws load the meshes and maps).
WARM_UP_ACTIONS = 12

#: The servers compared when no ``--url`` is given: README's production and development commands.
SERVERS = {"production (python app.py: waitress)": [],
           "development (python app.py --debug: Flask)": ["--debug"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_app(options: list[str], log):
    """``python app.py --port P OPTIONS`` in a process (and process group) of its own, output to the file
    ``log``; yields its base URL once it answers, and ends the group."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), *options], cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{url}/_dash-layout", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"python app.py {' '.join(options)} did not start:\n"
                                   f"{Path(log.name).read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _percentiles(seconds: np.ndarray) -> str:
    p50, p95 = np.percentile(seconds, [50, 95])
    return f"p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {seconds.max() * 1000:7.1f} ms"


def report(result: dict) -> str:
    """Text summary: actions, errors, and per kind of request the latency and server-time percentiles."""
    lines = [f"{result['actions']} actions in {result['wall']:.1f} s, {len(result['errors'])} errors"]
    for kind, seconds in sorted(result["latencies"].items()):
        lines.append(f"  {kind:<11} n={len(seconds):5d}  latency {_percentiles(seconds)}")
        lines.append(f"  {'':<11} {'':7}  server  {_percentiles(result['server_times'][kind])}")
    lines += [f"  error: {e}" for e in result["errors"][:10]]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of browsing per session")
    parser.add_argument("--url", help="a running app on loopback (default: start the production and the "
                                          "development server, one after the other)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a session pauses between actions (default 0: back to back)")
    parser.add_argument("--pages", nargs="*", default=[],
                        help="pages whose image uploads are exercised too (e.g. /virtual-fmri)")
    args = parser.parse_args(argv)
    if args.url and not re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\])[:/]", args.url):
        parser.error("--url must be a loopback address")
    print(f"{args.sessions} sessions, {args.duration:g} s each, {args.think:g} s between actions; load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    load = dict(sessions=args.sessions, duration=args.duration, pages=args.pages, think=args.think)
    if args.url:
        results = {args.url: run_load(args.url, **load)}
    else:
        results = {}
        with tempfile.TemporaryDirectory(prefix="vfs-load-") as folder:
            for name, options in SERVERS.items():
                with open(Path(folder) / "server.log", "wb") as log, serve_app(options, log) as url:
                    run_load(url, sessions=1, duration=0, pages=args.pages, min_actions=WARM_UP_ACTIONS)
                    results[name] = run_load(url, **load)
    for name, result in results.items():
        print(f"{name}\n{report(result)}")
    if len(results) == 2:
        production, development = (np.percentile(r["server_times"]["switch map"], 95) for r in results.values())
        print(f"switch map, p95 server time: production {production * 1000:.0f} ms, development "
              f"{development * 1000:.0f} ms ({development / production:.2f}× the production server's; goal: "
              "production < 500 ms)")
    sys.exit(1 if any(result["errors"] for result in results.values()) else 0)


if __name__ == "__main__":
    main()
