"""`k8s-netviz serve [PATH...]`: the web app (one process: Flask's server; several: gunicorn)."""

from __future__ import annotations

import argparse
import sys

from webapp.app.limits import DEFAULT_MAX_UPLOAD_MB


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the web app",
                                   description="Run the web visualizer (default: the seed article's sample).")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="cluster YAML / manifests to open instead of the sample")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes; more than 1 runs gunicorn")
    parser.add_argument("--cache", default=None, metavar="DIR|redis://…",
                        help="cluster cache: a folder (diskcache, default ~/.cache/k8s-netviz) or a Redis URL")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest upload accepted, in MB (default {DEFAULT_MAX_UPLOAD_MB})")
    from webapp.loaders.commands import add_max_bytes

    add_max_bytes(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from webapp.problems import LoadError

    if args.workers > 1:
        from webapp.app import gunicorn_runner

        return int(gunicorn_runner.run(args.paths, args.host, args.port, args.workers, args.cache,
                                       max_upload_mb=args.max_upload_mb, max_bytes=args.max_bytes) or 0)
    from webapp.app.factory import BannerlessRequestHandler, create_app

    try:
        app = create_app(args.paths or None, args.cache, max_upload_mb=args.max_upload_mb, max_bytes=args.max_bytes)
    except LoadError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"k8s-netviz: http://{args.host}:{args.port}/", file=sys.stderr)
    app.run(host=args.host, port=args.port, debug=False, dev_tools_ui=False, dev_tools_props_check=False,
            dev_tools_disable_version_check=True, request_handler=BannerlessRequestHandler)
    return 0
