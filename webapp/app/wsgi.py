"""The WSGI entry point for gunicorn: `gunicorn webapp.app.wsgi:server`.

Configured only through environment variables (set by `webapp.app.gunicorn_runner`, or by hand):
K8S_NETVIZ_PATHS, K8S_NETVIZ_CACHE, K8S_NETVIZ_MAX_UPLOAD_MB, K8S_NETVIZ_MAX_BYTES, K8S_NETVIZ_WORKER_HEADER.
"""

from __future__ import annotations

import os

from webapp.app import create_app
from webapp.app.gunicorn_runner import ENV_CACHE, ENV_MAX_BYTES, ENV_MAX_UPLOAD, ENV_PATHS, ENV_WORKER_HEADER


def _paths() -> list[str]:
    return [p for p in os.environ.get(ENV_PATHS, "").split(os.pathsep) if p]


def _options() -> dict[str, float | int]:
    options: dict[str, float | int] = {}
    if text := os.environ.get(ENV_MAX_UPLOAD):
        options["max_upload_mb"] = float(text)
    if text := os.environ.get(ENV_MAX_BYTES):
        options["max_bytes"] = int(text)
    return options


app = create_app(paths=_paths(), cache=os.environ.get(ENV_CACHE) or None, **_options())
server = app.server  # create_app has warmed up the response encoder (factory.warm_up_encoder)


def _served_by(wsgi_app, pid: str):
    """WSGI middleware adding `X-Served-By: <pid>` to every response (create_app has already served requests
    of its own to warm up, so Flask's after_request can no longer be registered)."""

    def middleware(environ, start_response):
        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Served-By", pid)], exc_info)

        return wsgi_app(environ, start)

    return middleware


if os.environ.get(ENV_WORKER_HEADER) == "1":
    server.wsgi_app = _served_by(server.wsgi_app, str(os.getpid()))
