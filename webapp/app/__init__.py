"""The Dash app: `create_app(paths=None, cache=...)` builds it (a module-level factory gunicorn can call).

`create_app` is imported on first use, so that the command line (which imports `webapp.app.commands`)
does not pay for importing dash."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from webapp.app.factory import create_app

        return create_app
    raise AttributeError(name)
