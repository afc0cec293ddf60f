"""The Dash app: `create_app(paths=None, cache=...)` builds it (a module-level factory gunicorn can call)."""

from webapp.app.factory import create_app

__all__ = ["create_app"]
