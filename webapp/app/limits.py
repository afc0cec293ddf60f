"""Limits of the web app that the command line needs too (kept free of dash so the CLI starts fast)."""

DEFAULT_MAX_UPLOAD_MB = 50
"""Largest upload accepted by default: a 1,000-node kubectl dump is ~21-35 MB."""
