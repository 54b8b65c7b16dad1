"""Helpers for compose loader tests: a project directory with files written into it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dockyard.compose import Project, load_project


class ProjectDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    def load(self, *files: str, environ: dict | None = None, **kwargs) -> Project:
        names = list(files) or ["compose.yaml"]
        return load_project(
            [str(self.root / name) for name in names],
            environ={"HOME": "/home/user"} if environ is None else environ,
            **kwargs,
        )


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    root = tmp_path / "myapp"
    root.mkdir()
    return ProjectDir(root)
