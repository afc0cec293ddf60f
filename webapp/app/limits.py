"""Limits of the web app that the command line needs too (kept free of dash so the CLI starts fast)."""

DEFAULT_MAX_UPLOAD_MB = 50
"""Largest upload accepted by default: a 1,000-node kubectl dump is ~21-35 MB."""


def megabytes(size: float) -> str:
    """A size in MB for messages: at most two decimals, no trailing zeros (netviz.js `formatMb` writes the same)."""
    mb = size / 1e6
    return f"{mb:.3g}" if 0 < mb < 0.01 else f"{mb:.2f}".rstrip("0").rstrip(".")
