"""The build context tar a client sends: .dockerignore applied, owners 0:0, links kept."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from dockyard.build.context import write_context_tar
from dockyard.errors import InvalidParameter


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / ".dockerignore").write_text("*.log\nDockerfile\nsecret/\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "src" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "src" / "run.sh", 0o755)
    (root / "debug.log").write_text("noise")
    (root / "secret").mkdir()
    (root / "secret" / "key").write_text("k")
    os.symlink("src/app.py", root / "link")
    os.link(root / "src" / "app.py", root / "hard.py")
    return root


def _entries(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_context_tar(context) -> None:
    out = io.BytesIO()
    result = write_context_tar(str(context), out)
    entries = _entries(out.getvalue())
    assert sorted(entries) == [
        ".dockerignore",
        "Dockerfile",
        "hard.py",
        "link",
        "src",
        "src/app.py",
        "src/run.sh",
    ]
    assert result.dockerfile == "Dockerfile" and result.entries == 7
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" for m in entries.values())
    assert entries["link"].issym() and entries["link"].linkname == "src/app.py"
    assert entries["src"].isdir()
    assert entries["src/run.sh"].mode & 0o777 == 0o755
    assert entries["src/app.py"].islnk() and entries["src/app.py"].linkname == "hard.py"


def test_dockerfile_outside_context(context, tmp_path) -> None:
    outside = tmp_path / "Dockerfile.other"
    outside.write_text("FROM busybox\n")
    out = io.BytesIO()
    result = write_context_tar(str(context), out, dockerfile=str(outside))
    assert result.dockerfile.startswith(".dockerfile.")
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        extracted = tar.extractfile(result.dockerfile)
        assert extracted is not None and extracted.read() == b"FROM busybox\n"
        assert "Dockerfile" not in tar.getnames()  # excluded by .dockerignore, not needed


def test_missing_dockerfile(tmp_path) -> None:
    with pytest.raises(InvalidParameter, match="does not exist"):
        write_context_tar(str(tmp_path), io.BytesIO())
    with pytest.raises(InvalidParameter, match="not found"):
        write_context_tar(str(tmp_path / "nope"), io.BytesIO())
