"""Run the web app under gunicorn with several worker processes sharing one cluster cache.

The master process fixes everything the workers must agree on — above all the cache location — and hands
it to them through environment variables, which `webapp.app.wsgi` reads when a worker imports it. Each
worker then opens its own connection to that one cache (diskcache is safe across processes; Redis when the
workers run on several machines), so a cluster uploaded through one worker is found by every other.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

ENV_PATHS = "K8S_NETVIZ_PATHS"
"""Files or folders to load as the initial cluster, joined with os.pathsep."""
ENV_CACHE = "K8S_NETVIZ_CACHE"
"""The shared cache: a directory (diskcache) or a redis:// / rediss:// / unix:// URL."""
ENV_MAX_UPLOAD = "K8S_NETVIZ_MAX_UPLOAD_MB"
"""Upload limit in MB (10^6 bytes) for the app (unset: the app's default, 50 MB)."""
ENV_MAX_BYTES = "K8S_NETVIZ_MAX_BYTES"
"""Size limit in bytes of one file of K8S_NETVIZ_PATHS (unset: the loaders' default, MAX_BYTES)."""
ENV_WORKER_HEADER = "K8S_NETVIZ_WORKER_HEADER"
"""When "1", every response carries `X-Served-By: <worker pid>` (used by the load test)."""

WSGI_TARGET = "webapp.app.wsgi:server"
DEFAULT_THREADS = 4
DEFAULT_TIMEOUT_S = 120
"""A 1,000-node upload parses in seconds; gunicorn's default 30 s would be close on a loaded machine."""


def resolve_cache(cache: str | None) -> str:
    """The cache location every worker will use, fixed here in the master before the workers fork.

    A URL (`redis://…`) is kept as given; a folder becomes absolute (the workers must not depend on their
    working directory); None is the app's default folder (`webapp.app.cache.default_cache_dir`).
    """
    if cache is not None and "://" in cache:
        return cache
    from webapp.app.cache import default_cache_dir

    directory = Path(cache).expanduser().resolve() if cache is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory)


def worker_environment(
    paths: Sequence[str], cache: str, max_upload_mb: float | None = None, worker_header: bool = False,
    max_bytes: int | None = None,
) -> dict[str, str]:
    """The environment variables `webapp.app.wsgi` reads in each worker."""
    env = {ENV_PATHS: os.pathsep.join(str(Path(p).resolve()) for p in paths), ENV_CACHE: cache}
    if max_upload_mb is not None:
        env[ENV_MAX_UPLOAD] = str(max_upload_mb)
    if max_bytes is not None:
        env[ENV_MAX_BYTES] = str(max_bytes)
    if worker_header:
        env[ENV_WORKER_HEADER] = "1"
    return env


def gunicorn_options(host: str, port: int, workers: int, threads: int = DEFAULT_THREADS) -> dict[str, object]:
    """gunicorn settings: threaded workers, no preload (each worker imports the app and opens the cache)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": DEFAULT_TIMEOUT_S,
        "graceful_timeout": 10,
        "preload_app": False,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "k8s-netviz",
    }


def run(
    paths: Sequence[str],
    host: str = "127.0.0.1",
    port: int = 8050,
    workers: int = 2,
    cache: str | None = None,
    *,
    threads: int = DEFAULT_THREADS,
    max_upload_mb: float | None = None,
    worker_header: bool = False,
    max_bytes: int | None = None,
) -> int:
    """Serve the app with `workers` gunicorn processes until interrupted; returns the exit status."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(host, port, workers, threads)
    location = resolve_cache(cache)
    os.environ.update(worker_environment(paths, location, max_upload_mb, worker_header, max_bytes))

    class NetvizApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from webapp.app.wsgi import server

            return server

    print(f"k8s-netviz: http://{host}:{port}/ ({workers} workers, cache {location})", file=sys.stderr)
    try:
        NetvizApplication().run()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m webapp.app.gunicorn_runner [PATH ...] --workers N` (what `k8s-netviz serve --workers N` runs)."""
    parser = argparse.ArgumentParser(prog="python -m webapp.app.gunicorn_runner", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="cluster files or folders to show first")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--cache", help="cache directory or redis:// URL shared by the workers")
    parser.add_argument("--max-upload-mb", type=float, help="upload limit in MB (default 50)")
    parser.add_argument("--worker-header", action="store_true", help="add X-Served-By: <pid> to responses")
    args = parser.parse_args(argv)
    return run(
        args.paths, args.host, args.port, args.workers, args.cache,
        threads=args.threads, max_upload_mb=args.max_upload_mb, worker_header=args.worker_header,
    )


if __name__ == "__main__":
    sys.exit(main())
