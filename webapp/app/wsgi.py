"""The WSGI entry point for gunicorn: `gunicorn webapp.app.wsgi:server`.

Configured only through environment variables (set by `webapp.app.gunicorn_runner`, or by hand):
K8S_NETVIZ_PATHS, K8S_NETVIZ_CACHE, K8S_NETVIZ_MAX_UPLOAD_MB, K8S_NETVIZ_WORKER_HEADER.
"""

from __future__ import annotations

import os

from webapp.app import create_app
from webapp.app.gunicorn_runner import ENV_CACHE, ENV_MAX_UPLOAD, ENV_PATHS, ENV_WORKER_HEADER


def _paths() -> list[str]:
    return [p for p in os.environ.get(ENV_PATHS, "").split(os.pathsep) if p]


def _options() -> dict[str, float]:
    text = os.environ.get(ENV_MAX_UPLOAD)
    return {"max_upload_mb": float(text)} if text else {}


app = create_app(paths=_paths(), cache=os.environ.get(ENV_CACHE) or None, **_options())
server = app.server  # create_app has warmed up the response encoder (factory.warm_up_encoder)

if os.environ.get(ENV_WORKER_HEADER) == "1":
    _pid = str(os.getpid())

    @server.after_request
    def _served_by(response):
        response.headers["X-Served-By"] = _pid
        return response
