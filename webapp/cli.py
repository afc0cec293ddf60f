"""The `k8s-netviz` command line. Each subcommand lives with the part of the product it drives and
registers itself here through a `register(subparsers)` function."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

EXIT_INTERNAL = 70
"""Exit code of an internal error (sysexits' EX_SOFTWARE); 1 means the input has errors, 2 a usage error."""
INTERNAL_ERROR = ("k8s-netviz: internal error: this is a bug in k8s-netviz, not a problem of the input; "
                  "please report it with the command and the input that caused it")

# Modules that contribute subcommands, in the order they appear in --help.
COMMAND_MODULES = (
    "webapp.loaders.commands",   # validate, show
    "webapp.engine.commands",    # trace, rules
    "webapp.engine.policy_command",  # policy
    "webapp.lessons.commands",   # lesson
    "webapp.export.commands",    # export image | animation | handout
    "webapp.app.commands",       # serve
    "webapp.lab.commands",       # lab up | verify | down
)


def build_parser(language: str = "en") -> argparse.ArgumentParser:
    """The parser, with `--lang` on every command and its help in `language`."""
    from webapp.cli_text import localize_parser

    parser = argparse.ArgumentParser(
        prog="k8s-netviz",
        description="See how packets travel through a Kubernetes cluster.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    localize_parser(parser, language)
    return parser


def main(argv: list[str] | None = None) -> int:
    from webapp.cli_text import requested_language
    from webapp.narration import narration_language

    parser = build_parser(requested_language(sys.argv[1:] if argv is None else argv, os.environ))
    args = parser.parse_args(argv)
    try:
        with narration_language(args.lang):
            return int(args.run(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - any bug: a clear message and its own exit code, no Python internals
        print(INTERNAL_ERROR, file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
