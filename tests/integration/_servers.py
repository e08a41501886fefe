"""Processes for the integration tests: a Redis server, the app's web server, a Celery worker.

Everything binds 127.0.0.1 on a free port; every process is started in its own session so that
teardown ends it and its children by its own id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """End ``process`` and its children (SIGTERM, then SIGKILL after 10 s)."""
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=10)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=10)


@contextmanager
def running(command: list[str], *, env: dict, log: Path, ready, timeout: float = 180.0):
    """Start ``command`` (stdout and stderr to ``log``), wait until ``ready()`` is true, stop it on exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        end = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > end:
                raise RuntimeError(f"{command[0]} not ready after {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield process
    finally:
        _stop(process)


def redis_server(folder: Path, port: int):
    """A throw-away Redis on 127.0.0.1:``port``: no persistence, files in ``folder``."""
    import redis

    def ready():
        try:
            return redis.Redis(host="127.0.0.1", port=port).ping()
        except redis.ConnectionError:
            return False

    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(folder), "--protected-mode", "yes"]
    return running(command, env=dict(os.environ), log=folder / "redis.log", ready=ready, timeout=30)


def _answers(port: int):
    def ready():
        try:
            return requests.get(f"http://127.0.0.1:{port}/_dash-layout", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    return ready


def app_server(env: dict, port: int, log: Path, *options: str):
    """``python app.py --port PORT [OPTIONS]`` (binds 127.0.0.1) with ``env``."""
    return running([sys.executable, "app.py", "--port", str(port), *options], env=env, log=log, ready=_answers(port))


def wsgi_server(env: dict, port: int, log: Path):
    """``python -m waitress --listen=127.0.0.1:PORT app:server``: the app's WSGI entry in a production server
    that is not ``python app.py``."""
    command = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", "--threads=16", "app:server"]
    return running(command, env=env, log=log, ready=_answers(port))


def celery_worker(env: dict, log: Path, name: str | None = None):
    """One Celery worker (one prefork child) for ``app:celery_app``, with node name ``name`` (``-n``) if given."""
    def ready():
        return b"ready." in log.read_bytes()

    command = [sys.executable, "-m", "celery", "-A", "app:celery_app", "worker", "--concurrency", "1",
               "--pool", "prefork", "--without-gossip", "--without-mingle", "--without-heartbeat",
               "--loglevel", "INFO", *(["-n", name] if name else [])]
    return running(command, env=env, log=log, ready=ready)


@contextmanager
def in_process_app():
    """A fresh app (its pages registered again) served by a thread of this process on a free loopback port; yields
    its URL. Its services read this process's environment and can be patched by the tests."""
    import threading

    import dash
    from dash.testing.application_runners import import_app
    from werkzeug.serving import make_server

    dash.page_registry.clear()
    server = make_server("127.0.0.1", 0, import_app("app").server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
