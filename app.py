"""Virtual fMRI Studio: the Dash multi-page app.

Run ``python app.py`` (serves http://127.0.0.1:8050 with waitress, a production WSGI server);
``python app.py --debug`` serves with Flask's development server (reloader, Dash dev tools). ``--host
0.0.0.0`` is refused unless ``--allow-remote`` is given as well. WSGI servers can also load ``app:server``.
Importing this module is cheap and never imports torch.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import logging
import sys

import dash
import dash_bootstrap_components as dbc
from dash import CeleryManager, html

from dashboard.components import navbar
from dashboard.ids import Shell
from dashboard.jobs import make_background_manager
from dashboard.messages import error_alert

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

#: Request threads of the production server: enough that requests waiting on a prediction or on a job's
#: state do not hold up a classroom's map switches (the work itself shares one interpreter).
SERVER_THREADS = 16

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
    parser.add_argument("--debug", action="store_true",
                        help="Flask's development server in Dash debug mode (reloader, dev tools)")
    parser.add_argument("--threads", type=int, default=SERVER_THREADS,
                        help=f"request threads of the production server (default {SERVER_THREADS})")
    args = parser.parse_args(argv)
    if args.host not in LOCAL_HOSTS and not args.allow_remote:
        parser.error(f"refusing to bind {args.host!r} without --allow-remote: the app would be "
                     "reachable from other machines")
    return args


def main(argv: list[str] | None = None) -> None:
    """Start the server: waitress, or Flask's development server with ``--debug``.

    waitress serves every request from threads of this one process. That keeps what the app holds per
    process whole: Dash's diskcache manager starts each background job as a child process and cancels it
    by its id, and the warm prediction worker (``services.start_predictor``) is one child process that all
    requests share. A pre-forking server (gunicorn's workers) would start one prediction worker, ResNet-50
    and all, per worker process; waitress is also pure Python and runs wherever the app does.
    """
    args = parse_args(argv)
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True)
        return
    from waitress import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve(server, host=args.host, port=args.port, threads=args.threads, ident="Virtual fMRI Studio")


if __name__ == "__main__":
    # Processes started with "spawn" (the warm prediction worker, background jobs) re-run the main script
    # before their task, unless the main module is named "__main__". Their entry points are importable
    # functions (core.virtual_fmri.start_worker, the jobs' callbacks), so they need nothing from this
    # script, and re-running it would build a second app, which Dash refuses inside the prediction worker
    # ("module '__main__' has no attribute '__file__'"; issue 16).
    sys.modules[__name__].__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    main(sys.argv[1:])
