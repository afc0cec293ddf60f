"""Build hook: ship the top-level assets/ and samples/ folders inside the wheel as webapp/assets and webapp/samples."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TOP = Path(__file__).resolve().parent
SHIPPED_FOLDERS = ("assets", "samples")


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        for folder in SHIPPED_FOLDERS:
            source = TOP / folder
            if source.is_dir():
                target = Path(self.build_lib) / "webapp" / folder
                shutil.copytree(source, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithAssets})
