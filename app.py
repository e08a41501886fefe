"""Virtual fMRI Studio: the Dash multi-page app.

Run ``python app.py`` (binds http://127.0.0.1:8050). ``--host 0.0.0.0`` is refused unless
``--allow-remote`` is given as well. Importing this module is cheap and never imports torch.
"""

from __future__ import annotations

import argparse
import sys

import dash
import dash_bootstrap_components as dbc
from dash import CeleryManager, dcc, html

from dashboard.components import navbar
from dashboard.ids import Shell
from dashboard.jobs import make_background_manager
from dashboard.messages import error_alert

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

#: Largest request body the server reads (413 above it): the largest upload the pages accept (a GIFTI pair,
#: two files of ``services.MAX_MAP_UPLOAD_BYTES``), base64-encoded (+ 1/3) inside the callback's JSON, with
#: room to spare.
MAX_REQUEST_BYTES = 180 * 2**20


def report_callback_error(error: Exception) -> None:
    """Global callback error handler: a short message in the shell, the page kept alive.

    ``dashboard.messages.user_message`` decides what the user reads (a ``UserError``'s own sentence, else a
    generic one) and logs the rest with its traceback. Outputs are left as they were (returning None means
    no update).
    """
    dash.set_props(Shell.ERROR, {"children": error_alert(error)})


def create_app(background_manager=None) -> dash.Dash:
    """Build the app: pages from ``dashboard/pages``, one background manager, the shell layout.

    Bootstrap's CSS is served from ``assets/vendor`` so that the app works offline. Request bodies
    over :data:`MAX_REQUEST_BYTES` are refused before they are read.
    """
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder="dashboard/pages",
        background_callback_manager=background_manager or make_background_manager(),
        suppress_callback_exceptions=False,
        title="Virtual fMRI Studio",
        on_error=report_callback_error,
    )
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.layout = html.Div([
        navbar(dash.page_registry.values()),
        dcc.Store(id=Shell.STORE_JOB_STATUS, storage_type="memory"),
        dbc.Container([html.Div(id=Shell.ERROR), dash.page_container], fluid=True),
    ])
    return app


background_manager = make_background_manager()
app = create_app(background_manager)
server = app.server
#: The Celery app of the background jobs when ``REDIS_URL`` is set (``celery -A app:celery_app worker``).
celery_app = background_manager.handle if isinstance(background_manager, CeleryManager) else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python app.py``."""
    parser = argparse.ArgumentParser(description="Serve Virtual fMRI Studio.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="required to bind an address other than loopback")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, dev tools)")
    args = parser.parse_args(argv)
    if args.host not in LOCAL_HOSTS and not args.allow_remote:
        parser.error(f"refusing to bind {args.host!r} without --allow-remote: the app would be "
                     "reachable from other machines")
    return args


def main(argv: list[str] | None = None) -> None:
    """Start the server."""
    args = parse_args(argv)
    app.run(host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main(sys.argv[1:])
