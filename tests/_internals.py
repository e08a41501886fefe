"""What a user must never read on a page: None, NaN, exception class names, server paths, Python reprs.

:func:`internals_in` scans a text; :func:`shown_text` collects the text a page shows from component props and
figures as Dash sends them (layouts, callback responses, ``DashSession.props``); :func:`render_page` opens a page
in a ``bench.load.DashSession`` and runs its initial callbacks as the browser does.
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
from pathlib import Path

#: Kind of internal → pattern.
PATTERNS = {
    "None": re.compile(r"\bNone\b"),
    "NaN": re.compile(r"\b(?:NaN|nan|inf)\b(?!\.\w)"),  # not a file name such as nan.npz
    "exception class name": re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b|Traceback"),
    "Python repr": re.compile(r"\['|\[\"|\{'|<object|<class|<function|dtype=|array\(|np\.[a-z]"),
    "absolute path": re.compile(r"(?:^|[\s'\"(=:,])(?:/[^\s/'\",:;)]+){2,}"),
}

#: Props that hold no text a user reads (ids, styles, links, data, colours).
_NOT_TEXT = {"id", "className", "class_name", "style", "href", "src", "source", "type", "namespace", "accept",
             "value", "data", "colorscale", "bdata", "dtype", "uirevision", "color", "config", "target", "rel",
             "html_for", "loading_state", "location", "operation", "intensity", "i", "j", "k", "x", "y", "z",
             "customdata_numbers", "marker", "line", "lighting", "lightposition", "camera", "scene", "scene2",
             "font", "fillcolor", "xaxis", "yaxis", "domain", "margin", "template", "sizes"}
#: Figure parts whose strings a user reads (titles, labels, hover templates, hover values).
_FIGURE_TEXT = {"text", "title", "name", "hovertemplate", "customdata", "meta", "ticktext", "annotations", "legend"}


def server_folders() -> list[str]:
    """Folders of this machine that must not appear on a page: temp, home, the repository, the caches."""
    from core.weights import cache_dir

    folders = {tempfile.gettempdir(), str(Path.home()), str(Path(__file__).resolve().parents[1]), str(cache_dir())}
    return sorted(folder for folder in folders if len(folder) > 1)


def internals_in(text: str) -> list[str]:
    """``"kind: …context…"`` for every internal found in ``text`` (empty when the text is clean)."""
    found = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            found.append(f"{kind}: …{text[max(0, match.start() - 40):match.end() + 40]}…")
    for folder in server_folders():
        if folder in text:
            found.append(f"server folder {folder}: …{text[max(0, text.index(folder) - 40):][:120]}…")
    return found


def _figure_strings(tree, readable: bool):
    if isinstance(tree, str):
        if readable:
            yield tree
    elif isinstance(tree, list | tuple):
        for item in tree:
            yield from _figure_strings(item, readable)
    elif isinstance(tree, dict):
        for key, value in tree.items():
            if key in ("colorscale", "bdata", "dtype", "uirevision", "font"):
                continue
            yield from _figure_strings(value, readable or key in _FIGURE_TEXT)


def shown_text(tree) -> list[str]:
    """Every string a page shows in a tree of components (Dash JSON) or figures: children, labels, placeholders,
    option labels, figure titles, axis titles, annotations, trace names, hover templates and hover values."""
    out = []
    if isinstance(tree, str):
        out.append(tree)
    elif isinstance(tree, list | tuple):
        for item in tree:
            out += shown_text(item)
    elif isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            return shown_text(tree["props"])
        if "data" in tree and "layout" in tree or "operations" in tree:  # a figure or a Patch of one
            return list(_figure_strings(tree, readable=False))
        for key, value in tree.items():
            if key == "figure":
                out += list(_figure_strings(value, readable=False))
            elif key == "options" and isinstance(value, list):
                out += [o["label"] for o in value if isinstance(o, dict) and isinstance(o.get("label"), str)]
            elif key not in _NOT_TEXT:
                out += shown_text(value)
    return out


def render_page(session, path: str, *, rounds: int = 2) -> list[str]:
    """Open ``path`` in a ``bench.load.DashSession`` and run, as the browser does on load, every callback of the
    page that is neither background nor ``prevent_initial_call`` (``rounds`` times, so that outputs feed later
    callbacks). Returns the text of the error alerts the page showed."""
    from bench.load import CallbackError

    session.open(path)
    alerts = []
    for _ in range(rounds):
        for entry in session.callbacks:
            dependencies = entry["inputs"] + entry["state"]
            if entry["prevent_initial_call"] or entry.get("background") or entry["output"].startswith("_pages"):
                continue
            if all(d["id"] in session.props for d in dependencies):
                try:
                    session.run_callback(entry, {})
                except CallbackError as exc:
                    alerts += alert_texts(exc)
    return alerts


def alert_texts(error) -> list[str]:
    """The alert texts of a ``bench.load.CallbackError`` ("<output>: error shown on the page: [<JSON of each>]")."""
    shown = ast.literal_eval(str(error).split("error shown on the page: ", 1)[1])
    return [str(json.loads(text)) for text in shown]


def page_internals(session) -> list[str]:
    """Internals in the text of every component of the page a ``DashSession`` holds."""
    return [f"{component}: {found}" for component, props in session.props.items()
            for text in shown_text(props) for found in internals_in(text)]
