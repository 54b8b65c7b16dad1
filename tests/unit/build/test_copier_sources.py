"""build.copier's source lookup: refusals are CopyErrors in Docker's words, no host paths."""

from __future__ import annotations

import os

import pytest

from dockyard.build import copier


def test_symlink_loop_in_sources_is_a_copy_error(tmp_path):
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(copier.CopyError) as e:
        copier.find_sources(str(tmp_path), ["loop/x"], from_context=True)
    assert e.value.message == "loop/x: too many levels of symbolic links"
    assert str(tmp_path) not in e.value.message


def test_wildcard_sources(tmp_path):
    for name in ("a.txt", "b.txt", "c.md"):
        (tmp_path / name).write_text(name)
    found = copier.find_sources(str(tmp_path), ["*.txt"], from_context=True)
    assert [s.name for s in found] == ["a.txt", "b.txt"]
    with pytest.raises(copier.CopyError, match="syntax error in pattern"):
        copier.find_sources(str(tmp_path), ["[-]"], from_context=True)
