"""Where the shipped assets/ and samples/ folders are, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _shipped(folder: str) -> Path:
    inside = _PACKAGE / folder          # installed wheel: copied in by setup.py
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / folder     # checkout / editable install: top-level folder


ASSETS_DIR = _shipped("assets")
SAMPLES_DIR = _shipped("samples")
